"""Text nobody here wrote (a person's message, an agent's answer) never breaks a turn, on either database."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from bot.db.models import InboundMessage
from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from bot.slack.neutralize import neutralize_inline
from bot.storable import REPLACEMENT
from bot.turns.progress import MESSAGE_LIMIT
from tests.conftest import CHANNEL, Rig
from tests.posted_text import assert_links_honest, assert_pings_nobody

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


# What an agent or a broken, hostile Blocks could put in every place the bot shows their text.
PINGS_AND_A_DISGUISED_LINK = (
    "<!channel> <@U0ALICE> @here [**good.example.com**](https://evil.example.net/x) "
    "<https://evil.example.net|https://good.example.com>"
)


def _everything_posted(rig: Rig) -> list[str]:
    """The markdown and the plain text of every post and edit the bot made."""
    posted: list[str] = []
    for call in rig.slack.calls_to("chat.postMessage") + rig.slack.calls_to("chat.update"):
        params = call["params"]
        posted.append(str(params.get("text", "")))
        blocks = params.get("blocks")
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
        posted.extend(str(b.get("text", "")) for b in blocks if b.get("type") == "markdown")
    return posted


def test_progress_error_details_and_session_links_from_blocks_ping_nobody_and_never_disguise_a_link(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(progress_edit_seconds=0.0)
    rig.blocks.config.progress_message = PINGS_AND_A_DISGUISED_LINK
    rig.blocks.config.answer_delay = 1.5  # long enough for the placeholder to show the progress line
    rig.blocks.config.workspace_url = "javascript:alert(1)//"
    first = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(first)
    shown = f"_{neutralize_inline(PINGS_AND_A_DISGUISED_LINK, MESSAGE_LIMIT)}_"
    assert any(shown in text for text in _everything_posted(rig)), "the agent's latest message was shown"

    rig.blocks.inject(
        method="POST",
        path=r"/messages$",
        status=400,
        body={"error": PINGS_AND_A_DISGUISED_LINK, "code": "VALIDATION"},
    )
    second = rig.say("UBOB", "and this", thread=first)
    rig.wait_reaction(second, messages.FAILED)
    posted = _everything_posted(rig)
    assert any("Blocks rejected the request" in text for text in posted), posted
    for text in posted:
        assert_pings_nobody(text)
        assert_links_honest(text)
        assert "javascript:" not in text, "a session URL that is not a web address is not linked"
