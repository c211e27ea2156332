"""Slack's rate tiers, kept by every replica together: one database token bucket per method and
workspace (`chat.update`, `reactions.add`, `reactions.remove`: Tier 3, about 50 a minute) and one per
channel for `chat.postMessage` (about one a second).

Calls are essential (the placeholder, the answer, ✅) or not (progress edits, 👀, 📥, removing 👀). A
non-essential call must leave part of the bucket for the essential ones and is dropped when it cannot:
progress is dropped before any answer is delayed. An essential call with no token left is given the
next token in turn and raises `SlackRateLimited` with the wait, so the worker reschedules the step
instead of sleeping, and the step spends that token when it runs again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.db.token_bucket import BucketSize, TokenBucket

logger = logging.getLogger(__name__)

WORKSPACE_METHODS = ("chat.update", "reactions.add", "reactions.remove")
PER_CHANNEL_METHODS = ("chat.postMessage",)


@dataclass(frozen=True)
class SlackTiers:
    tier3_per_minute: float = 50.0
    posts_per_minute_per_channel: float = 60.0
    headroom: float = 0.1
    window: float = 60.0  # the minute the tiers are counted in (shorter only when time is compressed)
    # Share of a bucket that non-essential calls must leave for essential ones.
    essential_share: float = 0.4


def edits_bucket(tiers: SlackTiers) -> BucketSize:
    """`chat.update`, which carries every answer. A bucket's burst is paid for out of its minute (once dry
    it sustains only the rest), and a busy workspace lives on the sustained rate: an answer a second needs
    every edit the tier allows. So its burst is small: 3 of 45, sustaining 42 a minute."""
    return BucketSize.within(tiers.tier3_per_minute, tiers.headroom, burst=0.06, window=tiers.window)


def reactions_bucket(tiers: SlackTiers) -> BucketSize:
    """`reactions.add` / `reactions.remove`: a third of the minute may come at once, so that 👀 (dropped,
    never retried, when the bucket is low) still shows on replies that arrive together or right after
    an answer's ✅."""
    return BucketSize.within(tiers.tier3_per_minute, tiers.headroom, burst=0.3, window=tiers.window)


class SlackPacer:
    def __init__(
        self,
        engine: Engine,
        *,
        bot_token: str,
        tiers: SlackTiers,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tiers = tiers
        self.clock = clock
        # Buckets are per workspace; in single-workspace mode the bot token names the workspace.
        self.workspace = hashlib.sha256(bot_token.encode()).hexdigest()[:16]
        self._edits = edits_bucket(tiers)
        self._reactions = reactions_bucket(tiers)
        self._posts = BucketSize.within(
            tiers.posts_per_minute_per_channel, tiers.headroom, burst=0.1, window=tiers.window
        )

    def acquire(self, method: str, channel: str, *, essential: bool) -> float:
        """0 when the call may go now; otherwise the seconds to wait.

        A non-essential call that would eat into the share kept for essential ones gets a wait and must
        be dropped. An essential call is never refused: it is given the next token in turn (later
        callers queue behind it) and the seconds until that token is due; it must wait that long and
        then call without acquiring again (see `SlackGateway.holding`)."""
        bucket = self._bucket(method, channel)
        if bucket is None:
            return 0.0
        now = self.clock()
        with self.engine.begin() as conn:
            if essential:
                wait = bucket.reserve(conn, now)
                if wait is None:
                    bucket.ensure(conn, now)
                    wait = bucket.reserve(conn, now) or 0.0
                return wait
            # A bucket of one token (a low tier) keeps none back: optional calls then go only when nobody
            # holds a reservation, instead of never.
            keep = min(max(1.0, bucket.size.capacity * self.tiers.essential_share), bucket.size.capacity - 1)
            if bucket.take(conn, now, keep=keep):
                return 0.0
            bucket.ensure(conn, now)
            if bucket.take(conn, now, keep=keep):
                return 0.0
            return max(bucket.wait(conn, now, keep=keep), 0.05)

    def rate_limited(self, method: str, channel: str, retry_after: float) -> None:
        """Slack answered 429 anyway (another app shares the workspace's limit): pause the bucket."""
        bucket = self._bucket(method, channel)
        if bucket is not None:
            with self.engine.begin() as conn:
                bucket.rate_limited(conn, self.clock(), retry_after)

    def _bucket(self, method: str, channel: str) -> TokenBucket | None:
        if method in WORKSPACE_METHODS:
            size = self._edits if method == "chat.update" else self._reactions
            return TokenBucket(f"slack:{self.workspace}:{method}", size)
        if method in PER_CHANNEL_METHODS:
            return TokenBucket(f"slack:{self.workspace}:{method}:{channel}", self._posts)
        return None
