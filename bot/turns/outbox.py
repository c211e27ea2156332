"""Slack calls decided where none may be made (the listener, which answers Slack within its 3 seconds
after one short transaction; or a worker step that must not wait on an optional call), made by the
worker's outbox thread. A row's `kind` says which call:

- `message`: a hint only one person sees (`chat.postEphemeral`), or a short notice in a channel for
  everyone (a change of its settings);
- `prompts`: a DM's suggested prompts (`assistant.threads.setSuggestedPrompts`, JSON in `text`), queued
  when someone opens the bot's DM;
- `title`: a DM thread's title (`assistant.threads.setTitle`), queued once its Blocks session's title is
  known (see `dm_title`); its conversation's `title_state` goes from `setting` to `set` once Slack has it.

`queue…` adds one in the caller's transaction; `send_next` claims the oldest unsent one (a conditional
UPDATE, so replicas never send the same one twice while its claim holds), makes its call with its
workspace's client, and marks it sent. A crash mid-call leaves the claim to lapse and the call to be made
again: each is worth a few tries, not more, and after MAX_ATTEMPTS it is dropped. Prompts and titles are
optional features: a workspace whose Slack does not have them (`capabilities`) is not asked again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select, update

from bot.db.models import Conversation, OutboxMessage
from bot.slack.errors import SlackError
from bot.slack.gateway import SlackGateway
from bot.turns import capabilities

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 30.0
MAX_ATTEMPTS = 3
MESSAGE, PROMPTS, TITLE = "message", "prompts", "title"
# The optional Slack feature behind each kind that has one (`slack_capabilities.feature`).
FEATURES = {PROMPTS: "suggested_prompts", TITLE: "thread_titles"}
# A DM opened again within this long, with the same prompts to show, is not sent them again.
PROMPTS_REPEAT_SECONDS = 3600.0
# title_state of a conversation once its title's call is made: Slack has it, or will not take it
# (refused, or every try failed).
TITLE_SET, TITLE_DROPPED = "set", "dropped"

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
    kind: str = MESSAGE,
) -> None:
    """Queue a message for `user_id` only, or (None) for everyone in the channel (or its thread); or,
    with another `kind`, that call."""
    conn.execute(
        insert(OutboxMessage).values(
            team_id=team_id,
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=user_id,
            kind=kind,
            text=text,
            created_at=now,
            attempts=0,
        )
    )


class Thread(Protocol):
    """Where a thread is: a conversation, or a row read with these columns."""

    team_id: str
    enterprise_id: str | None
    channel_id: str
    thread_ts: str


def queue_in_thread(
    conn: Connection, thread: Thread, *, user_id: str | None, text: str, now: float, kind: str = MESSAGE
) -> None:
    """`queue` in a conversation's thread."""
    queue(
        conn,
        team_id=thread.team_id,
        enterprise_id=thread.enterprise_id,
        channel_id=thread.channel_id,
        thread_ts=thread.thread_ts,
        user_id=user_id,
        text=text,
        now=now,
        kind=kind,
    )


