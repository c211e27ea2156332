"""Feedback on answers: 👍/👎 buttons under every answer, recorded in the listener (who, which turn, when),
changed by pressing the other, shown in the audit and counted in the metrics.

A press is one short transaction: the turn must be an answer in the workspace and channel the press came
from (a value copied elsewhere records nothing), then the person's row is written; Slack is answered
after it commits. Feedback does not drive the agent, so anyone who sees the answer may give it.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from bot import metrics
from bot.db.models import Conversation, Feedback, Turn
from bot.db.statements import upsert
from bot.turns import states

VALUES = ("good", "bad")


def record(
    engine: Engine, *, team_id: str, channel_id: str, turn_id: int, user_id: str, value: str, now: float
) -> bool:
    """Record `user_id`'s feedback on the answer of `turn_id`; False when there is no such answer."""
    if value not in VALUES:
        return False
    with engine.begin() as conn:
        found = conn.execute(
            select(Turn.id)
            .join(Conversation, Conversation.id == Turn.conversation_id)
            .where(
                Turn.id == turn_id,
                Turn.outcome == states.ANSWERED,
                Conversation.team_id == team_id,
                Conversation.channel_id == channel_id,
            )
        ).first()
        if found is None:
            return False
        existing = conn.execute(
            select(Feedback.created_at).where(Feedback.turn_id == turn_id, Feedback.user_id == user_id)
        ).scalar()
        upsert(
            conn,
            Feedback,
            {
                "turn_id": turn_id,
                "user_id": user_id,
                "value": value,
                "created_at": existing if existing is not None else now,
                "updated_at": now,
            },
            key=("turn_id", "user_id"),
        )
    metrics.FEEDBACK.labels(value).inc()
    return True
