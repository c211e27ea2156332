"""The Blocks key's request budget: one token bucket per key, in the database, shared by every replica.

Blocks allows `limit` requests per minute per key and counts them in a window we cannot see. A bucket of
capacity C refilled at r tokens/s lets through at most C + 60·r requests in any 60 seconds, so choosing
C + 60·r ≤ limit·(1 − headroom) keeps every window of every kind under the limit.

Tokens are taken inside the worker's claim transaction, atomically (one conditional UPDATE), so two
replicas can never spend the same token. Creates and follow-ups may take the last token; polls must leave
`reserve` tokens behind, so a user's new request is never stuck behind a crowd of polls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, case, literal, update
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import RateBudget
from bot.db.statements import insert_ignoring_conflict

# After a 429 (someone else shares the key, or the limit changed) slow down for a while.
RATE_LIMITED_PAUSE_SECONDS = 15.0
RATE_LIMITED_FACTOR = 0.5
RATE_LIMITED_SLOW_SECONDS = 300.0


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class BudgetPolicy:
    capacity: float
    refill_per_second: float
    poll_reserve: float

    @classmethod
    def for_limit(cls, per_minute: int, headroom: float) -> BudgetPolicy:
        usable = per_minute * (1.0 - headroom)
        # A small burst (10%) and the rest as a steady refill; a token is whole, so capacity ≥ 1.
        capacity = max(1.0, min(round(usable * 0.1), usable / 2))
        refill = (usable - capacity) / 60.0
        return cls(capacity=capacity, refill_per_second=refill, poll_reserve=min(3.0, capacity / 3))

    @property
    def polls_per_second(self) -> float:
        """The sustained rate left for polls once creates and follow-ups took their share."""
        return self.refill_per_second * 0.8


class Budget:
    def __init__(self, *, api_key: str, policy: BudgetPolicy) -> None:
        self.key = key_hash(api_key)
        self.policy = policy

    def ensure(self, conn: Connection, now: float) -> None:
        values = {
            "key_hash": self.key,
            "tokens": self.policy.capacity,
            "refilled_at": now,
            "paused_until": 0.0,
            "rate_factor": 1.0,
            "slowed_until": 0.0,
        }
        insert_ignoring_conflict(conn, RateBudget, values)

    def take(self, conn: Connection, now: float, *, for_poll: bool) -> bool:
        """Spend one token if the bucket allows it; True when spent."""
        need = 1.0 + (self.policy.poll_reserve if for_poll else 0.0)
        level = self._level(now)
        result = conn.execute(
            update(RateBudget)
            .where(RateBudget.key_hash == self.key, RateBudget.paused_until <= now, level >= need)
            .values(tokens=level - 1.0, refilled_at=now)
        )
        return result.rowcount == 1

    def rate_limited(self, conn: Connection, now: float, retry_after: float | None) -> None:
        """Blocks answered 429: pause every replica, then refill more slowly for a while."""
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
        """SQL for the bucket level at `now`: refill since the last take, capped at capacity."""
        factor = case((RateBudget.slowed_until > now, RateBudget.rate_factor), else_=literal(1.0))
        refilled = (
            RateBudget.tokens
            + (literal(now) - RateBudget.refilled_at) * self.policy.refill_per_second * factor
        )
        return case((refilled > self.policy.capacity, literal(self.policy.capacity)), else_=refilled)
