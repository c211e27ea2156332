"""`/blocks` in a test, as Slack sends it: the command typed in a channel, and the settings modal
submitted with some choices picked (signed forms over real HTTP, answered within Slack's 3 seconds)."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.preferences import views
from bot.sim.events import EventSender
from bot.sim.slack import TEAM_ID, SlackStub
from tests.conftest import CHANNEL


def slash(
    sender: EventSender,
    slack: SlackStub,
    user: str,
    text: str = "",
    *,
    channel: str = CHANNEL,
    trigger: str | None = None,
) -> str:
    """`user` types `/blocks text`; the ephemeral answer in the acknowledgement ("" when none)."""
    started = time.monotonic()
    delivery = sender.command(
        "/blocks", text, user=user, channel=channel, trigger_id=trigger or slack.new_trigger()
    )
    assert delivery.status == 200, delivery.body
    assert time.monotonic() - started < 3.0, "answered within Slack's 3 seconds"
    # Bolt answers a text alone as plain text (Slack shows it only to who typed the command).
    return delivery.body


def submission(
    slack: SlackStub, user: str, choices: dict[str, str], *, custom_agent: str = ""
) -> dict[str, Any]:
    """The `view_submission` of the last modal with `choices` picked (name → option value, "inherit"
    for the default), the others as the modal showed them."""
    modal = slack.opened_views[-1]
    values: dict[str, Any] = {}
    for block in modal["blocks"]:
        name = block.get("block_id")
        if block.get("type") != "input" or name == views.CUSTOM_AGENT_BLOCK:
            continue
        element = block["element"]
        picked = choices.get(name, element["initial_option"]["value"])
        option = next(o for o in element["options"] if o["value"] == picked)
        values[name] = {views.SELECT: {"type": "static_select", "selected_option": option}}
    values[views.CUSTOM_AGENT_BLOCK] = {
        views.CUSTOM_AGENT_INPUT: {"type": "plain_text_input", "value": custom_agent or None}
    }
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_ID.lower()},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0SIM",
        "trigger_id": slack.new_trigger(),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {**modal, "team_id": TEAM_ID, "state": {"values": values}},
    }


def submit(
    sender: EventSender, slack: SlackStub, user: str, choices: dict[str, str], *, custom_agent: str = ""
) -> dict[str, Any] | None:
    """Submit the last modal; the bot's answer (None: the modal closed)."""
    started = time.monotonic()
    delivery = sender.interaction(submission(slack, user, choices, custom_agent=custom_agent))
    assert delivery.status == 200, delivery.body
    assert time.monotonic() - started < 3.0, "answered within Slack's 3 seconds"
    return json.loads(delivery.body) if delivery.body else None


def announcements(slack: SlackStub, channel: str = CHANNEL) -> list[str]:
    """What the bot posted in the channel itself (not in a thread): its settings notices."""
    return [
        c["params"]["text"]
        for c in slack.calls_to("chat.postMessage")
        if c["params"].get("channel") == channel and not c["params"].get("thread_ts")
    ]
