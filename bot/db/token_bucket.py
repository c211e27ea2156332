"""A token bucket kept in the database, so every replica draws from the same one.

A bucket of capacity C refilled at r tokens a second lets through at most C + 60·r requests in any 60
seconds, whatever their timing: sizing C + 60·r within a limit keeps every window of every kind under it.
A token is taken with one conditional UPDATE, so two replicas can never spend the same token. Rows are
keyed by a hash of the bucket's name (names may carry an API key or a token; the hash never does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, case, literal, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import RateBudget
from bot.db.statements import insert_ignoring_conflict

# After a 429 (someone else shares the limit, or it changed) slow down for a while.
RATE_LIMITED_PAUSE_SECONDS = 15.0
RATE_LIMITED_FACTOR = 0.5
RATE_LIMITED_SLOW_SECONDS = 300.0


@dataclass(frozen=True)
class BucketSize:
    capacity: float
    refill_per_second: float

    @classmethod
    def within(cls, limit: float, headroom: float, *, burst: float = 0.1, window: float = 60.0) -> BucketSize:
        """The bucket whose capacity + window × refill stays within `limit × (1 − headroom)`: at most
        that many requests in any `window` seconds."""
        usable = limit * (1.0 - headroom)
        # A token is whole, so capacity ≥ 1; the rest of the window's allowance is a steady refill.
        capacity = max(1.0, min(round(usable * burst), usable / 2))
        return cls(capacity=capacity, refill_per_second=(usable - capacity) / window)


@dataclass(frozen=True)
class _State:
    start: float  # when the bucket refills from: now, or the end of a pause
    rate: float  # tokens a second from then
    level: float  # tokens at `start` (below zero when callers hold reserved tokens)

    def seconds_until(self, now: float, tokens: float) -> float:
        """Seconds from `now` until the bucket holds `tokens`."""
        return (self.start - now) + max(0.0, (tokens - self.level) / self.rate)


class TokenBucket:
    def __init__(self, name: str, size: BucketSize) -> None:
        self.key = hashlib.sha256(name.encode()).hexdigest()
        self.size = size

    def ensure(self, conn: Connection, now: float) -> None:
        """Create the bucket, full, unless it exists."""
        values = {
            "key_hash": self.key,
            "tokens": self.size.capacity,
            "refilled_at": now,
            "paused_until": 0.0,
            "rate_factor": 1.0,
            "slowed_until": 0.0,
        }
        insert_ignoring_conflict(conn, RateBudget, values)

    def take(self, conn: Connection, now: float, *, keep: float = 0.0) -> bool:
        """Spend one token if that leaves at least `keep` tokens behind; True when spent."""
        level = self._level(now)
        result = conn.execute(
            update(RateBudget)
            # (less a hair, so that waiting exactly `wait()` seconds is enough despite rounding)
            .where(
                RateBudget.key_hash == self.key, RateBudget.paused_until <= now, level >= 1.0 + keep - 1e-9
            )
            .values(tokens=level - 1.0, refilled_at=now)
        )
        return result.rowcount == 1

    def reserve(self, conn: Connection, now: float) -> float | None:
        """Take the next token even if it has not refilled yet: the bucket goes into debt, so whoever
        comes next queues behind. Returns the seconds until that token is due (0: now), or None if the
        bucket does not exist yet. The caller must not make its call before then, and must not take
        another token for it. Waiting callers thus get one slot each, in order, instead of all waking
        at the next refill and all but one finding the bucket empty again."""
        state = self._state(conn, now, lock=True)
        if state is None:
            return None
        conn.execute(
            update(RateBudget)
            .where(RateBudget.key_hash == self.key)
            .values(tokens=state.level - 1.0, refilled_at=state.start)
        )
        return state.seconds_until(now, 1.0)

    def wait(self, conn: Connection, now: float, *, keep: float = 0.0) -> float:
        """Seconds until `take(keep=keep)` could succeed (0 if the bucket does not exist yet)."""
        state = self._state(conn, now, lock=False)
        return 0.0 if state is None else state.seconds_until(now, 1.0 + keep)

    def tokens(self, conn: Connection, now: float) -> float | None:
        """Tokens a caller could take now (0 while paused; below 0 while reserved ones are owed), or None
        if the bucket does not exist yet."""
        state = self._state(conn, now, lock=False)
        if state is None:
            return None
        return state.level if state.start <= now else 0.0

    def _state(self, conn: Connection, now: float, *, lock: bool) -> _State | None:
        """The bucket as `take` sees it: when it next refills (after any pause), how fast, and its level
        then. `lock` holds the row until the transaction ends, for a read followed by a write."""
        query = select(
            RateBudget.tokens,
            RateBudget.refilled_at,
            RateBudget.paused_until,
            RateBudget.rate_factor,
            RateBudget.slowed_until,
        ).where(RateBudget.key_hash == self.key)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        rate = self.size.refill_per_second * (row.rate_factor if row.slowed_until > now else 1.0)
        start = max(now, float(row.paused_until))
        level = min(self.size.capacity, row.tokens + (start - row.refilled_at) * rate)
        return _State(start=start, rate=rate, level=float(level))

    def rate_limited(self, conn: Connection, now: float, retry_after: float | None) -> None:
        """The server answered 429: pause every replica, then refill more slowly for a while."""
        pause = retry_after if retry_after is not None else RATE_LIMITED_PAUSE_SECONDS
        conn.execute(
            update(RateBudget)
            .where(RateBudget.key_hash == self.key)
            .values(
                paused_until=now + pause,
                tokens=0.0,
                refilled_at=now + pause,
                rate_factor=RATE_LIMITED_FACTOR,
                slowed_until=now + pause + RATE_LIMITED_SLOW_SECONDS,
            )
        )

    def _level(self, now: float) -> ColumnElement[float]:
        """SQL for the bucket level at `now`: refilled since the last take, capped at capacity."""
        factor = case((RateBudget.slowed_until > now, RateBudget.rate_factor), else_=literal(1.0))
        elapsed = literal(now) - RateBudget.refilled_at
        refilled = RateBudget.tokens + elapsed * self.size.refill_per_second * factor
        return case((refilled > self.size.capacity, literal(self.size.capacity)), else_=refilled)