def queue_prompts(
    conn: Connection,
    team_id: str,
    enterprise_id: str | None,
    channel_id: str,
    user_id: str,
    prompts: Sequence[Mapping[str, str]],
    now: float,
) -> bool:
    """Someone opened the bot's DM: queue its suggested prompts, unless they are on their way, or were
    sent less than PROMPTS_REPEAT_SECONDS ago and are the same (opening the DM again and again makes no
    call each time; changed prompts go at once). One row per person's DM, used again each time, so the
    outbox does not grow with every visit. False when nothing was queued."""
    if capabilities.refused(conn, team_id, FEATURES[PROMPTS]):
        return False
    text = json.dumps([{"title": p["title"], "message": p["message"]} for p in prompts], ensure_ascii=False)
    row = conn.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.text,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
            OutboxMessage.attempts,
        )
        .where(
            OutboxMessage.kind == PROMPTS,
            OutboxMessage.team_id == team_id,
            OutboxMessage.channel_id == channel_id,
            OutboxMessage.user_id == user_id,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).first()
    if row is None:
        queue(
            conn,
            team_id=team_id,
            enterprise_id=enterprise_id,
            channel_id=channel_id,
            thread_ts=None,
            user_id=user_id,
            text=text,
            now=now,
            kind=PROMPTS,
        )
        return True
    pending = row.sent_at is None and row.attempts < MAX_ATTEMPTS
    if pending or (row.text == text and now - row.created_at < PROMPTS_REPEAT_SECONDS):
        return False
    # Only a row that is done (sent, or dropped) is armed again: one being sent keeps its claim.
    armed = conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row.id,
            (OutboxMessage.sent_at.is_not(None)) | (OutboxMessage.attempts >= MAX_ATTEMPTS),
        )
        .values(
            enterprise_id=enterprise_id,
            text=text,
            created_at=now,
            sent_at=None,
            claimed_until=None,
            attempts=0,
        )
    )
    return armed.rowcount == 1


def send_next(engine: Engine, clients: Clients, now: float) -> bool:
    """Make the oldest unsent call; False when there was none to make."""
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
                OutboxMessage.kind,
                OutboxMessage.text,
                OutboxMessage.attempts,
            )
        ).first()
        if claimed is None:
            return False
        feature = FEATURES.get(claimed.kind)
        # Refused since it was queued (another DM's call found out): not asked again.
        unavailable = feature is not None and capabilities.refused(conn, claimed.team_id, feature)
    slack = None if unavailable else clients(claimed.team_id, claimed.enterprise_id)
    if slack is None:  # no such feature there, or the deployment is no longer installed there
        with engine.begin() as conn:
            _done(conn, claimed, now, TITLE_DROPPED)
        return True
    try:
        _call(slack, claimed)
    except SlackError as exc:
        if feature is not None and exc.error in capabilities.UNAVAILABLE:
            with engine.begin() as conn:
                capabilities.remember_refusal(conn, claimed.team_id, feature, exc.error, now)
                _done(conn, claimed, now, TITLE_DROPPED)
            return True
        logger.info("outbox %s %s not sent (%s)", claimed.kind, claimed.id, exc.error)
        if claimed.attempts >= MAX_ATTEMPTS and claimed.kind == TITLE:
            with engine.begin() as conn:
                _title_state(conn, claimed, TITLE_DROPPED)
        return True  # tried again when its claim lapses, up to MAX_ATTEMPTS
    with engine.begin() as conn:
        _done(conn, claimed, now, TITLE_SET)
    return True


def _call(slack: SlackGateway, row: Any) -> None:
    if row.kind == PROMPTS:
        prompts = json.loads(row.text)
        slack.set_suggested_prompts(channel=row.channel_id, prompts=prompts)
    elif row.kind == TITLE:
        assert row.thread_ts is not None
        slack.set_thread_title(channel=row.channel_id, thread_ts=row.thread_ts, title=row.text)
    elif row.user_id is None:
        slack.post_notice(channel=row.channel_id, text=row.text, thread_ts=row.thread_ts)
    else:
        slack.post_ephemeral(channel=row.channel_id, user=row.user_id, text=row.text, thread_ts=row.thread_ts)


def _done(conn: Connection, row: Any, now: float, title_state: str) -> None:
    """The row's call is made (or will not be): it is never claimed again."""
    conn.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(sent_at=now))
    if row.kind == TITLE:
        _title_state(conn, row, title_state)


def _title_state(conn: Connection, row: Any, state: str) -> None:
    conn.execute(
        update(Conversation)
        .where(
            Conversation.team_id == row.team_id,
            Conversation.channel_id == row.channel_id,
            Conversation.thread_ts == row.thread_ts,
        )
        .values(title_state=state)
    )
