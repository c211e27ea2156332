"""Retention: the words people wrote and the agent answered are cleared RETENTION_DAYS after their turn ended.

What is cleared, on each turn that ended before the cutoff and on its messages:
    inbound_messages.text        what a person wrote                      → '' (the column is NOT NULL)
    inbound_messages.files_json  the names and links of attached files    → '[]' (still valid JSON)
    turns.submit_text            the request composed from the messages   → NULL
    turns.answer_text            the agent's answer                       → NULL
    turns.notice_text            a notice shown instead (it may quote Blocks' error) → NULL
    turns.placeholder_note       the agent's last progress line           → NULL
    turns.plan_json              the agent's plan (its checklist)         → NULL
    turns.pull_requests_json     pull requests seen in its tool calls     → NULL
    turns.last_error             cut down to the error's class name: Blocks' error messages may quote the
                                 request, while the kind of failure is what an audit asks about
What stays: every row, with its ids, Slack users, timestamps, phase, step, outcome and counts (what the
audit and the metrics read), the Blocks session and message links, and the (team, channel, ts) of each
message, which intake's duplicate check needs. `turns.texts_purged_at` says when the texts went.
Conversations hold no text (ids, the agent and the session link only): nothing to clear there.
The outbox's messages (hints, channel notices, suggested prompts, thread titles: see `outbox`) go whole
once they were created before the cutoff: each row is a text, sent or given up on long ago (a message
that old is not worth sending any more).

Never a turn in flight: only a finished turn with nothing left to do (a finished turn may still owe its
thread the interrupted note), nothing scheduled and no lease. On PostgreSQL the rows picked are locked
(`FOR UPDATE SKIP LOCKED`) until the batch commits; on SQLite the batch holds the write lock.

One replica at a time: the purge holds the `job_leases` row named `retention`, taken with a conditional
UPDATE (free, expired, or already ours) and renewed in the transaction of every batch, so a replica whose
lease was taken over stops at its next batch; a replica that dies leaves the lease to expire.

Small batches, each its own short transaction, with a pause between them: intake and the workers, which
want the same database (on SQLite the same write lock), never wait behind the purge for long.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, literal_column, or_, select, update

from bot.db.models import InboundMessage, JobLease, OutboxMessage, Turn
from bot.db.statements import insert_ignoring_conflict
from bot.turns import states

DAY_SECONDS = 86_400.0
# The worker's first purge comes soon after start (a process restarted often still purges), then this often.
FIRST_SECONDS = 60.0
EVERY_SECONDS = 300.0
BATCH = 100
BATCH_PAUSE_SECONDS = 0.05
# Renewed by every batch: only a replica that stopped (or hangs) for this long loses the lease.
LEASE_SECONDS = 120.0
LEASE_NAME = "retention"
PURGED_TEXT = ""
PURGED_FILES = "[]"
# An error recorded as "SlackUnreachable: …" keeps "SlackUnreachable"; one with no such name, "error".
_ERROR_KIND = re.compile(r"[A-Z][A-Za-z0-9_]*(?=[:;]|$)")
UNNAMED_ERROR = "error"


def purge(
    engine: Engine,
    now: float,
    retention_seconds: float,
    *,
    batch: int = BATCH,
    holder: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
    pause: float = BATCH_PAUSE_SECONDS,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Clear the texts of every turn that ended more than `retention_seconds` before `now` (0 or less:
    keep them) and of its messages, batch after batch until none is left; the number of rows cleared
    (turns and messages). 0 at once when another replica holds the purge lease. `keep_going` is asked
    between batches (the worker stops when it is shutting down)."""
    if retention_seconds <= 0:
        return 0
    holder = holder or str(uuid.uuid4())
    cutoff = now - retention_seconds
    started = time.monotonic()
    cleared = 0
    while True:
        # The lease and the purge stamp move on with real time from the caller's `now`.
        at = now + (time.monotonic() - started)
        with engine.begin() as conn:
            if not hold(conn, holder, at, lease_seconds):
                return cleared  # another replica purges (or took over after our lease expired)
            turns, messages = _purge_turns(conn, cutoff, at, batch)
            orphans = _purge_orphan_messages(conn, cutoff, batch)
            sent = _purge_outbox(conn, cutoff, batch)
        cleared += turns + messages + orphans + sent
        if (turns < batch and orphans < batch and sent < batch) or not keep_going():
            break
        time.sleep(pause)
    with engine.begin() as conn:
        release(conn, holder)
    return cleared


