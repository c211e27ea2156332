"""Feedback on answers: 👍/👎 buttons under every answer, recorded in the listener (who, which turn, when),
changed by pressing the other, checked by the worker, then shown in the audit and counted in the metrics.

A press is one short transaction: the turn must be an answer in the workspace and channel the press came
from (a value copied elsewhere records nothing), then the person's row is written, unchecked; Slack is
answered after it commits. Like every button of a thread, feedback is for the people allowed to continue
it, and knowing who they are needs Slack (a guest? in the allowed group?), which the listener does not
call: `check_next` makes that check in the worker. An allowed press counts from then on; a refused one is
deleted and its presser gets the same ephemeral no as for any other button.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, select, update

from bot import metrics
from bot.db.models import Conversation, Feedback, Turn
from bot.db.statements import upsert
from bot.slack import messages as text
from bot.slack.errors import SlackError
from bot.turns import context, outbox, states
from bot.turns.access import check_control
from bot.turns.context import Runtime

logger = logging.getLogger(__name__)

VALUES = ("good", "bad")

CLAIM_SECONDS = 30.0
# Slack could not say who pressed, this many times: the press is refused with that reason.
MAX_ATTEMPTS = 3


def record(
    engine: Engine, *, team_id: str, channel_id: str, turn_id: int, user_id: str, value: str, now: float
) -> bool:
    """Record `user_id`'s feedback on the answer of `turn_id`, to be checked; False when there is no such
    answer."""
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
                "checked_at": None,
                "claimed_until": None,
                "attempts": 0,
            },
            key=("turn_id", "user_id"),
        )
    return True


def check_next(engine: Engine, rt: Runtime, now: float) -> bool:
    """Check the oldest unchecked press (a conditional UPDATE claims it, so replicas never check the same
    one at once); False when there was none."""
    due = (
        select(Feedback.turn_id, Feedback.user_id)
        .where(
            Feedback.checked_at.is_(None),
            (Feedback.claimed_until.is_(None)) | (Feedback.claimed_until < now),
        )
        .order_by(Feedback.updated_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    with engine.begin() as conn:
        oldest = conn.execute(due).first()
        if oldest is None:
            return False
        claimed = conn.execute(
            update(Feedback)
            .where(
                Feedback.turn_id == oldest.turn_id,
                Feedback.user_id == oldest.user_id,
                Feedback.checked_at.is_(None),
            )
            .values(claimed_until=now + CLAIM_SECONDS, attempts=Feedback.attempts + 1)
            .returning(
                Feedback.turn_id, Feedback.user_id, Feedback.value, Feedback.updated_at, Feedback.attempts
            )
        ).first()
    if claimed is None:
        return True  # another replica took it between the two statements
    view = context.load(engine, claimed.turn_id)
    try:
        refused = check_control(rt.for_turn(view), view, claimed.user_id)
    except SlackError as exc:
        if claimed.attempts < MAX_ATTEMPTS:
            logger.info("feedback of %s on turn %s not checked yet (%s)", claimed.user_id, view.turn.id, exc)
            return True  # checked again when its claim lapses
        refused = f"Slack would not tell me who you are ({exc.error}); try again in a while"
    # Only the press that was checked: one changed meanwhile (updated_at moved) is checked again.
    this_press = (
        (Feedback.turn_id == claimed.turn_id)
        & (Feedback.user_id == claimed.user_id)
        & (Feedback.updated_at == claimed.updated_at)
    )
    with engine.begin() as conn:
        if refused is None:
            counted = conn.execute(update(Feedback).where(this_press).values(checked_at=now)).rowcount
        else:
            counted = 0
            conn.execute(delete(Feedback).where(this_press))
            outbox.queue_in_thread(
                conn, view.conversation, user_id=claimed.user_id, text=text.control_refused(refused), now=now
            )
    if counted:
        metrics.FEEDBACK.labels(claimed.value).inc()
    return True
