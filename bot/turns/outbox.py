"""Messages decided where no Slack call may be made (the listener, which answers Slack within its 3
seconds after one short transaction) and sent by the worker: a hint only one person sees, or a short
notice in a channel for everyone (a change of its settings).

`queue` adds one in the caller's transaction; `send_next` claims the oldest unsent one (a conditional
UPDATE, so replicas never send the same one twice while its claim holds), sends it with its workspace's
client, and marks it sent. A message like these is worth a few tries, not more: after MAX_ATTEMPTS it is
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, select, update

from bot.db.models import OutboxMessage
from bot.slack.errors import SlackError
from bot.slack.gateway import SlackGateway

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 30.0
MAX_ATTEMPTS = 3

# The workspace's Slack client (None: the deployment is no longer installed there).
Clients = Callable[[str, "str | None"], "SlackGateway | None"]


def queue(
    conn: Connection,
    *,
    team_id: str,
    enterprise_id: str | None,
    channel_id: str,
    thread_ts: str | None,
    user_id: str | None,
    text: str,
    now: float,
) -> None:
    """Queue a message for `user_id` only, or (None) for everyone in the channel (or its thread)."""
    conn.execute(
        insert(OutboxMessage).values(
            team_id=team_id,
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=user_id,
            text=text,
            created_at=now,
            attempts=0,
        )
    )


def send_next(engine: Engine, clients: Clients, now: float) -> bool:
    """Send the oldest unsent message; False when there was none to send."""
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts < MAX_ATTEMPTS,
            (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    with engine.begin() as conn:
        claimed = conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == due, OutboxMessage.sent_at.is_(None))
            .values(claimed_until=now + CLAIM_SECONDS, attempts=OutboxMessage.attempts + 1)
            .returning(
                OutboxMessage.id,
                OutboxMessage.team_id,
                OutboxMessage.enterprise_id,
                OutboxMessage.channel_id,
                OutboxMessage.thread_ts,
                OutboxMessage.user_id,
                OutboxMessage.text,
            )
        ).first()
    if claimed is None:
        return False
    slack = clients(claimed.team_id, claimed.enterprise_id)
    if slack is not None:
        try:
            if claimed.user_id is None:
                slack.post_notice(channel=claimed.channel_id, text=claimed.text, thread_ts=claimed.thread_ts)
            else:
                slack.post_ephemeral(
                    channel=claimed.channel_id,
                    user=claimed.user_id,
                    text=claimed.text,
                    thread_ts=claimed.thread_ts,
                )
        except SlackError as exc:
            logger.info("outbox message %s not sent (%s)", claimed.id, exc.error)
            return True  # tried again when its claim lapses, up to MAX_ATTEMPTS
    with engine.begin() as conn:
        conn.execute(update(OutboxMessage).where(OutboxMessage.id == claimed.id).values(sent_at=now))
    return True
