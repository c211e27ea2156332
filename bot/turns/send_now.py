"""Send now: replies queued while the agent works wait for its answer; the queued notice's **Send now**
button sends them at once instead. Blocks has no cancel, and a follow-up interrupts the running turn, so
sending now interrupts it (its placeholder says who sent the queued replies) and the queued replies go
as the next turn, as with `BUSY_POLICY=interrupt`.

As with every button: `request` runs in the listener and only records (on the waiting turn, due at once),
and `run_send_now` runs in the worker, in the waiting turn's next step: it checks that the person may use
the thread's buttons, then interrupts the running turn if Blocks is working on it (its poll step), or
waits a moment for it to get there (its start or submit), or lets the replies go at once when nothing
runs (a stop held them back).
"""

from __future__ import annotations

import enum
import logging
from functools import partial

from sqlalchemy import Engine, select, update

from bot import metrics
from bot.db.models import Conversation, Turn
from bot.slack import messages as text
from bot.turns import states
from bot.turns.access import check_control
from bot.turns.best_effort import best_effort
from bot.turns.context import Runtime, TurnView
from bot.turns.intake import interrupt
from bot.turns.lease import Lease

logger = logging.getLogger(__name__)

# While the running turn is still starting (its request not yet with Blocks), how often to look again.
RECHECK_SECONDS = 1.0


class SendNowRecorded(enum.Enum):
    REQUESTED = "requested"
    ALREADY = "already"
    OVER = "over"  # the replies are no longer waiting (they went, or were never queued there)


def request(
    engine: Engine, *, team_id: str, channel_id: str, user_id: str, turn_id: int, now: float
) -> SendNowRecorded:
    """Record that `user_id` pressed Send now on the waiting turn `turn_id` (database work only)."""
    with engine.begin() as conn:
        row = conn.execute(
            select(Turn.id, Turn.phase, Turn.send_now_by)
            .join(Conversation, Conversation.id == Turn.conversation_id)
            .where(Turn.id == turn_id, Conversation.team_id == team_id, Conversation.channel_id == channel_id)
            .with_for_update(of=Turn)
        ).first()
        if row is None or row.phase != states.WAITING:
            return SendNowRecorded.OVER
        if row.send_now_by is not None:
            return SendNowRecorded.ALREADY
        # Not fenced: a worker in the turn's inbox step finishes it (a moment: reactions and the notice)
        # and, seeing the press, leaves the turn due (`acknowledge.run_inbox`).
        conn.execute(
            update(Turn)
            .where(Turn.id == turn_id)
            .values(send_now_by=user_id, next_run_at=now, updated_at=now)
        )
    return SendNowRecorded.REQUESTED


def run_send_now(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """In the waiting turn's step: act on the press."""
    turn, conversation = view.turn, view.conversation
    presser = turn.send_now_by or turn.requested_by
    refused = check_control(rt, view, presser)
    if refused is not None:
        lease.save(rt.clock(), send_now_by=None)
        best_effort(
            view,
            "the refused send-now's explanation",
            partial(
                rt.slack.post_ephemeral,
                channel=view.channel,
                user=presser,
                text=text.control_refused(refused),
                thread_ts=view.thread_ts,
            ),
        )
        return
    now = rt.clock()
    go = {"phase": states.ACTIVE, "step": states.START, "next_run_at": now, "send_now_by": None}
    with lease.transaction(now, conversation_id=conversation.id) as conn:
        active = conn.execute(
            select(Turn.id, Turn.step).where(
                Turn.conversation_id == conversation.id, Turn.phase == states.ACTIVE
            )
        ).first()
        if active is None:  # nothing runs (a stop held these replies back): they go now
            lease.write(conn, now, lease_token=None, lease_until=None, **go)
            return
        if active.step != states.POLL or not interrupt(conn, active.id, now, by=presser):
            # Not with Blocks yet, or its answer is in (it is delivered, and these go next anyway). An
            # interrupt names who sent the queued replies, for the interrupted placeholder.
            lease.write(conn, now, lease_token=None, lease_until=None, next_run_at=now + RECHECK_SECONDS)
            return
        lease.write(conn, now, lease_token=None, lease_until=None, **go)
    metrics.TURNS_ENDED.labels(states.INTERRUPTED).inc()
    logger.info("turn %s: sent now by %s, interrupting turn %s", turn.id, presser, active.id)
