"""The buttons of a turn's messages, as Slack blocks, and their action ids.

A button's `value` names the turn it acts on; the listener checks it against the workspace and channel
the press came from, so a value copied elsewhere acts on nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.pull_requests import MAX_SHOWN, PullRequest
from bot.workspace import Delivery

logger = logging.getLogger(__name__)

STOP = "blocks_stop"
RUNNING_BLOCK = "blocks_turn_running"
FEEDBACK = "blocks_feedback"
ANSWER_BLOCK = "blocks_turn_answered"
RETRY = "blocks_retry"
RETRY_BLOCK = "blocks_turn_failed"
SEND_NOW = "blocks_send_now"
QUEUED_BLOCK = "blocks_turn_queued"
OPEN_PR = "blocks_open_pr"  # + its position: action ids are unique within a block
PULL_REQUESTS_BLOCK = "blocks_turn_pull_requests"


def running(turn_id: int) -> dict[str, Any]:
    """Under a running turn's placeholder: Stop."""
    return _button_block(RUNNING_BLOCK, STOP, "Stop", turn_id, style="danger")


def queued(turn_id: int) -> dict[str, Any]:
    """Under the queued notice of a waiting turn: Send now."""
    return _button_block(QUEUED_BLOCK, SEND_NOW, "Send now", turn_id)


def _button_block(block_id: str, action_id: str, label: str, turn_id: int, style: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": str(turn_id),
    }
    if style:
        button["style"] = style
    return {"type": "actions", "block_id": block_id, "elements": [button]}


def failed(turn_id: int) -> dict[str, Any]:
    """Under a failed turn's notice (or failure answer), and one that gave up waiting: Retry."""
    return _button_block(RETRY_BLOCK, RETRY, "Retry", turn_id)


def pull_requests(prs: Sequence[PullRequest]) -> dict[str, Any]:
    """Under an answer: a link button for each pull request the agent opened (the first few)."""
    return {
        "type": "actions",
        "block_id": PULL_REQUESTS_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": f"{OPEN_PR}_{index}",
                "text": {"type": "plain_text", "text": pr.label, "emoji": False},
                "url": pr.url,
            }
            for index, pr in enumerate(prs[:MAX_SHOWN])
        ],
    }


def answered(turn_id: int) -> dict[str, Any]:
    """Under an answer: 👍 and 👎 (Slack's feedback buttons; pressing the other one changes it)."""

    def button(emoji: str, label: str, value: str) -> dict[str, Any]:
        return {
            "text": {"type": "plain_text", "text": emoji},
            "accessibility_label": label,
            "value": f"{value}:{turn_id}",
        }

    return {
        "type": "context_actions",
        "block_id": ANSWER_BLOCK,
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK,
                "positive_button": button("👍", "Good answer", "good"),
                "negative_button": button("👎", "Bad answer", "bad"),
            }
        ],
    }


def turn_of(action: dict[str, Any]) -> int | None:
    """The turn a pressed button names (None: not one of ours, or tampered with)."""
    value = action.get("value")
    if not isinstance(value, str) or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def feedback_of(action: dict[str, Any]) -> tuple[str, int] | None:
    """(good or bad, the turn) from a pressed feedback button's value."""
    value = action.get("value")
    if not isinstance(value, str):
        return None
    verdict, _, turn = value.partition(":")
    number = turn_of({"value": turn})
    return (verdict, number) if verdict in ("good", "bad") and number is not None else None


# -- the listeners ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackPress:
    team_id: str
    channel_id: str
    user_id: str
    turn_id: int
    value: str  # good | bad


@dataclass(frozen=True)
class TurnPress:
    """A press of a button that names its turn (Retry, Send now)."""

    team_id: str
    channel_id: str
    user_id: str
    turn_id: int


@dataclass(frozen=True)
class Presses:
    """What records each press (database work only; Slack is answered after it returns)."""

    stop: Callable[[StopPress], object]
    retry: Callable[[TurnPress], object]
    send_now: Callable[[TurnPress], object]
    feedback: Callable[[FeedbackPress], object]


@dataclass(frozen=True)
class StopPress:
    """Someone asked to stop a turn: with the Stop button (`turn_id`) or Slack's own stop (`thread_ts`)."""

    team_id: str
    channel_id: str
    user_id: str
    turn_id: int | None = None
    thread_ts: str | None = None


Includes = Callable[[str, "str | None"], bool]


def register(app: App, *, includes: Includes, presses: Presses) -> None:
    """The buttons of a turn's messages and Slack's `agent_session_stopped`: each is recorded, then
    acknowledged; the worker does the rest."""

    def stop_pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        team = _id(body.get("team"))
        enterprise = _id(body.get("enterprise"))
        channel = _id(body.get("channel"))
        user = _id(body.get("user"))
        turn_id = turn_of(action)
        if team and channel and user and turn_id is not None and includes(team, enterprise):
            presses.stop(StopPress(team, channel, user, turn_id=turn_id))
        ack()

    def natively_stopped(body: dict[str, Any], event: dict[str, Any]) -> None:
        # The workspace it was delivered for (in a shared channel the envelope's team may be the other's).
        delivery = Delivery.of(body)
        channel, thread_ts, user = event.get("channel"), event.get("thread_ts"), event.get("user")
        if delivery is None or not all(isinstance(v, str) and v for v in (channel, thread_ts, user)):
            logger.info("agent_session_stopped without workspace, channel, thread or user: ignored")
            return
        home = delivery.home
        if includes(home.team_id, home.enterprise_id):
            presses.stop(StopPress(home.team_id, str(channel), str(user), thread_ts=str(thread_ts)))

    def feedback_pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        team, channel, user = _id(body.get("team")), _id(body.get("channel")), _id(body.get("user"))
        pressed = feedback_of(action)
        if team and channel and user and pressed is not None and includes(team, _id(body.get("enterprise"))):
            presses.feedback(FeedbackPress(team, channel, user, pressed[1], pressed[0]))
        ack()

    def turn_pressed(record: Callable[[TurnPress], object]) -> Callable[..., None]:
        def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            team, channel, user = _id(body.get("team")), _id(body.get("channel")), _id(body.get("user"))
            turn_id = turn_of(action)
            if (
                team
                and channel
                and user
                and turn_id is not None
                and includes(team, _id(body.get("enterprise")))
            ):
                record(TurnPress(team, channel, user, turn_id))
            ack()

        return pressed

    def link_opened(ack: Ack) -> None:
        ack()  # a link button opens its page in Slack; Slack still tells the app, which has nothing to do

    app.action(re.compile(f"^{OPEN_PR}_"))(link_opened)
    app.action(STOP)(stop_pressed)
    app.action(FEEDBACK)(feedback_pressed)
    app.action(RETRY)(turn_pressed(presses.retry))
    app.action(SEND_NOW)(turn_pressed(presses.send_now))
    app.event("agent_session_stopped")(natively_stopped)


def _id(part: object) -> str | None:
    """`{"id": …}` parts of an interaction payload (team, enterprise, channel, user)."""
    value = part.get("id") if isinstance(part, dict) else None
    return value if isinstance(value, str) and value else None
