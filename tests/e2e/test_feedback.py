"""👍/👎 under every answer, end to end over real HTTP: each press is recorded before Slack is answered
(who, which turn, when), pressing the other changes it, the audit shows it; a notice carries none, and a
value sent from another channel records nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.audit import audit_rows
from bot.chat import send_interaction
from bot.db.models import Feedback
from bot.sim.slack import BOT_USER_ID, TEAM_ID, StubMessage
from bot.slack import controls, messages
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def feedback_buttons(message: StubMessage) -> dict[str, Any] | None:
    for block in message.blocks:
        if block.get("type") == "context_actions":
            for element in block.get("elements", []):
                if element.get("action_id") == controls.FEEDBACK:
                    return dict(element)
    return None


def press(rig: Rig, user: str, message: StubMessage, buttons: dict[str, Any], which: str) -> None:
    chosen = buttons["positive_button" if which == "good" else "negative_button"]
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "sim"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0SIM",
        "token": "verification-token-unused",
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
        "channel": {"id": message.channel, "name": "general"},
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": controls.FEEDBACK,
                "block_id": controls.ANSWER_BLOCK,
                "text": chosen["text"],
                "value": chosen["value"],
                "action_ts": str(time.time()),
            }
        ],
    }
    response = send_interaction(rig.sender, payload)
    assert response.status_code == 200, response.text


def recorded(rig: Rig) -> dict[str, str]:
    with rig.engine.connect() as conn:
        return {row.user_id: row.value for row in conn.execute(select(Feedback.user_id, Feedback.value))}


def test_feedback_is_recorded_changed_and_audited(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} explain the retry policy")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    buttons = feedback_buttons(answer)
    assert buttons is not None, answer.blocks

    press(rig, "UBOB", answer, buttons, "good")
    assert recorded(rig) == {"UBOB": "good"}, "recorded before Slack was answered"
    press(rig, "UBOB", answer, buttons, "bad")
    press(rig, "UCAROL", answer, buttons, "good")
    assert recorded(rig) == {"UBOB": "bad", "UCAROL": "good"}, "pressing the other one changes it"

    (row,) = list(audit_rows(rig.engine))
    assert row[-3:] == ("answered", "1", "1")


def test_a_notice_has_no_feedback_and_a_value_from_another_channel_records_nothing(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "bad agent"})
    failed = rig.say("UALICE", f"{MENTION} this fails")
    rig.wait_reaction(failed, messages.FAILED)
    assert all(feedback_buttons(m) is None for m in rig.bot_replies(failed))

    question = rig.say("UALICE", f"{MENTION} and this works")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    buttons = feedback_buttons(answer)
    assert buttons is not None
    elsewhere = StubMessage(**{**answer.__dict__, "channel": "COTHER"})
    press(rig, "UBOB", elsewhere, buttons, "good")
    assert recorded(rig) == {}
