"""Ending a turn: mark it finished and, in the same transaction, let the queued replies go next."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select, update

from bot import metrics
from bot.blocks.errors import BlocksRejected
from bot.db.models import Conversation, Turn
from bot.logs import Throttle
from bot.slack import messages as text
from bot.turns import home_refresh, states
from bot.turns.intake import promote_waiting
from bot.turns.lease import Lease
from bot.turns.native import needs_settling

logger = logging.getLogger(__name__)


def lock_conversation(conn: Connection, conversation_id: int) -> None:
    """Serialize with intake's busy/queue decision for this conversation (no-op lock on SQLite, where
    the transaction already holds the database write lock)."""
    conn.execute(select(Conversation.id).where(Conversation.id == conversation_id).with_for_update())


def finish(lease: Lease, conversation_id: int, now: float, outcome: str, **values: Any) -> None:
    with lease.transaction(now, conversation_id=conversation_id) as conn:
        lease.write(
            conn,
            now,
            phase=states.FINISHED,
            step=states.DONE,
            outcome=outcome,
            next_run_at=None,
            lease_token=None,
            lease_until=None,
            finished_at=now,
            **values,
        )
        # A stopped turn's queued replies are not sent: they wait for the next message (intake then
        # sends them with it). One that came after the stop is that next message.
        hold_before = None
        if outcome == states.STOPPED:
            hold_before = conn.execute(
                select(Turn.stop_requested_at).where(Turn.id == lease.turn_id)
            ).scalar()
        promote_waiting(conn, conversation_id, now, unless_all_before=hold_before)
        home_refresh.mark_turn(conn, lease.turn_id, conversation_id, now)  # their App Homes show it
        if needs_settling(conn, conversation_id):
            # Slack shows the thread as a working agent session, and no turn of it works any more: the
            # turn's last step marks it idle (a step, so that a crash does not leave it looking busy).
            conn.execute(
                update(Turn).where(Turn.id == lease.turn_id).values(step=states.SETTLE, next_run_at=now)
            )
    metrics.TURNS_ENDED.labels(outcome).inc()
    logger.info("turn %s ended: %s", lease.turn_id, outcome)


def show_notice(lease: Lease, now: float, notice: str, outcome: str, **values: Any) -> None:
    """Instead of an answer, the thread gets this notice (an error, a timeout) through the deliver step,
    which starts with no failures of its own."""
    values.setdefault("failures", 0)
    lease.save(now, notice_text=notice, outcome=outcome, step=states.DELIVER, next_run_at=now, **values)


# A refused key is an admin's problem, not only the thread's: logged as an error once per key and hour.
_REFUSED_KEYS = Throttle(logger, period=3600.0)


def rejection_notice(exc: BlocksRejected, session_url: str | None, *, key: str) -> str:
    """What to tell the thread when Blocks refused a request (retrying would not help). `key`: the key's
    label (`keys.key_label`), never the key."""
    if exc.is_auth:
        _REFUSED_KEYS.failed(key, f"Blocks refused the API key {key} ({exc.status}): check BLOCKS_API_KEY")
        return text.bad_key(exc.status)
    if exc.is_not_found:
        return text.session_gone(session_url)
    return text.rejected(exc.message, exc.status)
