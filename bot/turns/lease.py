"""Claiming due turns, and the lease that fences every write a worker makes.

A claim is one conditional `UPDATE … WHERE id = (SELECT … LIMIT 1) AND <still due and free> RETURNING`,
which is correct on SQLite (writers are serialized) and PostgreSQL (the sub-select takes the row with
`FOR UPDATE SKIP LOCKED`, so replicas never wait on each other). Each claim gets a fresh token; a write that
does not carry the current token changes nothing and raises `LeaseLost`, so a worker whose lease expired
(it was paused, or its replica is presumed dead) stops before it can undo the work of its successor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from bot.blocks.budget import Budget
from bot.db.models import Conversation, Turn
from bot.turns import shares, states
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
    def transaction(self, now: float, *, conversation_id: int | None = None) -> Iterator[Connection]:
        """A transaction that first proves (and, on PostgreSQL, locks) the lease. With `conversation_id`,
        the conversation is locked before the turn, in the order the listener takes them (intake, a
        press), so that the two never wait on each other."""
        with self.engine.begin() as conn:
            if conversation_id is not None:
                conn.execute(
                    select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
                )
            self.write(conn, now)
            yield conn

    def release(self, now: float, *, next_run_at: float | None, **values: Any) -> None:
        self.save(now, lease_token=None, lease_until=None, next_run_at=next_run_at, **values)


@dataclass(frozen=True)
class Claimed:
    lease: Lease
    step: str
    key_hash: str | None = None  # the Blocks key that paid for a Blocks step (the turn uses it)
    paid: bool = True  # False: claimed for its stop, which takes no token (its follow-up does, later)


@dataclass(frozen=True)
class Candidate:
    """A due Blocks step, with what decides who pays for it."""

    turn_id: int
    team_id: str
    enterprise_id: str | None
    key_hash: str | None  # the key of the turn's session; None while it has none


# Who pays for a Blocks step: the key (by hash) and budget that pay for a candidate, or None when no key
# can (the step is claimed anyway, to tell the thread).
Payer = Callable[[Connection, Candidate, float], "tuple[str, Budget] | None"]


class _NothingClaimed(Exception):
    pass


def claim_next(
    engine: Engine,
    payer: Payer | Budget,
    *,
    now: float,
    lease_seconds: float,
    poll_policy: PollPolicy = DEFAULT_POLL_POLICY,
) -> Claimed | None:
    """Claim the most urgent due turn. Slack-only steps need nothing; a Blocks step needs a token from
    the budget of its own key (`payer`; a plain `Budget` pays for every turn), taken in the same
    transaction (undone if the turn is not claimed after all).

    Slack steps: one indexed query per step, in priority order (what a person is waiting to see comes
    first), the most overdue turn of the step. Each reads (step, next_run_at) from one index, so its cost
    does not grow with the number of turns in flight.

    Blocks steps: whose turn it is first, by fair shares (of the key, the workspace and then the person
    served least recently; see `shares`), then which of their turns: creates and follow-ups before polls,
    and of the few most overdue polls the one furthest behind its own cadence (see `_blocks_candidates`).
    A lane whose key has no token left gives way to the next one whose key has; a key that refused a
    token is asked no more in this claim (for a poll: no more polls, while a create may still take the
    tokens that polls leave, which are kept for new requests).
    """
    pay = _single_payer(payer) if isinstance(payer, Budget) else payer
    token = str(uuid.uuid4())
    try:
        with engine.begin() as conn:
            for step in SLACK_PRIORITY:
                turn_id = _claim(conn, token, now, lease_seconds, step)
                if turn_id is not None:
                    return Claimed(Lease(engine, turn_id, token, lease_seconds), step)
            stopped = _claim_stop(conn, token, now, lease_seconds)
            if stopped is not None:
                turn_id, step = stopped
                return Claimed(Lease(engine, turn_id, token, lease_seconds), step, paid=False)
            spent = _Spent()
            for lane in shares.due_lanes(conn, (Turn.step.in_(BLOCKS_PRIORITY), *_due_conditions(now, None))):
                if spent.covers(lane):
                    continue
                claimed = _claim_in_lane(conn, token, lane, pay, spent, now, lease_seconds, poll_policy)
                if claimed is not None:
                    turn_id, step, key_hash = claimed
                    if key_hash is not None:  # a step no key pays for (it tells the thread) costs no share
                        shares.record_served(conn, lane.team_id, lane.user_id, key_hash, now)
                        if lane.key_hash is not None and lane.key_hash != key_hash:
                            # Sessions of a key that is gone: their lane is read under that key until
                            # each has moved to the paying one (below), so its share is written there too.
                            shares.record_served(conn, lane.team_id, lane.user_id, lane.key_hash, now)
                    return Claimed(Lease(engine, turn_id, token, lease_seconds), step, key_hash)
    except _NothingClaimed:
        return None
    return None


class _Spent:
    """What refused a token in this claim: keys with none left for a create (so none for a poll either),
    keys with none left for a poll (only the reserve), and workspaces whose creates found no key with one
    (their roomiest key refused: every other has less)."""

    def __init__(self) -> None:
        self.for_create: set[str] = set()
        self.for_poll: set[str] = set()
        self.creates_of: set[str] = set()

    def refused(self, key: str, step: str) -> None:
        self.for_poll.add(key)
        if step != states.POLL:
            self.for_create.add(key)

    def blocks(self, key: str, step: str) -> bool:
        return key in (self.for_poll if step == states.POLL else self.for_create)

    def blocks_lane(self, lane: shares.Lane, step: str) -> bool:
        """No step `step` of the lane can be paid for in this claim (known without asking the database)."""
        if lane.key_hash is None:  # creates: whichever key of the workspace has the most room
            return step != states.POLL and lane.team_id in self.creates_of
        return self.blocks(lane.key_hash, step)

    def covers(self, lane: shares.Lane) -> bool:
        return all(self.blocks_lane(lane, step) for step in lane.steps)


def _claim_in_lane(
    conn: Connection,
    token: str,
    lane: shares.Lane,
    pay: Payer,
    spent: _Spent,
    now: float,
    lease_seconds: float,
    poll_policy: PollPolicy,
) -> tuple[int, str, str | None] | None:
    """Claim one of this lane's due Blocks steps that a key with a token pays for; (turn, step, key)."""
    for step in BLOCKS_PRIORITY:
        if step not in lane.steps or spent.blocks_lane(lane, step):
            continue
        for candidate in _blocks_candidates(conn, now, step, poll_policy, lane=lane):
            paying = pay(conn, candidate, now)
            if paying is not None:
                key, budget = paying
                if spent.blocks(key, step) or not budget.take(conn, now, for_poll=step == states.POLL):
                    spent.refused(key, step)
                    if lane.key_hash is None and step != states.POLL:
                        # The roomiest key of the workspace refused: so would the others, for each create.
                        spent.creates_of.add(lane.team_id)
                    if lane.key_hash is None or key == lane.key_hash:
                        break  # the same key would answer the same for each of the lane's turns of this step
                    continue  # the session's key is gone, and the workspace's roomiest refused this one
            turn_id = _claim(conn, token, now, lease_seconds, step, candidate.turn_id)
            if turn_id is None:
                raise _NothingClaimed  # roll the token back
            if paying is not None and lane.key_hash is not None and paying[0] != lane.key_hash:
                # The session's key is gone and another of the workspace's pays: the session goes on with
                # it, so that its requests, its budget and its share are all that key's from now on.
                conn.execute(
                    update(Conversation)
                    .where(
                        Conversation.id
                        == select(Turn.conversation_id).where(Turn.id == turn_id).scalar_subquery()
                    )
                    .values(blocks_key_hash=paying[0])
                )
            return turn_id, step, paying[0] if paying is not None else None
    return None


