"""Long answers, end to end over real HTTP: up to about four messages' worth an answer arrives split
into parts; beyond that the thread shows its start and the whole answer is shared as a markdown file in
the thread, once. A Slack that refuses files leaves the start and the session link. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from bot.slack.render import neutralize
from bot.turns.deliver import LONG_ANSWER
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def test_an_answer_of_four_messages_arrives_in_parts_without_a_file(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} the report #long={LONG_ANSWER - 1500}")
    rig.wait_reaction(question)
    replies = rig.bot_replies(question)
    assert len(replies) >= 4 and not any(r.files for r in replies)
    assert rig.slack.files == {}


def test_a_longer_answer_shows_its_start_and_is_shared_whole_as_a_file(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} the full report #long={3 * LONG_ANSWER}")
    rig.wait_reaction(question)
    rig.settle()
    start, shared = rig.bot_replies(question)
    assert "📄 The answer is long" in start.markdown and "# Report from claude" in start.markdown
    assert len(start.markdown) <= 3000
    (file,) = shared.files
    (turn,) = rig.turns()
    assert file["name"] == f"answer-{turn.id}.md" and file["content"].decode() == neutralize(
        turn.answer_text or ""
    )
    assert turn.file_state == "uploaded" and turn.file_id == file["id"]
    assert len(rig.slack.files) == 1, "uploaded once"


def test_a_slack_that_refuses_files_leaves_the_start_and_the_session(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.inject("files.getUploadURLExternal", "missing_scope", count=10)
    question = rig.say("UALICE", f"{MENTION} the full report #long={3 * LONG_ANSWER}")
    rig.wait_reaction(question, messages.DONE)
    (start,) = rig.bot_replies(question)
    assert "📄 The answer is long" in start.markdown and "[View session]" in start.markdown
    assert rig.turns()[0].file_state == "refused"
