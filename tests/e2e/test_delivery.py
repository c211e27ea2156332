"""Answers of any length arrive whole and harmless."""

from __future__ import annotations

import re

from bot.sim.slack import BOT_USER_ID
from bot.slack.render import WORD_JOINER
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def _reassemble(parts: list[str]) -> str:
    """Join parts back, removing the fences the splitter added to close and reopen code blocks."""
    text = parts[0]
    for part in parts[1:]:
        if text.endswith("\n```") and part.startswith("```"):
            text = text[: -len("\n```")] + "\n" + part.split("\n", 1)[1]
        else:
            text = text + "\n\n" + part
    return text


def test_a_long_answer_arrives_whole_in_several_parts(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} the full report #long=10000")  # under a file's worth
    rig.wait_reaction(question)
    rig.settle()
    parts = [m.markdown for m in rig.bot_replies(question)]
    assert len(parts) >= 4
    assert all(len(p) <= 3000 for p in parts)
    assert all(len(m.text) <= 3500 for m in rig.bot_replies(question)), "plain fallback within limits"
    code_parts = [p for p in parts if "def step_" in p]
    assert len(code_parts) >= 2
    for part in code_parts:
        assert part.count("```") % 2 == 0, "each part's code block is closed"
    assert code_parts[1].startswith("```python\n"), "a continued code block is reopened with its language"
    expected = rig.blocks.threads[rig.blocks.sessions[next(iter(rig.blocks.sessions))].threads[0]].answer
    assert _reassemble(parts).startswith(expected.strip())
    assert "That is the whole report." in parts[-1]


def test_slack_refusing_a_part_as_too_long_re_splits_it(rig: Rig) -> None:
    rig.slack.markdown_limit = 1200
    question = rig.say("UALICE", f"{MENTION} the report #long=5000")
    rig.wait_reaction(question)
    rig.settle()
    parts = [m.markdown for m in rig.bot_replies(question)]
    assert all(len(p) <= 1200 for p in parts)
    assert "That is the whole report." in parts[-1]
    refused = [c for c in rig.slack.calls_to("chat.update") if len(str(c["params"].get("blocks", ""))) > 1300]
    assert refused, "Slack refused the first, larger attempt"


def test_agent_text_cannot_ping_or_disguise_links(rig: Rig) -> None:
    rig.blocks.answer = lambda agent, text: (
        "Hey <!channel> and <!here|here> and <!everyone>, ping <@U123ABC> and <!subteam^S42|@oncall>; "
        "also @here and @channel. Click [https://good.example](https://evil.example/x) or "
        "<https://evil.example/y|https://good.example/y>."
    )
    question = rig.say("UALICE", f"{MENTION} say something")
    rig.wait_reaction(question)
    answer = rig.bot_replies(question)[0]
    for body in (answer.markdown, answer.text):
        assert "<!" not in body and "<@" not in body
        neutralized = body.replace("@" + WORD_JOINER, "")
        assert not re.search(r"@(here|channel|everyone|U123ABC|oncall)\b", neutralized)
    assert "https://good.example (https://evil.example/x)" in answer.markdown
    assert "https://good.example/y (https://evil.example/y)" in answer.markdown


def test_empty_answer_is_reported_not_left_blank(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} nothing to say #empty")
    rig.wait_reaction(question)
    assert "finished without writing an answer" in rig.bot_replies(question)[0].markdown
