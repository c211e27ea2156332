"""Messages that are not requests, end to end: an empty mention or `help` gets the usage reply, a
misspelt agent gets the list of agents; nothing of either reaches Blocks, and the thread then works as
any other. Other `/words` still go to Blocks (they are skills)."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import CORE_AGENTS
from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from bot.turns import states
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def _reply(rig: Rig, text: str) -> str:
    question = rig.say("UALICE", text)
    rig.wait(lambda: rig.bot_replies(question), what="the reply")
    rig.settle()
    assert not question.reactions.get(messages.EYES)
    return rig.answer_text(question)


def test_an_empty_mention_and_help_get_the_usage_and_nothing_reaches_blocks(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    for text in (MENTION, f"{MENTION} help", f"{MENTION}   HELP  "):
        reply = _reply(rig, text)
        assert "Mention me with what you want done" in reply and "`/codex`" in reply, reply
    assert rig.blocks.log == [], "no Blocks request at all"
    assert {t.outcome for t in rig.turns()} == {states.USAGE}


def test_a_misspelt_agent_gets_the_agents_and_nothing_reaches_blocks(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    for word, meant in (("/codx", "codex"), ("/gemnii", "gemini"), ("/Claud", "claude")):
        reply = _reply(rig, f"{MENTION} {word} fix the flaky test")
        assert f"did you mean `/{meant}`" in reply and all(f"`/{a}`" in reply for a in CORE_AGENTS), reply
    assert rig.blocks.log == []


def test_the_thread_after_a_help_works_and_skills_still_go_to_blocks(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} help")
    rig.wait(lambda: rig.bot_replies(question), what="the usage")
    follow_up = rig.say("UALICE", "/review the last commit", thread=question)
    rig.wait_reaction(follow_up)
    (session,) = rig.blocks.snapshot()["sessions"]
    sent = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert len(sent) == 1 and "/review the last commit" in sent[0], "a skill is not an agent: it is sent"
    assert session["agent"] == "claude"
