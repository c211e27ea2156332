"""Slack's native agent session, end to end over real HTTP: the thread is `processing` while a turn works
(with a title from the request) and `active` (idle) once the last turn ends, a stop included; a workspace
whose Slack refuses the method keeps the plain placeholder and is not asked again. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.db.models import SlackCapability
from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from tests.conftest import Rig
from tests.e2e.test_stop import press_stop, running, stop_button

MENTION = f"<@{BOT_USER_ID}>"


def statuses(rig: Rig, question: object) -> list[str]:
    session = rig.slack.agent_sessions.get((question.channel, question.ts))  # type: ignore[attr-defined]
    return list(session["statuses"]) if session else []


def test_the_thread_is_processing_while_the_agent_works_and_idle_after(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} fix the flaky test #delay=1")
    rig.wait(lambda: statuses(rig, question) == ["processing"], what="processing")
    assert rig.slack.agent_sessions[(question.channel, question.ts)]["title"] == "fix the flaky test #delay=1"
    rig.wait_reaction(question)
    rig.settle()
    assert statuses(rig, question) == ["processing", "active"]

    follow_up = rig.say("UALICE", "and the other one", thread=question)
    rig.wait_reaction(follow_up)
    rig.settle()
    assert statuses(rig, question) == ["processing", "active", "processing", "active"]


def test_a_stopped_turn_leaves_the_thread_idle(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} a long one #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)
    press_stop(rig, "UALICE", placeholder)
    rig.wait_reaction(question, messages.STOPPED)
    rig.settle()
    assert statuses(rig, question)[-1] == "active"


def test_a_slack_without_agent_sessions_keeps_the_plain_placeholder_and_is_not_asked_again(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.inject("agents.sessions.setStatus", "unknown_method", count=100)
    first = rig.say("UALICE", f"{MENTION} one")
    rig.wait_reaction(first)
    second = rig.say("UALICE", f"{MENTION} two")
    rig.wait_reaction(second)
    rig.settle()
    assert len(rig.slack.calls_to("agents.sessions.setStatus")) == 1, "asked once, then remembered"
    with rig.engine.connect() as conn:
        assert conn.execute(select(SlackCapability.error)).scalars().all() == ["unknown_method"]
    assert "[View session]" in rig.answer_text(second)