def _claim_stop(conn: Connection, token: str, now: float, lease_seconds: float) -> tuple[int, str] | None:
    """A turn with a stop requested in a step the stop acts on at once (see `stop.run_stop`): claimed
    without a Blocks token, so that a stop never waits in line behind the key's budget."""
    acts_now = or_(
        Turn.step.in_((states.START, states.POLL)),
        and_(Turn.step == states.SUBMIT, Turn.submit_state == "none"),
    )
    candidate = (
        select(Turn.id)
        .where(Turn.stop_state == states.STOP_REQUESTED, acts_now, *_due_conditions(now, None))
        .order_by(Turn.next_run_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = conn.execute(
        update(Turn)
        .where(Turn.id == candidate, *_due_conditions(now, None))
        .values(lease_token=token, lease_until=now + lease_seconds, attempts=Turn.attempts + 1)
        .returning(Turn.id, Turn.step)
    ).first()
    return None if row is None else (int(row.id), str(row.step))


def _single_payer(budget: Budget) -> Payer:
    def pay(_conn: Connection, _candidate: Candidate, _now: float) -> tuple[str, Budget]:
        return budget.key_hash, budget

    return pay


# What a person is waiting for first: the 👀 and placeholder, then an answer, then the rest.
SLACK_PRIORITY = (states.START, states.DELIVER, states.INBOX, states.CLOSE, states.SETTLE)
BLOCKS_PRIORITY = (states.SUBMIT, states.POLL)


def _due_conditions(now: float, step: str | None) -> tuple[Any, ...]:
    """Due and free; of `step` (None: the caller says which steps)."""
    return (
        *((Turn.step == step,) if step is not None else ()),
        Turn.next_run_at.is_not(None),
        Turn.next_run_at <= now,
        or_(Turn.lease_until.is_(None), Turn.lease_until < now),
    )


def _due(now: float, step: str) -> Any:
    return select(Turn.id).where(*_due_conditions(now, step)).order_by(Turn.next_run_at)


# How many of one lane's most overdue turns of a Blocks step are weighed against each other (a bounded read
# of the index): polls by how far behind their cadence they are, all by whether their key has a token.
POLL_LOOKAHEAD = 8
# And the few youngest polls (turns submitted within YOUNG_SECONDS), whatever older ones wait.
YOUNG_LOOKAHEAD = 4
YOUNG_SECONDS = 120.0


def _blocks_candidates(
    conn: Connection,
    now: float,
    step: str,
    policy: PollPolicy,
    *,
    lane: shares.Lane,
) -> list[Candidate]:
    """The few most overdue turns of a Blocks step in one lane, in the order they should be claimed.

    Polls: most behind relative to its own interval first. Overdue seconds do not weigh the same for
    every turn: 3 s late doubles the wait of a young turn polled every 3 s, and is nothing to one polled
    every 80 s. Taking the most overdue relative to its interval makes each of a lane's turns slow down
    by the same factor when tokens are short, so young turns (most of whose answers come within a
    minute) are not queued behind old ones. The oldest overdue poll is always among those weighed and
    its lateness only grows, so none starves."""
    columns = (
        Turn.id,
        Turn.next_run_at,
        Turn.submitted_at,
        Turn.deadline_at,
        Conversation.team_id,
        Conversation.enterprise_id,
        Conversation.blocks_key_hash,
    )
    of_key = (
        Conversation.blocks_key_hash.is_(None)
        if lane.key_hash is None
        else Conversation.blocks_key_hash == lane.key_hash
    )
    due = (
        select(*columns)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(
            Turn.requested_by == lane.user_id,
            Conversation.team_id == lane.team_id,
            *_due_conditions(now, step),
            of_key,
        )
    )
    rows = list(
        conn.execute(
            due.order_by(Turn.next_run_at).limit(POLL_LOOKAHEAD).with_for_update(skip_locked=True, of=Turn)
        ).all()
    )
    if step == states.POLL:
        # The most overdue are the oldest turns when many run: a new turn's first poll (due in seconds,
        # and most behind its own cadence once late) would never be among them. Look at the youngest too.
        young = conn.execute(
            due.where(Turn.submitted_at >= now - YOUNG_SECONDS)
            .order_by(Turn.submitted_at.desc())
            .limit(YOUNG_LOOKAHEAD)
            .with_for_update(skip_locked=True, of=Turn)
        ).all()
        seen = {row.id for row in rows}
        rows += [row for row in young if row.id not in seen]

        def behind(row: Any) -> float:
            return policy.behind(
                now=now,
                due_at=float(row.next_run_at),
                submitted_at=row.submitted_at,
                deadline_at=row.deadline_at,
            )

        rows = sorted(rows, key=behind, reverse=True)
    return [Candidate(int(r.id), r.team_id, r.enterprise_id, r.blocks_key_hash) for r in rows]


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


def blocks_waiting_by_key(conn: Connection, now: float) -> list[tuple[str | None, int]]:
    """Blocks steps due and free, counted by the key of their session (None: no session yet)."""
    rows = conn.execute(
        select(Conversation.blocks_key_hash, func.count())
        .select_from(Turn)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(Turn.step.in_(BLOCKS_PRIORITY), *_due_conditions(now, None))
        .group_by(Conversation.blocks_key_hash)
    ).all()
    return [(key, int(count)) for key, count in rows]


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
