"""Retry: a turn that failed (Blocks refused the request, did not confirm a create, answered with a
failure notice) or gave up waiting carries a **Retry** button that sends the same text again.

A press is recorded in the listener, in one short transaction like intake's: a new turn of the same
conversation, with the failed turn's request text and its messages (so that 👀 and the outcome's reaction
move to the new turn), requested by whoever pressed (the worker checks they may drive the agent, as for
any turn). `turns.retry_of` is unique: a double click, or a second press later, retries once. While the
thread has a turn running, a press retries nothing, and the presser gets an ephemeral hint (sent by the
worker) to press again when that turn ends.
"""

from __future__ import annotations

import enum

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.db.models import Conversation, InboundMessage, Turn
from bot.slack import messages as text
from bot.turns import outbox, states
from bot.turns.intake import new_turn_values

RETRYABLE = (states.FAILED, states.EXPIRED)


def retryable(stop_state: str | None, texts_purged_at: float | None) -> bool:
    """A failed stop's request is the stop prompt, not the person's; a purged turn has no text to send."""
    return stop_state is None and texts_purged_at is None


class RetryRecorded(enum.Enum):
    REQUESTED = "requested"
    ALREADY = "already"  # retried before (a double click, a second press)
    BUSY = "busy"  # the thread has a turn running or queued: nothing is done
    NOT_RETRYABLE = "not_retryable"  # no failed turn there (answered, stopped, or not this channel's)


def request(
    engine: Engine, *, team_id: str, channel_id: str, user_id: str, turn_id: int, now: float
) -> RetryRecorded:
    """Record a press of `turn_id`'s Retry by `user_id` (database work only)."""
    try:
        return _request(engine, team_id, channel_id, user_id, turn_id, now)
    except IntegrityError:
        return RetryRecorded.ALREADY  # another replica recorded the same retry first (retry_of is unique)


def _request(
    engine: Engine, team_id: str, channel_id: str, user_id: str, turn_id: int, now: float
) -> RetryRecorded:
    with engine.begin() as conn:
        failed = conn.execute(
            select(
                Turn.id,
                Turn.conversation_id,
                Conversation.team_id,
                Conversation.enterprise_id,
                Conversation.channel_id,
                Conversation.thread_ts,
                Turn.outcome,
                Turn.submit_text,
                Turn.stop_state,
                Turn.texts_purged_at,
                Turn.preferences_json,
            )
            .join(Conversation, Conversation.id == Turn.conversation_id)
            .where(Turn.id == turn_id, Conversation.team_id == team_id, Conversation.channel_id == channel_id)
        ).first()
        if (
            failed is None
            or failed.outcome not in RETRYABLE
            or not retryable(failed.stop_state, failed.texts_purged_at)
        ):
            return RetryRecorded.NOT_RETRYABLE
        # Serialize with intake's busy/queue decision for this conversation (as `finish` does).
        conn.execute(
            select(Conversation.id).where(Conversation.id == failed.conversation_id).with_for_update()
        )
        if conn.execute(select(Turn.id).where(Turn.retry_of == turn_id)).first() is not None:
            return RetryRecorded.ALREADY
        open_turn = conn.execute(
            select(Turn.id).where(
                Turn.conversation_id == failed.conversation_id,
                Turn.phase.in_((states.ACTIVE, states.WAITING)),
            )
        ).first()
        if open_turn is not None:
            outbox.queue_in_thread(conn, failed, user_id=user_id, text=text.RETRY_BUSY, now=now)
            return RetryRecorded.BUSY
        values = new_turn_values(failed.conversation_id, user_id, now, phase=states.ACTIVE, step=states.START)
        # The same request again, with the channel's choices it was made with.
        values.update(
            submit_text=failed.submit_text, retry_of=turn_id, preferences_json=failed.preferences_json
        )
        new_id = conn.execute(insert(Turn).values(**values).returning(Turn.id)).scalar_one()
        conn.execute(update(InboundMessage).where(InboundMessage.turn_id == turn_id).values(turn_id=new_id))
    return RetryRecorded.REQUESTED
