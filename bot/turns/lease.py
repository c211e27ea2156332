"""Claiming due turns, and the lease that fences every write a worker makes.

A claim is one conditional `UPDATE … WHERE id = (SELECT … LIMIT 1) AND <still due and free> RETURNING`,
which is correct on SQLite (writers are serialized) and PostgreSQL (the sub-select takes the row with
`FOR UPDATE SKIP LOCKED`, so replicas never wait on each other). Each claim gets a fresh token; a write that
does not carry the current token changes nothing and raises `LeaseLost`, so a worker whose lease expired
(it was paused, or its replica is presumed dead) stops before it can undo the work of its successor.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, or_, select, update

from bot.blocks.budget import Budget
from bot.db.models import Turn
from bot.turns import states


class LeaseLost(Exception):
    """Another worker owns this turn now (or intake fenced it off); stop without writing."""


@dataclass(frozen=True)
class Lease:
    engine: Engine
    turn_id: int
    token: str
    seconds: float

    def write(self, conn: Connection, now: float, **values: Any) -> None:
        """Fenced update inside the caller's transaction; also extends the lease (a heartbeat)."""
        values = {"lease_until": now + self.seconds, "updated_at": now, **values}
        result = conn.execute(
            update(Turn).where(Turn.id == self.turn_id, Turn.lease_token == self.token).values(**values)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"turn {self.turn_id}")

    def save(self, now: float, **values: Any) -> None:
        with self.engine.begin() as conn:
            self.write(conn, now, **values)

    @contextmanager
    def transaction(self, now: float) -> Iterator[Connection]:
        """A transaction that first proves (and, on PostgreSQL, locks) the lease."""
        with self.engine.begin() as conn:
            self.write(conn, now)
            yield conn

    def release(self, now: float, *, next_run_at: float | None, **values: Any) -> None:
        self.save(now, lease_token=None, lease_until=None, next_run_at=next_run_at, **values)


@dataclass(frozen=True)
class Claimed:
    lease: Lease
    step: str


class _NothingClaimed(Exception):
    pass


def claim_next(engine: Engine, budget: Budget, *, now: float, lease_seconds: float) -> Claimed | None:
    """Claim the most urgent due turn. Slack-only steps need nothing; Blocks steps need a budget token,
    taken in the same transaction (undone if no turn is claimed after all)."""
    token = str(uuid.uuid4())
    try:
        with engine.begin() as conn:
            step = _claim(conn, token, now, lease_seconds, states.SLACK_ONLY_STEPS)
            if step is None:
                candidate = conn.execute(
                    _due(now, states.BLOCKS_STEPS).with_only_columns(Turn.step).limit(1)
                ).first()
                if candidate is None:
                    return None
                if not budget.take(conn, now, for_poll=candidate.step == states.POLL):
                    return None
                step = _claim(conn, token, now, lease_seconds, states.BLOCKS_STEPS)
                if step is None:
                    raise _NothingClaimed  # roll the token back
    except _NothingClaimed:
        return None
    turn_id, step_name = step
    return Claimed(lease=Lease(engine, turn_id, token, lease_seconds), step=step_name)


def _due(now: float, steps: tuple[str, ...]) -> Any:
    # Creates and follow-ups first (a person is waiting for the first sign of life), then the most
    # overdue poll.
    return (
        select(Turn.id)
        .where(
            Turn.next_run_at <= now,
            Turn.step.in_(steps),
            or_(Turn.lease_until.is_(None), Turn.lease_until < now),
        )
        .order_by(case((Turn.step == states.SUBMIT, 0), else_=1), Turn.next_run_at)
    )


def _claim(
    conn: Connection, token: str, now: float, lease_seconds: float, steps: tuple[str, ...]
) -> tuple[int, str] | None:
    candidate = _due(now, steps).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    row = conn.execute(
        update(Turn)
        .where(
            Turn.id == candidate,
            Turn.next_run_at <= now,
            or_(Turn.lease_until.is_(None), Turn.lease_until < now),
        )
        .values(lease_token=token, lease_until=now + lease_seconds, attempts=Turn.attempts + 1)
        .returning(Turn.id, Turn.step)
    ).first()
    return None if row is None else (int(row.id), str(row.step))
