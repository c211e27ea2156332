"""Every error a user can meet is shown in the thread in plain words, and nothing is lost or doubled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import messages
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"
CREATE = r"^/rest/v1/sessions$"
FOLLOW_UP = r"^/rest/v1/sessions/[^/]+/messages$"
THREAD = r"/threads/"


def _posts(rig: Rig, path: str) -> list[dict[str, object]]:
    import re

    return [e for e in rig.blocks.log if e["method"] == "POST" and re.search(path, str(e["path"]))]


def _warned(rig: Rig, message: StubMessage, top: StubMessage | None = None) -> str:
    """Wait for ❌ (failed) or ⏱️ (gave up waiting) on `message`, then return all the bot wrote in its
    thread."""
    rig.wait(
        lambda: message.reactions.get(messages.FAILED) or message.reactions.get(messages.GAVE_UP),
        what="the failure's reaction",
    )
    rig.settle()
    return rig.answer_text(top or message)


def test_a_bad_blocks_key_is_explained(rig: Rig) -> None:
    rig.blocks.config.api_keys = ["the-right-key"]
    question = rig.say("UALICE", f"{MENTION} hello")
    answer = _warned(rig, question)
    assert "Blocks rejected the bot's API key (403)" in answer and "BLOCKS_API_KEY" in answer
    assert "test-blocks-key" not in answer


def test_a_validation_error_is_shown_in_both_shapes(rig: Rig) -> None:
    rig.blocks.inject(method="POST", path=CREATE, status=422, body={"error": "Unknown agent_name: claude"})
    first = rig.say("UALICE", f"{MENTION} one")
    assert "Blocks rejected the request (422): Unknown agent_name: claude" in _warned(rig, first)
    rig.blocks.inject(
        method="POST",
        path=CREATE,
        status=400,
        body={"error": {"code": "VALIDATION", "message": "agent_name is invalid"}},
    )
    second = rig.say("UBOB", f"{MENTION} two")
    assert "(400): agent_name is invalid (VALIDATION)" in _warned(rig, second)
    assert len(_posts(rig, CREATE)) == 2, "no retry on a rejected request"


def test_a_reply_in_the_thread_after_an_error_tries_again(rig: Rig) -> None:
    rig.blocks.inject(method="POST", path=CREATE, status=422, body={"error": "temporarily refused"})
    question = rig.say("UALICE", f"{MENTION} hello")
    _warned(rig, question)
    again = rig.say("UALICE", "try again please", thread=question)
    rig.wait_reaction(again)
    assert len(rig.blocks.snapshot()["sessions"]) == 1


def test_a_session_that_is_gone_is_explained(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.blocks.reset()  # the session no longer exists in Blocks
    follow_up = rig.say("UALICE", "still there?", thread=question)
    answer = _warned(rig, follow_up, top=question)
    assert "no longer exists (404)" in answer and "Start a new thread" in answer


def test_an_unconfirmed_create_is_reported_not_repeated(rig: Rig) -> None:
    rig.blocks.inject(method="POST", path=CREATE, status=500, when="after")
    question = rig.say("UALICE", f"{MENTION} build it")
    answer = _warned(rig, question)
    assert "Blocks did not confirm that the session was created" in answer
    assert len(_posts(rig, CREATE)) == 1
    assert len(rig.blocks.snapshot()["sessions"]) == 1, "Blocks did create it; we did not create another"


def test_a_read_timeout_on_create_is_reported_not_repeated(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(blocks_timeout_seconds=0.5)
    rig.blocks.inject(method="POST", path=CREATE, status=200, hang=1.5)
    question = rig.say("UALICE", f"{MENTION} build it")
    assert "did not confirm" in _warned(rig, question)
    assert len(rig.blocks.snapshot()["sessions"]) == 1


def test_an_unconfirmed_follow_up_that_arrived_is_adopted(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.blocks.inject(method="POST", path=FOLLOW_UP, status=500, when="after")
    follow_up = rig.say("UALICE", "next step", thread=question)
    rig.wait_reaction(follow_up)
    assert len(rig.blocks.snapshot()["user_messages"]) == 2, "not sent twice"
    assert "next step" in rig.bot_replies(question)[-1].markdown


def test_an_unconfirmed_follow_up_that_did_not_arrive_is_sent_again(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.blocks.inject(method="POST", path=FOLLOW_UP, status=500, when="before")
    follow_up = rig.say("UALICE", "next step", thread=question)
    rig.wait_reaction(follow_up)
    assert len(rig.blocks.snapshot()["user_messages"]) == 2
    assert len(_posts(rig, FOLLOW_UP)) == 2


def test_a_repeated_follow_up_that_never_arrived_is_sent_not_taken_for_the_first(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    first = rig.say("UALICE", "continue", thread=question)
    rig.wait_reaction(first)
    rig.blocks.inject(method="POST", path=FOLLOW_UP, status=500, when="before")
    second = rig.say("UALICE", "continue", thread=question)
    rig.wait_reaction(second)
    rig.settle()
    sent = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert len(sent) == 3 and sent[1] == sent[2], "the second 'continue' reached the agent"
    threads = [t.blocks_thread_id for t in rig.turns()]
    assert len(set(threads)) == 3, "each turn has its own Blocks thread, none adopted another's"


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_on_create_is_reported_not_repeated(rig: Rig, status: int) -> None:
    rig.blocks.inject(method="POST", path=CREATE, status=status, when="after")
    question = rig.say("UALICE", f"{MENTION} build it")
    assert "Blocks did not confirm that the session was created" in _warned(rig, question)
    assert len(_posts(rig, CREATE)) == 1
    assert len(rig.blocks.snapshot()["sessions"]) == 1, "no second session"


@pytest.mark.parametrize(("status", "when", "posts"), [(502, "after", 1), (504, "before", 2)])
def test_a_gateway_error_on_a_follow_up_is_looked_up(rig: Rig, status: int, when: str, posts: int) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.blocks.inject(method="POST", path=FOLLOW_UP, status=status, when=when)
    follow_up = rig.say("UALICE", "next step", thread=question)
    rig.wait_reaction(follow_up)
    assert len(rig.blocks.snapshot()["user_messages"]) == 2, "sent exactly once"
    assert len(_posts(rig, FOLLOW_UP)) == posts


# Retrying is the worker's, not the database's (the crash tests cover both databases).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_blocks_unavailable_is_retried_until_it_answers(rig: Rig) -> None:
    rig.blocks.inject(method="POST", path=CREATE, status=503, count=2)
    rig.blocks.inject(method="GET", path=THREAD, status=503, count=2)
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question, timeout=30)
    assert len(rig.blocks.snapshot()["sessions"]) == 1
    assert len(rig.bot_replies(question)) == 1


def test_a_blocks_429_pauses_the_budget_and_honours_retry_after(rig: Rig) -> None:
    rig.blocks.inject(
        method="GET", path=THREAD, status=429, retry_after=1, body={"error": "Rate limit exceeded"}
    )
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question, timeout=30)
    polls = [e for e in rig.blocks.log if e["method"] == "GET"]
    limited = next(e for e in polls if e["status"] == 429)
    after = [e for e in polls if e["at"] > limited["at"]]
    assert after and after[0]["at"] - limited["at"] >= 0.9, "nothing was sent during the pause"


def test_past_the_deadline_the_thread_is_told_and_the_answer_still_arrives(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(turn_deadline_seconds=0.5, poll_past_deadline_seconds=0.3)
    question = rig.say("UALICE", f"{MENTION} big job #delay=2")
    rig.wait_reaction(question, timeout=30)
    edits = [c["params"]["text"] for c in rig.slack.calls_to("chat.update")]
    assert any("is still working after" in e for e in edits)
    assert "big job" in rig.bot_replies(question)[0].markdown


def test_past_the_horizon_the_bot_stops_waiting_and_says_so(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(turn_deadline_seconds=0.3, turn_horizon_seconds=1.0, poll_past_deadline_seconds=0.2)
    question = rig.say("UALICE", f"{MENTION} endless #never")
    queued = rig.say("UBOB", "me too", thread=question)
    answer = _warned(rig, question)
    assert "stopped waiting" in answer and "[View session]" in answer
    assert question.reactions.get(messages.GAVE_UP), "⏱️: the bot gave up waiting"
    rig.wait_reaction(
        queued, messages.GAVE_UP, timeout=30
    )  # the queued reply went next, and hit the same wall


def test_slack_rate_limits_delay_the_answer_but_never_lose_or_double_it(rig: Rig) -> None:
    rig.slack.inject("chat.update", "ratelimited", count=3)
    rig.slack.inject("reactions.add", "ratelimited", count=1)
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question, timeout=30)
    rig.settle()
    replies = rig.bot_replies(question)
    assert len(replies) == 1 and "hello" in replies[0].markdown
    assert len(rig.blocks.snapshot()["sessions"]) == 1


def test_a_channel_the_bot_cannot_write_to_creates_no_session(rig: Rig) -> None:
    rig.slack.inject("chat.postMessage", "not_in_channel")
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait(lambda: rig.turns() and rig.turns()[0].outcome == "undeliverable", what="the turn to give up")
    assert rig.blocks.snapshot()["sessions"] == []
    assert "not_in_channel" in (rig.turns()[0].last_error or "")
    assert not rig.bot_replies(question)


def test_an_archived_channel_ends_the_turn(rig: Rig) -> None:
    rig.slack.inject("reactions.add", "is_archived")  # a reaction is decoration: dropped
    rig.slack.inject("chat.postMessage", "is_archived")  # the placeholder is not
    rig.say("UALICE", f"{MENTION} hello")
    rig.wait(lambda: rig.turns() and rig.turns()[0].outcome == "undeliverable", what="the turn to give up")


def test_a_revoked_slack_token_is_retried_much_later(rig: Rig) -> None:
    rig.slack.inject("reactions.add", "token_revoked")
    rig.say("UALICE", f"{MENTION} hello")
    rig.wait(lambda: rig.turns() and rig.turns()[0].last_error, what="the error to be recorded")
    turn = rig.turns()[0]
    assert "token_revoked" in (turn.last_error or "")
    assert turn.next_run_at is not None and turn.next_run_at - turn.updated_at >= 200


def test_a_queued_reply_deleted_before_its_turn_does_not_sink_the_batch(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} work #delay=1.5")
    rig.wait_reaction(question, messages.EYES)
    doomed = rig.say("UBOB", "never mind this one", thread=question)
    kept = rig.say("UCAROL", "but do this", thread=question)
    rig.wait_reaction(kept, messages.INBOX)
    with rig.slack._lock:
        del rig.slack.messages[(doomed.channel, doomed.ts)]  # Bob deletes his reply
    rig.wait_reaction(kept, timeout=30)
    assert "but do this" in rig.blocks.snapshot()["user_messages"][-1]["message"]
