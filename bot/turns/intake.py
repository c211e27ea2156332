"""Intake: record one Slack message in one short transaction, and decide whether it opens a turn.

This runs inside the Slack event listener before the HTTP answer goes back, so it does database work
only: no Slack or Blocks call. Whatever it records, a worker picks up; whatever it fails to record, Slack
retries (the listener answers 500).

The busy/queue decision is made while holding the conversation: on PostgreSQL a `FOR UPDATE` lock on its
row, on SQLite the write lock that `BEGIN IMMEDIATE` takes. Two replies arriving together therefore see
each other, and at most one opens a turn (the partial unique index on active turns is the backstop).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, select

from bot import metrics
from bot.config import CORE_AGENTS, Settings
from bot.db.models import Conversation, InboundMessage, Turn
from bot.db.statements import insert_ignoring_conflict
from bot.preferences import apply
from bot.preferences import store as preferences
from bot.preferences.values import deployment_defaults
from bot.turns import home_refresh, states


@dataclass(frozen=True)
class SlackFile:
    name: str
    permalink: str


@dataclass(frozen=True)
class InboundEvent:
    """A Slack message meant for the agent, already stripped of the bot's own mention."""

    team_id: str
    channel_id: str
    channel_type: str
    ts: str
    thread_ts: str | None
    user_id: str
    text: str
    is_mention: bool
    files: tuple[SlackFile, ...] = field(default=())
    enterprise_id: str | None = None

    @property
    def conversation_ts(self) -> str:
        return self.thread_ts or self.ts

    @property
    def is_thread_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


class Recorded(enum.Enum):
    NEW_TURN = "new_turn"  # a turn was opened: the worker has work now
    QUEUED = "queued"  # a turn is running; the message waits for the next one
    INTERRUPTING = "interrupting"  # the running turn is interrupted by a new one
    DUPLICATE = "duplicate"  # already recorded (Slack retry, or app_mention + message)
    NOT_FOR_US = "not_for_us"  # a reply in a thread the bot is not part of


@dataclass(frozen=True)
class IntakePolicy:
    """The deployment's value of each channel choice (`bot.preferences.values`); a channel's or its
    workspace's own choice wins over it."""

    defaults: Mapping[str, str]

    @classmethod
    def of(cls, settings: Settings) -> IntakePolicy:
        return cls(deployment_defaults(settings))


class _Duplicate(Exception):
    pass