def hold(conn: Connection, holder: str, now: float, seconds: float, *, name: str = LEASE_NAME) -> bool:
    """Take the job lease `name` (the purge's by default) until `now + seconds`, or extend it if `holder`
    has it; False while another replica holds it."""
    insert_ignoring_conflict(conn, JobLease, {"name": name, "holder": None, "held_until": 0.0})
    result = conn.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.held_until <= now))
        .values(holder=holder, held_until=now + seconds)
    )
    return result.rowcount == 1


def release(conn: Connection, holder: str, *, name: str = LEASE_NAME) -> None:
    """Done: the next run (of any replica) need not wait for the lease to expire."""
    conn.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(holder=None, held_until=0.0)
    )


def error_kind(error: str | None) -> str | None:
    """What of `last_error` survives the purge: the class name it starts with, never its message."""
    if error is None:
        return None
    match = _ERROR_KIND.match(error)
    return match.group(0) if match else UNNAMED_ERROR


def _texts_kept(cutoff: float) -> tuple[Any, ...]:
    """Finished turns with nothing left to do, past the cutoff, whose texts are still there."""
    return (
        # A literal, not a parameter: then both databases can read it from the partial index
        # `ix_turns_texts_kept`, whose condition is the same.
        Turn.phase == literal_column(f"'{states.FINISHED}'"),
        Turn.texts_purged_at.is_(None),
        Turn.finished_at < cutoff,
        Turn.step == states.DONE,
        Turn.next_run_at.is_(None),
        Turn.lease_token.is_(None),
    )


_CLEAR_TURN = (
    update(Turn)
    .where(Turn.id == bindparam("turn"))
    .values(
        submit_text=None,
        answer_text=None,
        notice_text=None,
        placeholder_note=None,
        plan_json=None,
        pull_requests_json=None,
        last_error=bindparam("kind"),
        texts_purged_at=bindparam("purged_at"),
    )
)


def _purge_turns(conn: Connection, cutoff: float, now: float, batch: int) -> tuple[int, int]:
    """One batch of the oldest turns: (turns cleared, messages cleared)."""
    rows = conn.execute(
        select(Turn.id, Turn.last_error)
        .where(*_texts_kept(cutoff))
        .order_by(Turn.finished_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0, 0
    messages = conn.execute(
        update(InboundMessage)
        .where(InboundMessage.turn_id.in_([row.id for row in rows]))
        .values(text=PURGED_TEXT, files_json=PURGED_FILES)
    ).rowcount
    conn.execute(
        _CLEAR_TURN,
        [{"turn": row.id, "kind": error_kind(row.last_error), "purged_at": now} for row in rows],
    )
    return len(rows), messages


def _purge_orphan_messages(conn: Connection, cutoff: float, batch: int) -> int:
    """Messages that belong to no turn (intake records none today, but the column allows it): cleared
    when they arrived before the cutoff, as no turn can be working on them."""
    ids = (
        conn.execute(
            select(InboundMessage.id)
            .where(
                InboundMessage.turn_id.is_(None),
                InboundMessage.received_at < cutoff,
                or_(InboundMessage.text != PURGED_TEXT, InboundMessage.files_json != PURGED_FILES),
            )
            .limit(batch)
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    conn.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(ids))
        .values(text=PURGED_TEXT, files_json=PURGED_FILES)
    )
    return len(ids)


def _purge_outbox(conn: Connection, cutoff: float, batch: int) -> int:
    """Outbox rows created before the cutoff: deleted."""
    ids = (
        conn.execute(select(OutboxMessage.id).where(OutboxMessage.created_at < cutoff).limit(batch))
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    return len(ids)
