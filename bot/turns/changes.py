"""Edits and deletes of messages already recorded: a queued reply (its turn still waiting) that is edited
before it is sent is sent as it now reads; one that is deleted is withdrawn (and a waiting turn left with
no reply ends, `withdrawn`). Once a message has gone to the agent, an edit changes nothing there, and its
author gets a short hint (only they see it, sent by the worker: see `outbox`) to reply instead.

Database work only, in the listener, like intake: the conversation is locked first, so that a turn being
promoted at this moment (its replies about to be sent) is seen as such.
"""

from __future__ import annotations

import enum

from sqlalchemy import Connection, Engine, func, select, update

from bot.db.models import Conversation, InboundMessage, Turn
from bot.slack import messages as text
from bot.slack.events import MessageChange
from bot.turns import outbox, states
from bot.turns.finish import lock_conversation

WITHDRAWN = states.WITHDRAWN  # the outcome of a waiting turn whose replies were all deleted


class Changed(enum.Enum):
    UPDATED = "updated"  # a queued reply: what will be sent is its new text
    WITHDRAWN = "withdrawn"  # a queued reply deleted: it will not be sent
    ALREADY_SENT = "already_sent"  # the agent has it: the change does not reach it
    NOT_OURS = "not_ours"  # not a message the bot recorded


def record(engine: Engine, change: MessageChange, now: float) -> Changed:
    with engine.begin() as conn:
        found = conn.execute(
            select(
                InboundMessage.id,
                InboundMessage.turn_id,
                InboundMessage.conversation_id,
                InboundMessage.text,
                InboundMessage.user_id,
            ).where(
                InboundMessage.team_id == change.team_id,
                InboundMessage.channel_id == change.channel_id,
                InboundMessage.ts == change.ts,
            )
        ).first()
        if found is None or found.turn_id is None:
            return Changed.NOT_OURS
        lock_conversation(conn, found.conversation_id)
        phase = conn.execute(select(Turn.phase).where(Turn.id == found.turn_id)).scalar()
        if phase != states.WAITING:
            if change.edited and change.text is not None and change.text != found.text:
                _hint(conn, found.conversation_id, found.user_id, now)
            return Changed.ALREADY_SENT
        if change.text is not None:
            conn.execute(update(InboundMessage).where(InboundMessage.id == found.id).values(text=change.text))
            return Changed.UPDATED
        # Kept, so that a late redelivery of it is still a duplicate; no longer any turn's, and no text.
        conn.execute(
            update(InboundMessage)
            .where(InboundMessage.id == found.id)
            .values(turn_id=None, text="", files_json="[]")
        )
        left = conn.execute(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.turn_id == found.turn_id)
        ).scalar_one()
        if not left:
            # Its queued notice, if it has one, is told (the close step); the inbox step is fenced off.
            notice = conn.execute(
                select(Turn.queued_notice_state).where(Turn.id == found.turn_id)
            ).scalar() in ("posting", "posted")
            conn.execute(
                update(Turn)
                .where(Turn.id == found.turn_id)
                .values(
                    **states.ended(
                        WITHDRAWN,
                        now,
                        step=states.CLOSE if notice else states.DONE,
                        next_run_at=now if notice else None,
                    )
                )
            )
        return Changed.WITHDRAWN


def _hint(conn: Connection, conversation_id: int, user_id: str, now: float) -> None:
    """The person edited a message the agent already has: tell them (only them) to reply instead."""
    conversation = conn.execute(
        select(
            Conversation.team_id, Conversation.enterprise_id, Conversation.channel_id, Conversation.thread_ts
        ).where(Conversation.id == conversation_id)
    ).one()
    outbox.queue_in_thread(conn, conversation, user_id=user_id, text=text.EDIT_TOO_LATE, now=now)
