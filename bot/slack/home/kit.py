"""The few Block Kit pieces the tab and its modals are made of."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def section(
    text: str, *, block_id: str | None = None, accessory: dict[str, Any] | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text)}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(action_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain(text), **extra}


def escape(text: str) -> str:
    """Slack's escaping: only &, < and > (a stored name must not become a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def date(epoch: float, tokens: str, fallback: str | None = None) -> str:
    """A time that Slack shows in the reader's own time zone (`tokens` such as `{date_short} {time}` or
    `{ago}`), with a UTC fallback for clients that cannot."""
    shown = fallback or datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(epoch)}^{tokens}|{shown}>"
