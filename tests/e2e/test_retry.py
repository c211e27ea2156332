"""Retry, end to end over real HTTP: a failed turn (Blocks refused it, the agent answered with a failure
notice) or one that gave up waiting carries Retry; a press sends the same text again as a new turn of the
thread, once however often it is pressed, and the thread gets the answer. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import controls, messages
from bot.turns import states
from tests.conftest import Rig
from tests.presses import press, with_button

MENTION = f"<@{BOT_USER_ID}>"


def retry_notice(rig: Rig, question: StubMessage) -> StubMessage:
    found = with_button(rig.bot_replies(question), controls.RETRY)
    assert found is not None, f"no Retry button: {[r.blocks for r in rig.bot_replies(question)]}"
    return found


def sent(rig: Rig) -> list[str]:
    return [m["message"] for m in rig.blocks.snapshot()["user_messages"]]


def test_a_refused_request_is_retried_with_the_same_text_once_however_often_pressed(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "try later"})
    question = rig.say("UALICE", f"{MENTION} summarise the incident")
    rig.wait_reaction(question, messages.FAILED)
    notice = retry_notice(rig, question)

    press(rig.sender, notice, controls.RETRY, "UALICE")
    press(rig.sender, notice, controls.RETRY, "UALICE")

    rig.wait_reaction(question, messages.DONE)
    rig.settle()
    assert not question.reactions.get(messages.FAILED), "❌ gives way to ✅"
    assert len(sent(rig)) == 1 and "summarise the incident" in sent(rig)[0]
    turns = rig.turns()
    assert [t.outcome for t in turns] == [states.FAILED, states.ANSWERED]
    assert turns[1].retry_of == turns[0].id and turns[1].submit_text == turns[0].submit_text
    assert "summarise the incident" in rig.answer_text(question)


def test_a_failure_notice_from_the_agent_fails_the_turn_and_carries_retry(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} fix the login #fail=auth")
    rig.wait_reaction(question, messages.FAILED)
    answer = rig.answer_text(question)
    assert "Authentication failed" in answer
    (turn,) = rig.turns()
    assert turn.outcome == states.FAILED
    notice = retry_notice(rig, question)
    assert not [b for b in notice.blocks if b.get("type") == "context_actions"], "no 👍/👎 on a failure"

    press(rig.sender, notice, controls.RETRY, "UBOB")
    rig.wait(lambda: len(rig.turns()) == 2 and rig.turns()[1].outcome is not None, what="the retry")
    retried = rig.turns()[1]
    assert retried.requested_by == "UBOB" and retried.retry_of == turn.id
    assert len(sent(rig)) == 2 and sent(rig)[0] == sent(rig)[1], "the same text again, in the same session"


def test_retry_on_a_busy_thread_does_nothing_and_says_so(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "no"})
    question = rig.say("UALICE", f"{MENTION} first try")
    rig.wait_reaction(question, messages.FAILED)
    notice = retry_notice(rig, question)
    busy = rig.say("UALICE", "something else #delay=30", thread=question)
    rig.wait(lambda: any(t.phase == states.ACTIVE and t.submitted_at for t in rig.turns()), what="busy")

    press(rig.sender, notice, controls.RETRY, "UALICE")

    assert len(rig.turns()) == 2, "no retry while another turn runs"
    assert busy.reactions.get(messages.EYES)
    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the hint")
    (hint,) = rig.slack.calls_to("chat.postEphemeral")
    assert hint["params"]["user"] == "UALICE" and hint["params"]["thread_ts"] == question.ts
    assert hint["params"]["text"] == messages.RETRY_BUSY


def test_a_retry_pressed_by_someone_who_may_not_drive_the_agent_is_undone(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.guests.add("UGUEST")
    rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "no"})
    question = rig.say("UALICE", f"{MENTION} first try")
    rig.wait_reaction(question, messages.FAILED)
    notice = retry_notice(rig, question)

    press(rig.sender, notice, controls.RETRY, "UGUEST")
    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the refusal")
    rig.settle()
    assert rig.slack.calls_to("chat.postEphemeral")[0]["params"]["user"] == "UGUEST"
    assert sent(rig) == [], "nothing of the guest's retry reached Blocks"
    assert [t.outcome for t in rig.turns()] == [states.FAILED, "refused"]

    press(rig.sender, notice, controls.RETRY, "UALICE")  # the retry was given back: Alice may retry
    rig.wait_reaction(question, messages.DONE)
    assert len(sent(rig)) == 1 and "first try" in sent(rig)[0]
