"""Which Slack events are meant for the agent: pure functions from an event payload to an `InboundEvent`.

Dropped here (answered 200, nothing recorded): this bot's own messages and other bots', joins and every
other subtype but edits and deletes (`classify_change`: a queued reply may still change), top-level
channel chatter that does not mention the bot, and messages from users of other organizations in shared
channels (unless allowed). Thread replies without a mention are passed on: intake decides, from the
database, whether the thread is one of ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.storable import storable_tree
from bot.turns.intake import InboundEvent, SlackFile
from bot.workspace import Delivery

# Subtypes that are still a person writing: a message with files, and a reply also sent to the channel.
_HUMAN_SUBTYPES = {None, "file_share", "thread_broadcast"}


def classify(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    bot_user_id: str | None,
    allow_external_users: bool,
) -> InboundEvent | None:
    """The message as the agent should get it, or None when it is not for the agent."""
    body, event = storable_tree(body), storable_tree(event)
    if event.get("type") not in ("app_mention", "message"):
        return None
    if event.get("subtype") not in _HUMAN_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
        return None
    user_id, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not isinstance(user_id, str) or not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if bot_user_id and user_id == bot_user_id:
        return None
    delivery = Delivery.of(body) or Delivery.of({"event": event})
    if delivery is None:
        return None
    author_team = event.get("user_team") or event.get("team")
    if not allow_external_users and delivery.is_external(
        author_team if isinstance(author_team, str) else None
    ):
        return None

    text = str(event.get("text") or "")
    mention = f"<@{bot_user_id}>" if bot_user_id else None
    is_mention = event.get("type") == "app_mention" or bool(mention and mention in text)
    channel_type = _channel_type(event, channel)
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    is_reply = thread_ts is not None and thread_ts != ts
    if channel_type != "im" and not is_mention and not is_reply:
        return None  # ordinary channel chatter
    if mention:
        text = re.sub(r"\s*" + re.escape(mention) + r"\s*", " ", text).strip()
    return InboundEvent(
        team_id=delivery.home.team_id,
        channel_id=channel,
        channel_type=channel_type,
        ts=ts,
        thread_ts=thread_ts,
        user_id=user_id,
        text=text,
        is_mention=is_mention,
        files=_files(event),
        enterprise_id=delivery.home.enterprise_id,
    )


def _channel_type(event: Mapping[str, Any], channel: str) -> str:
    declared = event.get("channel_type")
    if declared in ("channel", "group", "im", "mpim"):
        return str(declared)
    # app_mention carries no channel_type; private channels may also have C ids, so "channel" here means
    # "not known to be private" and the submit step asks Slack when privacy matters.
    if channel.startswith("D"):
        return "im"
    if channel.startswith("G"):
        return "group"
    return "unknown"


def _files(event: Mapping[str, Any]) -> tuple[SlackFile, ...]:
    found = []
    for item in event.get("files") or []:
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("title") or "file"
            found.append(SlackFile(name=str(name), permalink=str(item.get("permalink") or "")))
    return tuple(found)


@dataclass(frozen=True)
class MessageChange:
    """A person edited (`text`, as the agent would get it) or deleted (`text` None) a message."""

    team_id: str
    channel_id: str
    ts: str
    user_id: str | None
    text: str | None
    edited: bool = False  # the author edited it (Slack also sends `message_changed` for link previews)


def classify_change(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    bot_user_id: str | None,
    allow_external_users: bool,
) -> MessageChange | None:
    """A `message_changed` or `message_deleted` event of a person's message, or None."""
    subtype, channel = event.get("subtype"), event.get("channel")
    if event.get("type") != "message" or not isinstance(channel, str):
        return None
    if subtype == "message_deleted":
        delivery = Delivery.of(storable_tree(body))
        ts = event.get("deleted_ts")
        if delivery is None or not isinstance(ts, str):
            return None
        return MessageChange(delivery.home.team_id, channel, ts, None, None)
    inner = event.get("message")
    if subtype != "message_changed" or not isinstance(inner, Mapping):
        return None
    # The message as it is now, classified as if it had just been sent (a bot's edit of its own placeholder
    # is dropped here, like the bot's own messages).
    now_reads = {k: v for k, v in inner.items() if k != "subtype"}
    now_reads.update(type="message", channel=channel, channel_type=event.get("channel_type"))
    edited = classify(body, now_reads, bot_user_id=bot_user_id, allow_external_users=allow_external_users)
    if edited is None:
        return None
    return MessageChange(
        edited.team_id, edited.channel_id, edited.ts, edited.user_id, edited.text, edited="edited" in inner
    )
