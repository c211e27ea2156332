"""Send now, end to end over real HTTP: replies queued while the agent works get a queued notice with
Send now; a press interrupts the running turn (its placeholder says who) and sends the queued replies at
once; someone who may not continue the thread gets an ephemeral no; replies held back by a stop go at
once too. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import controls, messages
from bot.turns import states
from tests.conftest import Rig
from tests.e2e.test_stop import press_stop, running, stop_button
from tests.presses import press, with_button

MENTION = f"<@{BOT_USER_ID}>"


def queued_notice(rig: Rig, question: StubMessage) -> StubMessage:
    """The thread's queued notice, once it carries Send now."""

    def shown() -> StubMessage | None:
        return with_button(rig.bot_replies(question), controls.SEND_NOW)

    rig.wait(shown, what="the queued notice with Send now")
    notice = shown()
    assert notice is not None
    return notice


def sent(rig: Rig) -> list[str]:
    return [m["message"] for m in rig.blocks.snapshot()["user_messages"]]


def test_send_now_interrupts_the_running_turn_and_sends_the_queued_replies(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} a long job #delay=60")
    running(rig, question)
    reply = rig.say("UBOB", "actually, only the docs", thread=question)
    rig.wait_reaction(reply, messages.INBOX)
    notice = queued_notice(rig, question)
    assert notice.markdown == messages.QUEUED

    press(rig.sender, notice, controls.SEND_NOW, "UBOB")

    rig.wait_reaction(reply, messages.DONE)
    placeholder = rig.bot_replies(question)[0]
    assert "<@UBOB> sent the queued replies now" in placeholder.markdown
    assert question.reactions.get(messages.STOPPED), "the interrupted turn's message shows ⏹️"
    assert len(sent(rig)) == 2 and "only the docs" in sent(rig)[1]
    rig.wait(lambda: notice.markdown == messages.QUEUED_SENT, what="the notice to say they went")
    assert not [b for b in notice.blocks if b.get("type") == "actions"]
    assert [t.outcome for t in rig.turns()] == [states.INTERRUPTED, states.ANSWERED]


def test_someone_who_may_not_continue_the_thread_cannot_send_now(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(continue_threads="starter")
    question = rig.say("UALICE", f"{MENTION} a job #delay=3")
    running(rig, question)
    reply = rig.say("UALICE", "and the tests", thread=question)
    notice = queued_notice(rig, question)

    press(rig.sender, notice, controls.SEND_NOW, "UBOB")

    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the ephemeral no")
    assert rig.slack.calls_to("chat.postEphemeral")[0]["params"]["user"] == "UBOB"
    rig.wait_reaction(reply, messages.DONE)
    assert [t.outcome for t in rig.turns()] == [states.ANSWERED, states.ANSWERED], "nothing interrupted"


def test_replies_held_back_by_a_stop_go_at_once_with_send_now(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} a long job #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)
    reply = rig.say("UALICE", "then the docs", thread=question)
    notice = queued_notice(rig, question)
    press_stop(rig, "UALICE", placeholder)
    rig.wait_reaction(question, messages.STOPPED)
    rig.settle()
    assert not any("then the docs" in m for m in sent(rig))

    press(rig.sender, notice, controls.SEND_NOW, "UALICE")

    rig.wait_reaction(reply, messages.DONE)
    assert "then the docs" in sent(rig)[-1]
