"""Text nobody here wrote (a person's message, an agent's answer) never breaks a turn, on either database."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.db.models import InboundMessage
from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID
from bot.storable import REPLACEMENT
from tests.conftest import CHANNEL, Rig

MENTION = f"<@{BOT_USER_ID}>"
# Half of an emoji (a service split UTF-16) and a NUL: both arrive as JSON escapes.
UNSTORABLE = "cut \ud83d emoji \x00 nul"


def test_a_message_with_half_an_emoji_and_a_nul_is_recorded_and_answered(rig: Rig) -> None:
    message = rig.slack.human_message(CHANNEL, "UALICE", f"{MENTION} look at {UNSTORABLE}")
    payload = envelope(
        message_event(channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts, kind="app_mention")
    )
    assert "\\ud83d" in json.dumps(payload) and "\\u0000" in json.dumps(payload), "sent as JSON escapes"
    delivery = rig.sender.send(payload)
    assert delivery.status == 200, delivery.body
    rig.wait_reaction(message)
    with rig.engine.connect() as conn:
        stored = conn.execute(select(InboundMessage.text)).scalar_one()
    assert stored == f"look at cut {REPLACEMENT} emoji {REPLACEMENT} nul"


def test_an_answer_with_half_an_emoji_and_a_nul_is_delivered(rig: Rig) -> None:
    rig.blocks.answer = lambda agent, text: f"Done. {UNSTORABLE}"
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    assert rig.bot_replies(question)[0].markdown.startswith(
        f"Done. cut {REPLACEMENT} emoji {REPLACEMENT} nul"
    )
    assert rig.turns()[0].polls <= 3, "answered at once, not re-polled"
