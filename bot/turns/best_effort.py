"""Slack calls that decorate a turn rather than carry it: reactions, progress edits, the note in an
interrupted placeholder, thread history, the privacy lookup.

None of them may hold a turn. A refusal (`too_many_emoji`, `thread_locked`, a deleted message, an
unknown error) drops the call at once; a failure that may pass (Slack's `internal_error`, the network, a
token being fixed, Slack's 429) is retried with the step a few times, then dropped. A token of our own
budget reserved for an essential call is always waited for: it is the call's place in line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from bot.slack.errors import SlackAuthError, SlackError, SlackRateLimited, SlackTransient
from bot.slack.render import fallback_text
from bot.turns.context import Runtime, TurnView

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Step runs in a row that may fail on a decoration before it is dropped (the step's `failures`).
BEST_EFFORT_TRIES = 3


def best_effort(view: TurnView, what: str, call: Callable[[], T]) -> T | None:
    """`call()`, or None when Slack would not do it (logged)."""
    try:
        return call()
    except SlackRateLimited as exc:
        if exc.reserved or view.turn.failures + 1 < BEST_EFFORT_TRIES:
            raise  # Slack's pace: wait for it, a few times
        logger.info("turn %s: %s dropped (still rate limited)", view.turn.id, what)
    except (SlackTransient, SlackAuthError) as exc:
        may_pass = not (isinstance(exc, SlackTransient) and exc.unknown)
        if may_pass and view.turn.failures + 1 < BEST_EFFORT_TRIES:
            raise  # the step is tried again later, and this call with it
        logger.info("turn %s: %s dropped (%s)", view.turn.id, what, exc.error)
    except SlackError as exc:
        logger.info("turn %s: %s dropped: Slack refused it (%s)", view.turn.id, what, exc.error)
    return None


class Decorations:
    """The decorating calls of one step run, each best effort."""

    def __init__(self, rt: Runtime, view: TurnView) -> None:
        self.rt, self.view = rt, view

    def react(self, ts: str, name: str, *, essential: bool = False) -> None:
        """Add a reaction; `essential` ones (✅, ⚠️) wait for Slack's budget, the others may be dropped."""
        channel = self.view.channel
        best_effort(
            self.view,
            f":{name}:",
            partial(self.rt.slack.add_reaction, channel=channel, ts=ts, name=name, essential=essential),
        )

    def unreact(self, ts: str, name: str) -> None:
        channel = self.view.channel
        best_effort(
            self.view,
            f":{name}: removal",
            partial(self.rt.slack.remove_reaction, channel=channel, ts=ts, name=name),
        )

    def edit(self, what: str, ts: str, markdown: str, *, essential: bool = True) -> bool:
        """Edit one of the bot's messages; True when it was edited."""
        update = partial(
            self.rt.slack.update,
            channel=self.view.channel,
            ts=ts,
            text=fallback_text(markdown),
            markdown=markdown,
            essential=essential,
        )
        return bool(best_effort(self.view, what, update))