# Core tables: intake runs on every Slack delivery, and Core statements cost far less to build than ORM
# ones (this path is what the ack latency is made of).
TURNS = cast(Table, Turn.__table__)
MESSAGES = cast(Table, InboundMessage.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
_INSERT_TURN = TURNS.insert().returning(TURNS.c.id)
_FIND_MESSAGE = select(MESSAGES.c.id).where(
    MESSAGES.c.team_id == bindparam("team_id"),
    MESSAGES.c.channel_id == bindparam("channel_id"),
    MESSAGES.c.ts == bindparam("ts"),
)
_LOCK_CONVERSATION = (
    select(CONVERSATIONS.c.id)
    .where(
        CONVERSATIONS.c.team_id == bindparam("team_id"),
        CONVERSATIONS.c.channel_id == bindparam("channel_id"),
        CONVERSATIONS.c.thread_ts == bindparam("thread_ts"),
    )
    .with_for_update()
)
_OPEN_TURNS = select(TURNS.c.id, TURNS.c.step, TURNS.c.phase).where(
    TURNS.c.conversation_id == bindparam("conversation_id"),
    TURNS.c.phase.in_((states.ACTIVE, states.WAITING)),
)


def parse_agent(text: str, default: str) -> tuple[str, str]:
    """A leading `/codex`, `/gemini`, … picks the agent; other `/word` tokens are Blocks skills and stay."""
    stripped = text.lstrip()
    first, _, rest = stripped.partition(" ")
    if first.startswith("/") and first[1:].lower() in CORE_AGENTS:
        return first[1:].lower(), rest.lstrip()
    return default, text.strip()


def record(engine: Engine, event: InboundEvent, policy: IntakePolicy, now: float) -> Recorded:
    try:
        with engine.begin() as conn:
            result = _record(conn, event, policy, now)
    except _Duplicate:
        return Recorded.DUPLICATE
    if result is Recorded.INTERRUPTING:
        metrics.TURNS_ENDED.labels(states.INTERRUPTED).inc()  # the interrupted turn ended here
    return result


def _record(conn: Connection, event: InboundEvent, policy: IntakePolicy, now: float) -> Recorded:
    if _message_exists(conn, event):
        return Recorded.DUPLICATE
    conversation_id = _lock_conversation(conn, event)
    text = event.text
    # Only a mention or a DM starts a conversation; other replies in human threads are not ours.
    talks_to_us = event.is_mention or not event.is_thread_reply or event.channel_type == "im"
    if conversation_id is None and not talks_to_us:
        return Recorded.NOT_FOR_US
    chosen = preferences.for_channel(conn, event.team_id, event.channel_id, policy.defaults)
    if conversation_id is None:
        agent, text = parse_agent(event.text, chosen.agent)
        conversation_id = _create_conversation(conn, event, agent, now)
    elif not talks_to_us and chosen.reply_mode == "mentions":
        return Recorded.NOT_FOR_US  # this channel continues bot threads only with a mention
    active, waiting = _open_turns(conn, conversation_id)
    opened = apply.snapshot(chosen)

    result = Recorded.NEW_TURN
    # Blocks is working on the active turn: a follow-up now interrupts it (the API's own behaviour).
    interrupting = active is not None and chosen.busy_policy == "interrupt" and active.step == states.POLL
    if interrupting and active is not None and interrupt(conn, active.id, now):
        active, result = None, Recorded.INTERRUPTING
    if active is None:
        if waiting is None:
            turn_id = _new_turn(
                conn, conversation_id, event, now, opened, phase=states.ACTIVE, step=states.START
            )
        else:
            turn_id = waiting.id
            _activate(conn, turn_id, now)
        _insert_message(conn, event, conversation_id, turn_id, text, now, queued=False)
        return result
    if waiting is None:
        turn_id = _new_turn(
            conn, conversation_id, event, now, opened, phase=states.WAITING, step=states.INBOX
        )
    else:
        turn_id = waiting.id
        conn.execute(
            TURNS.update()
            .where(TURNS.c.id == turn_id)
            .values(step=states.INBOX, next_run_at=now, updated_at=now)
        )
    _insert_message(conn, event, conversation_id, turn_id, text, now, queued=True)
    return Recorded.QUEUED


def interrupt(conn: Connection, turn_id: int, now: float, *, by: str | None = None) -> bool:
    """End the active turn `turn_id` as interrupted (a newer request goes to Blocks, which interrupts
    it): its close step says so in its placeholder, naming `by` when someone sent replies now. Only
    while Blocks works on it (its poll step): a poll that has just stored the answer moved it on, and
    its answer is delivered instead (False)."""
    result = conn.execute(
        TURNS.update()
        .where(TURNS.c.id == turn_id, TURNS.c.phase == states.ACTIVE, TURNS.c.step == states.POLL)
        # Fenced off the worker polling it; its close step runs now.
        .values(
            **states.ended(states.INTERRUPTED, now, step=states.CLOSE, next_run_at=now), stop_requested_by=by
        )
    )
    return result.rowcount == 1


def _message_exists(conn: Connection, event: InboundEvent) -> bool:
    key = {"team_id": event.team_id, "channel_id": event.channel_id, "ts": event.ts}
    return conn.execute(_FIND_MESSAGE, key).first() is not None


def _lock_conversation(conn: Connection, event: InboundEvent) -> int | None:
    """The conversation's id, locked until the transaction ends (PostgreSQL; SQLite is serialized)."""
    key = {"team_id": event.team_id, "channel_id": event.channel_id, "thread_ts": event.conversation_ts}
    row = conn.execute(_LOCK_CONVERSATION, key).first()
    return None if row is None else int(row.id)


def _create_conversation(conn: Connection, event: InboundEvent, agent: str, now: float) -> int:
    values = {
        "team_id": event.team_id,
        "enterprise_id": event.enterprise_id,
        "channel_id": event.channel_id,
        "thread_ts": event.conversation_ts,
        "channel_type": event.channel_type,
        "agent": agent,
        "started_by": event.user_id,
        "joins_existing_thread": event.is_thread_reply,
        "created_at": now,
        "updated_at": now,
    }
    # Another replica may be creating the same conversation right now: let the first one win.
    insert_ignoring_conflict(conn, Conversation, values)
    conversation_id = _lock_conversation(conn, event)
    assert conversation_id is not None
    return conversation_id


def _insert_message(
    conn: Connection,
    event: InboundEvent,
    conversation_id: int,
    turn_id: int,
    text: str,
    now: float,
    *,
    queued: bool,
) -> None:
    values = {
        "team_id": event.team_id,
        "channel_id": event.channel_id,
        "ts": event.ts,
        "conversation_id": conversation_id,
        "turn_id": turn_id,
        "user_id": event.user_id,
        "text": text,
        "files_json": json.dumps([{"name": f.name, "permalink": f.permalink} for f in event.files]),
        "queued": queued,
        "inbox_reacted": False,
        "received_at": now,
    }
    if insert_ignoring_conflict(conn, InboundMessage, values, returning="id") is None:
        # Lost a race with a concurrent delivery of the same message: undo everything we did.
        raise _Duplicate


class _TurnRef(NamedTuple):
    id: int
    step: str


def _open_turns(conn: Connection, conversation_id: int) -> tuple[_TurnRef | None, _TurnRef | None]:
    """The conversation's active and waiting turns (each may be missing)."""
    rows = conn.execute(_OPEN_TURNS, {"conversation_id": conversation_id}).all()
    found = {row.phase: _TurnRef(row.id, row.step) for row in rows}
    return found.get(states.ACTIVE), found.get(states.WAITING)


def new_turn_values(
    conversation_id: int, user_id: str, now: float, *, phase: str, step: str
) -> dict[str, object]:
    """The columns of a turn that has just been opened (due now, nothing done yet)."""
    return {
        "conversation_id": conversation_id,
        "phase": phase,
        "step": step,
        "next_run_at": now,
        "requested_by": user_id,
        "requested_at": now,
        "attempts": 0,
        "failures": 0,
        "placeholder_state": "none",
        "submit_state": "none",
        "deadline_notified": False,
        "polls": 0,
        "delivered_offset": 0,
        "part_limit": 0,
        "parts_posted": 0,
        "part_post_state": "none",
        "late_notice_state": "none",
        "queued_notice_state": "none",
        "file_state": "none",
        "created_at": now,
        "updated_at": now,
    }


def _new_turn(
    conn: Connection,
    conversation_id: int,
    event: InboundEvent,
    now: float,
    preferences_json: str,
    *,
    phase: str,
    step: str,
) -> int:
    values = new_turn_values(conversation_id, event.user_id, now, phase=phase, step=step)
    values["preferences_json"] = preferences_json
    row = conn.execute(_INSERT_TURN, values).first()
    assert row is not None
    home_refresh.mark_due(
        conn, team_id=event.team_id, enterprise_id=event.enterprise_id, user_id=event.user_id, now=now
    )
    return int(row[0])


def _activate(conn: Connection, turn_id: int, now: float) -> None:
    conn.execute(
        TURNS.update()
        .where(TURNS.c.id == turn_id)
        .values(
            phase=states.ACTIVE,
            step=states.START,
            next_run_at=now,
            lease_token=None,
            lease_until=None,
            updated_at=now,
        )
    )


def promote_waiting(
    conn: Connection, conversation_id: int, now: float, *, unless_all_before: float | None = None
) -> bool:
    """The active turn just finished: the queued replies, if any, become the next turn. With
    `unless_all_before` (a stop's time), replies all received before it stay queued for the next message."""
    active, waiting = _open_turns(conn, conversation_id)
    if waiting is None or active is not None:
        return False
    if unless_all_before is not None:
        newest = conn.execute(
            select(func.max(MESSAGES.c.received_at)).where(MESSAGES.c.turn_id == waiting.id)
        ).scalar()
        if newest is None or newest <= unless_all_before:
            return False
    _activate(conn, waiting.id, now)
    return True


def count_turns(conn: Connection, phase: str) -> int:
    return int(conn.execute(select(func.count()).select_from(Turn).where(Turn.phase == phase)).scalar_one())
