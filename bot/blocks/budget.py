"""The Blocks key's request budget: one token bucket per key, in the database, shared by every replica.

Blocks allows `limit` requests per minute per key and counts them in a window we cannot see, so the bucket
is sized to stay within `limit × (1 − headroom)` in any 60 seconds (see `db/token_bucket.py`). Tokens are
taken inside the worker's claim transaction. Creates and follow-ups may take the last token; polls must
leave `poll_reserve` tokens behind, so a person's new request is never stuck behind a crowd of polls.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from bot.blocks.keys import key_hash
from bot.db.token_bucket import BucketSize, TokenBucket

# The bucket's capacity is the burst it can absorb, and it is paid for out of the window: a bucket that
# allows C + 60·r requests a minute sustains only 60·r once it runs dry. Busy keys live on the sustained
# rate (every token spent as it refills), so the burst is kept small: 3 of the 90 a minute, enough for a
# few people asking at once, and the rest of the allowance flows as refill (87 a minute).
BURST_SHARE = 0.03
# Tokens left above the poll reserve before an optional request may spend one.
SPARE_TOKENS = 1.0


@dataclass(frozen=True)
class BudgetPolicy:
    capacity: float
    refill_per_second: float
    poll_reserve: float

    @classmethod
    def for_limit(cls, per_minute: int, headroom: float, *, window: float = 60.0) -> BudgetPolicy:
        size = BucketSize.within(per_minute, headroom, burst=BURST_SHARE, window=window)
        # A poll must still fit in a full bucket: a small key (capacity 1) keeps no reserve, and creates go
        # first only by the order of claims.
        reserve = max(0.0, min(3.0, size.capacity / 3, size.capacity - 1.0))
        return cls(size.capacity, size.refill_per_second, poll_reserve=reserve)


class Budget:
    def __init__(self, *, api_key: str, policy: BudgetPolicy) -> None:
        self.policy = policy
        self.key_hash = key_hash(api_key)  # how the key is named in the database, logs and metrics
        self.bucket = TokenBucket(f"blocks:{api_key}", BucketSize(policy.capacity, policy.refill_per_second))

    def ensure(self, conn: Connection, now: float) -> None:
        self.bucket.ensure(conn, now)

    def take(self, conn: Connection, now: float, *, for_poll: bool) -> bool:
        """Spend one token if the bucket allows it; True when spent."""
        return self.bucket.take(conn, now, keep=self.policy.poll_reserve if for_poll else 0.0)

    def take_spare(self, conn: Connection, now: float) -> bool:
        """A token for a request nobody waits for (the session's pull requests), only when the budget
        holds more than polls keep back: the first request dropped when the key is short."""
        return self.bucket.take(conn, now, keep=self.policy.poll_reserve + SPARE_TOKENS)

    def wait(self, conn: Connection, now: float) -> float:
        """Seconds until a poll could take a token."""
        return self.bucket.wait(conn, now, keep=self.policy.poll_reserve)

    def rate_limited(self, conn: Connection, now: float, retry_after: float | None) -> None:
        """Blocks answered 429: pause every replica, then refill more slowly for a while."""
        self.bucket.rate_limited(conn, now, retry_after)
