"""A conversation end to end: the real bot over HTTP, the Blocks simulator, the Slack stub."""

from __future__ import annotations

import re

from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def test_mention_gets_eyes_placeholder_answer_and_check(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} why does the nightly build fail?")
    rig.wait_reaction(question)
    replies = rig.bot_replies(question)
    assert len(replies) == 1, "the placeholder itself becomes the answer"
    answer = replies[0]
    assert answer.edited >= 1
    assert "why does the nightly build fail?" in answer.markdown
    assert "[View session](https://blocks.team/app/sim-workspace/sessions/" in answer.markdown
    assert messages.EYES not in {k for k, v in question.reactions.items() if v}
    # The placeholder was posted with the agent's name, before the session existed.
    first_post = rig.slack.calls_to("chat.postMessage")[0]["params"]
    assert "*claude* is working on it" in first_post["text"]
    assert first_post["thread_ts"] == question.ts
    session = rig.blocks.snapshot()["sessions"]
    assert len(session) == 1 and session[0]["agent"] == "claude"
    sent = rig.blocks.snapshot()["user_messages"][0]["message"]
    assert sent == "Slack message from @alice:\nwhy does the nightly build fail?"


def test_leading_agent_token_picks_the_agent_and_skills_pass_through(rig: Rig) -> None:
    codex = rig.say("UALICE", f"{MENTION} /codex fix the flaky test")
    skill = rig.say("UBOB", f"{MENTION} /review-pr please look at #42")
    rig.wait_reaction(codex)
    rig.wait_reaction(skill)
    agents = sorted(s["agent"] for s in rig.blocks.snapshot()["sessions"])
    assert agents == ["claude", "codex"]
    texts = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert "Slack message from @alice:\nfix the flaky test" in texts
    assert "Slack message from @bob:\n/review-pr please look at #42" in texts


def test_thread_reply_is_a_follow_up_in_the_same_session(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} what is our retry policy?")
    rig.wait_reaction(question)
    follow_up = rig.say("UALICE", "and the backoff cap?", thread=question)
    rig.wait_reaction(follow_up)
    state = rig.blocks.snapshot()
    assert len(state["sessions"]) == 1
    assert len(state["sessions"][0]["threads"]) == 2
    replies = rig.bot_replies(question)
    assert len(replies) == 2
    assert "and the backoff cap?" in replies[1].markdown


def test_replies_while_busy_are_queued_and_sent_as_one_follow_up(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} refactor the client #delay=1.5")
    rig.wait_reaction(question, messages.EYES)
    first = rig.say("UBOB", "also rename the module", thread=question)
    second = rig.say("UCAROL", "and keep the old name as an alias", thread=question)
    rig.wait_reaction(first, messages.INBOX)
    rig.wait_reaction(second, messages.INBOX)
    rig.wait_reaction(first)
    rig.wait_reaction(second)
    rig.settle()
    sent = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert len(sent) == 2, "the two queued replies went to Blocks as one follow-up"
    assert "From @bob:\nalso rename the module" in sent[1]
    assert "From @carol:\nand keep the old name as an alias" in sent[1]
    assert sent[1].index("@bob") < sent[1].index("@carol")
    assert not first.reactions.get(messages.INBOX) and not second.reactions.get(messages.INBOX)
    replies = [r.markdown for r in rig.bot_replies(question)]
    assert replies.count(messages.QUEUED_SENT) == 1, "one queued notice for the batch, and it says they went"
    assert len(replies) == 3, "besides it, one answer for the question and one for the merged batch"


def test_interrupt_policy_sends_the_reply_at_once_and_says_so(make_rig: object) -> None:
    rig = make_rig(busy_policy="interrupt")  # type: ignore[operator]
    question = rig.say("UALICE", f"{MENTION} long task #delay=30")
    rig.wait(lambda: any(t.step == "poll" for t in rig.turns()), what="the first turn to be polled")
    correction = rig.say("UALICE", "actually, do it differently", thread=question)
    rig.wait_reaction(correction)
    rig.settle()
    replies = rig.bot_replies(question)
    assert "Interrupted" in replies[0].markdown
    assert "actually, do it differently" in replies[1].markdown
    assert question.reactions.get(messages.STOPPED)
    assert len(rig.blocks.snapshot()["sessions"][0]["threads"]) == 2


def test_direct_message_is_a_conversation(rig: Rig) -> None:
    dm = rig.say("UALICE", "hello from a DM", channel="D0ALICE", channel_type="im")
    rig.wait_reaction(dm)
    follow_up = rig.say("UALICE", "and again", channel="D0ALICE", channel_type="im", thread=dm)
    rig.wait_reaction(follow_up)
    assert len(rig.blocks.snapshot()["sessions"]) == 1
    assert len(rig.bot_replies(dm)) == 2


def test_mention_mid_thread_carries_the_earlier_messages(rig: Rig) -> None:
    top = rig.slack.human_message("C0TEST", "UBOB", "the deploy is stuck again")
    rig.slack.human_message("C0TEST", "UCAROL", "it's the migration lock, I think", top.ts)
    mention = rig.say("UALICE", f"{MENTION} can you check?", thread=top)
    rig.wait_reaction(mention)
    sent = rig.blocks.snapshot()["user_messages"][0]["message"]
    assert sent.startswith("Earlier messages in this Slack thread, oldest first:\n")
    assert "@bob: the deploy is stuck again" in sent
    assert "@carol: it's the migration lock, I think" in sent
    assert sent.endswith("Slack message from @alice:\ncan you check?")


