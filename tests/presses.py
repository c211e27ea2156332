"""Pressing a bot message's button in a test, as Slack sends it: a signed `block_actions` interaction
(built by `bot.chat.block_actions_payload`), answered within Slack's 3 seconds."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx

from bot.chat import Button, block_actions_payload, find_buttons, send_interaction
from bot.sim.events import EventSender
from bot.sim.slack import StubMessage


def button(message: StubMessage, action_id: str, label: str | None = None) -> Button | None:
    """The message's button with that action id (and label: 👍 or 👎 of the feedback buttons)."""
    for found in find_buttons([message]):
        if found.action_id == action_id and (label is None or found.label == label):
            return found
    return None


def with_button(thread: list[StubMessage], action_id: str) -> StubMessage | None:
    """The first message of `thread` that carries a button with that action id."""
    return next((m for m in thread if button(m, action_id)), None)


def press(
    sender: EventSender,
    message: StubMessage,
    action_id: str,
    user: str,
    *,
    label: str | None = None,
    channel: str | None = None,
) -> httpx.Response:
    """`user` presses the button; `channel`: as if the message were in another channel (a copied value)."""
    pressed = button(message, action_id, label)
    assert pressed is not None, f"no {action_id} button: {message.blocks}"
    shown = replace(message, channel=channel) if channel else message
    payload = block_actions_payload(
        pressed, shown, user=user, user_name=user.lower(), thread_ts=message.thread_ts
    )
    started = time.monotonic()
    response = send_interaction(sender, payload)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 3.0, "acknowledged within Slack's 3 seconds"
    return response
