"""Send now, end to end over real HTTP: replies queued while the agent works get a queued notice with
Send now; a press interrupts the running turn (its placeholder says who) and sends the queued replies at
once; someone who may not continue the thread gets an ephemeral no; replies held back by a stop go at
once too. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.chat import send_interaction
from bot.sim.slack import BOT_USER_ID, TEAM_ID, StubMessage
from bot.slack import controls, messages
from bot.turns import states
from tests.conftest import Rig
from tests.e2e.test_stop import press as press_stop
from tests.e2e.test_stop import running, stop_button

MENTION = f"<@{BOT_USER_ID}>"


def queued_notice(rig: Rig, question: StubMessage) -> tuple[StubMessage, dict[str, Any]]:
    found: list[tuple[StubMessage, dict[str, Any]]] = []

    def shown() -> bool:
        for reply in rig.bot_replies(question):
            for block in reply.blocks:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == controls.SEND_NOW:
                        found[:] = [(reply, element)]
                        return True
        return False

    rig.wait(shown, what="the queued notice with Send now")
    return found[0]


def press(rig: Rig, user: str, message: StubMessage, button: dict[str, Any]) -> None:
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
        "actions": [{**button, "block_id": controls.QUEUED_BLOCK, "action_ts": str(time.time())}],
    }
    started = time.monotonic()
    response = send_interaction(rig.sender, payload)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 3.0


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
    notice, button = queued_notice(rig, question)
    assert notice.markdown == messages.QUEUED

    press(rig, "UBOB", notice, button)

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
    notice, button = queued_notice(rig, question)

    press(rig, "UBOB", notice, button)

    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the ephemeral no")
    assert rig.slack.calls_to("chat.postEphemeral")[0]["params"]["user"] == "UBOB"
    rig.wait_reaction(reply, messages.DONE)
    assert [t.outcome for t in rig.turns()] == [states.ANSWERED, states.ANSWERED], "nothing interrupted"


def test_replies_held_back_by_a_stop_go_at_once_with_send_now(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} a long job #delay=60")
    placeholder, stop = stop_button(rig, question)
    running(rig, question)
    reply = rig.say("UALICE", "then the docs", thread=question)
    notice, button = queued_notice(rig, question)
    press_stop(rig, "UALICE", placeholder, stop)
    rig.wait_reaction(question, messages.STOPPED)
    rig.settle()
    assert not any("then the docs" in m for m in sent(rig))

    press(rig, "UALICE", notice, button)

    rig.wait_reaction(reply, messages.DONE)
    assert "then the docs" in sent(rig)[-1]
