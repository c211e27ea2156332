"""Telling the people who run the bot that the Blocks key is saturated.

When turns arrive faster than the key can create and poll them, nothing is lost, but answers are shown
late: due polls queue for tokens. That is invisible in Slack except as slowness, so the worker checks the
queue about once a minute and logs a warning while it lasts (and `/healthz` reports the same figures).
"""

from __future__ import annotations

import logging

from bot.turns.lease import Backlog

logger = logging.getLogger(__name__)

# How often the worker looks, and how often the warning is repeated with fresh figures while it lasts.
CHECK_SECONDS = 60.0
REPEAT_SECONDS = 600.0


class BacklogWatch:
    """Decides when to log. `late_after`: a Blocks step this far past its due time means the budget,
    not the polling policy, sets the pace (the bot uses its longest poll interval)."""

    def __init__(self, *, late_after: float, requests_per_minute: float, repeat_seconds: float) -> None:
        self.late_after = late_after
        self.requests_per_minute = requests_per_minute
        self.repeat_seconds = repeat_seconds
        self._warned_at: float | None = None

    @property
    def saturated(self) -> bool:
        return self._warned_at is not None

    def observe(self, backlog: Backlog, now: float) -> None:
        if backlog.longest_wait > self.late_after:
            if self._warned_at is None or now - self._warned_at >= self.repeat_seconds:
                self._warned_at = now
                logger.warning(
                    "the Blocks key is saturated: %d requests are waiting for the budget, the longest for "
                    "%.0f s, so answers are shown late (none are lost). The bot uses %.0f requests a minute "
                    "(BLOCKS_RATE_LIMIT_PER_MINUTE less BLOCKS_RATE_HEADROOM), and each turn needs at "
                    "least two: a create and a poll",
                    backlog.waiting,
                    backlog.longest_wait,
                    self.requests_per_minute,
                )
        elif self._warned_at is not None:
            self._warned_at = None
            logger.info("the Blocks key has caught up: no request waits longer than %.0f s", self.late_after)
