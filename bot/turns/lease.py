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

from sqlalchemy import Connection, Engine, func, or_, select, update

from bot.blocks.budget import Budget
from bot.db.models import Turn
from bot.turns import states
from bot.turns.schedule import PollPolicy

DEFAULT_POLL_POLICY = PollPolicy()


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


def claim_next(
    engine: Engine,
    budget: Budget,
    *,
    now: float,
    lease_seconds: float,
    poll_policy: PollPolicy = DEFAULT_POLL_POLICY,
) -> Claimed | None:
    """Claim the most urgent due turn. Slack-only steps need nothing; a Blocks step needs a token from
    the key's budget, taken in the same transaction (undone if no turn is claimed after all).

    One indexed query per step, in priority order: what a person is waiting to see comes first, and
    within a step the most overdue turn. Each query reads (step, next_run_at) from one index, so its
    cost does not grow with the number of turns in flight. Polls look a little further: among the few
    most overdue, the one most behind its own cadence (see `_most_behind_poll`).
    """
    token = str(uuid.uuid4())
    try:
        with engine.begin() as conn:
            for step in SLACK_PRIORITY:
                turn_id = _claim(conn, token, now, lease_seconds, step)
                if turn_id is not None:
                    return Claimed(Lease(engine, turn_id, token, lease_seconds), step)
            for step in BLOCKS_PRIORITY:
                if conn.execute(_due(now, step).limit(1)).first() is None:
                    continue
                if not budget.take(conn, now, for_poll=step == states.POLL):
                    return None  # creates go first: no token for them means none for polls either
                candidate = _most_behind_poll(conn, now, poll_policy) if step == states.POLL else None
                turn_id = _claim(conn, token, now, lease_seconds, step, candidate)
                if turn_id is None:
                    raise _NothingClaimed  # roll the token back
                return Claimed(Lease(engine, turn_id, token, lease_seconds), step)
    except _NothingClaimed:
        return None
    return None


# What a person is waiting for first: the 👀 and placeholder, then an answer, then the rest.
SLACK_PRIORITY = (states.START, states.DELIVER, states.INBOX, states.CLOSE)
BLOCKS_PRIORITY = (states.SUBMIT, states.POLL)


def _due_conditions(now: float, step: str) -> tuple[Any, ...]:
    return (
        Turn.step == step,
        Turn.next_run_at.is_not(None),
        Turn.next_run_at <= now,
        or_(Turn.lease_until.is_(None), Turn.lease_until < now),
    )


def _due(now: float, step: str) -> Any:
    return select(Turn.id).where(*_due_conditions(now, step)).order_by(Turn.next_run_at)


# How many of the most overdue polls are weighed against each other (a bounded read of the index).
POLL_LOOKAHEAD = 8


def _most_behind_poll(conn: Connection, now: float, policy: PollPolicy) -> int | None:
    """Among the few most overdue polls, the one most behind relative to its own interval.

    Overdue seconds do not weigh the same for every turn: 3 s late doubles the wait of a young turn
    polled every 3 s, and is nothing to one polled every 80 s. Taking the most overdue relative to its
    interval makes every turn slow down by the same factor when tokens are short, so young turns (most
    of whose answers come within a minute) are not queued behind old ones. The oldest overdue poll is
    always among those weighed and its lateness only grows, so none starves."""
    rows = conn.execute(
        select(Turn.id, Turn.next_run_at, Turn.submitted_at, Turn.deadline_at)
        .where(*_due_conditions(now, states.POLL))
        .order_by(Turn.next_run_at)
        .limit(POLL_LOOKAHEAD)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return None

    def behind(row: Any) -> float:
        return policy.behind(
            now=now, due_at=float(row.next_run_at), submitted_at=row.submitted_at, deadline_at=row.deadline_at
        )

    return int(max(rows, key=behind).id)


def _claim(
    conn: Connection, token: str, now: float, lease_seconds: float, step: str, candidate_id: int | None = None
) -> int | None:
    candidate: Any = candidate_id
    if candidate is None:
        candidate = _due(now, step).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    row = conn.execute(
        update(Turn)
        .where(Turn.id == candidate, *_due_conditions(now, step))
        .values(lease_token=token, lease_until=now + lease_seconds, attempts=Turn.attempts + 1)
        .returning(Turn.id)
    ).first()
    return None if row is None else int(row.id)


def next_due_at(conn: Connection, now: float) -> float | None:
    """When the earliest step that nobody holds is due (None: no work scheduled)."""
    value = conn.execute(
        select(func.min(Turn.next_run_at)).where(
            Turn.next_run_at.is_not(None), or_(Turn.lease_until.is_(None), Turn.lease_until < now)
        )
    ).scalar()
    return None if value is None else float(value)


@dataclass(frozen=True)
class Backlog:
    """Blocks steps (creates, follow-ups, polls) that are due and nobody holds: they wait for a token."""

    waiting: int
    longest_wait: float  # seconds the most overdue of them is past its due time


def blocks_backlog(conn: Connection, now: float) -> Backlog:
    waiting, longest = 0, 0.0
    for step in BLOCKS_PRIORITY:  # one range of the (step, next_run_at) index each
        count, earliest = conn.execute(
            select(func.count(), func.min(Turn.next_run_at)).where(*_due_conditions(now, step))
        ).one()
        waiting += int(count)
        if earliest is not None:
            longest = max(longest, now - float(earliest))
    return Backlog(waiting, longest)