def test_plain_reply_in_a_thread_without_the_bot_is_ignored(rig: Rig) -> None:
    top = rig.slack.human_message("C0TEST", "UBOB", "lunch?")
    rig.say("UCAROL", "sure", thread=top)
    rig.say("UBOB", "no mention at the top level")
    assert rig.turns() == []
    assert rig.blocks.log == []


def test_users_of_other_organizations_are_ignored_unless_allowed(make_rig: object) -> None:
    rig = make_rig()  # type: ignore[operator]
    outsider = rig.say("UEXT", f"{MENTION} hi from a partner", user_team="T0OTHER")
    assert rig.turns() == [] and not outsider.reactions
    rig.service.stop()
    allowed = make_rig(allow_external_users=True)  # type: ignore[operator]
    welcome = allowed.say("UEXT", f"{MENTION} hi again", user_team="T0OTHER")
    allowed.wait_reaction(welcome)


def test_files_are_listed_not_forwarded_and_the_user_is_told(rig: Rig) -> None:
    files = [{"id": "F1", "name": "trace.log", "permalink": "https://sim.slack.com/files/F1"}]
    question = rig.say("UALICE", f"{MENTION} what is in this log?", subtype="file_share", files=files)
    rig.wait_reaction(question)
    sent = rig.blocks.snapshot()["user_messages"][0]["message"]
    assert "- trace.log: https://sim.slack.com/files/F1" in sent
    placeholder = rig.slack.calls_to("chat.postMessage")[0]["params"]["text"]
    assert "Files are not forwarded" in placeholder


def test_slack_markup_reaches_the_agent_as_markdown(rig: Rig) -> None:
    text = f"{MENTION} ask <@UBOB> in <#C123|eng> about <https://x.dev/a?b=1&amp;c=2|the doc> &lt;now&gt;"
    question = rig.say("UALICE", text)
    rig.wait_reaction(question)
    sent = rig.blocks.snapshot()["user_messages"][0]["message"]
    assert sent.endswith("ask @bob in #eng about [the doc](https://x.dev/a?b=1&c=2) <now>")


def test_private_sessions_setting_marks_dm_sessions_private(make_rig: object) -> None:
    rig = make_rig(private_sessions=True)  # type: ignore[operator]
    dm = rig.say("UALICE", "secret stuff", channel="D0ALICE", channel_type="im")
    public = rig.say("UBOB", f"{MENTION} public stuff")
    rig.wait_reaction(dm)
    rig.wait_reaction(public)
    sessions = {s["agent"]: s for s in rig.blocks.snapshot()["sessions"]}
    privacy = sorted(s["is_private"] for s in rig.blocks.snapshot()["sessions"])
    assert privacy == [False, True] and sessions
    assert "private in Blocks" in rig.answer_text(dm)


def test_late_answer_also_mentions_the_requester(make_rig: object) -> None:
    rig = make_rig(late_answer_seconds=0.5)  # type: ignore[operator]
    question = rig.say("UALICE", f"{MENTION} slow one #delay=1")
    rig.wait_reaction(question)
    rig.settle()
    texts = [m.text for m in rig.bot_replies(question)]
    assert texts[-1] == "<@UALICE> the answer is ready (above)."
    assert len(texts) == 2


def test_the_placeholder_shows_what_the_agent_does_its_steps_and_its_plan_while_it_works(
    make_rig: object,
) -> None:
    rig = make_rig(progress_edit_seconds=0.2)  # type: ignore[operator]
    question = rig.say("UALICE", f"{MENTION} investigate #delay=3")
    rig.wait_reaction(question)
    edits = [c["params"]["text"] for c in rig.slack.calls_to("chat.update")]
    progress = [e for e in edits if "is working on it" in e and " step" in e]
    assert len(progress) >= 2, edits
    counts = [int(re.search(r"(\d+)\+? steps?", e).group(1)) for e in progress]  # type: ignore[union-attr]
    assert counts == sorted(counts), "the count of steps only grows"
    # The simulated Claude Code: a plan, a search, two reads, an edit, the tests run (bot/sim/agent_tools).
    activities = " ".join(progress)
    assert any(
        doing in activities
        for doing in (
            "Searching for `def parse_args`",
            "Reading",
            "Editing `/work/repo/src/cli.py`",
            "Running",
        )
    ), progress
    last = progress[-1]
    assert "8 steps" in last and "_Looking at the code…_" in last, last
    assert "☑ Find where the arguments are parsed" in last and "▸ Run the tests" in last, last
    assert "[View session]" in last
    answer = rig.answer_text(question)
    assert "is working on it" not in answer, "the answer replaces the progress"
    # The result card's footer: agent · time taken · steps · the session.
    assert re.search(r"\nclaude · [34] s · 8 steps · \[View session\]\(https://", answer), answer
