"""Stop, end to end over real HTTP: the Stop button on a running turn's placeholder and Slack's own stop
(`agent_session_stopped`) stop the turn with an interrupting follow-up; the placeholder says who stopped
it, with the agent's one line on where it left things; queued replies wait for the next message; a stop
before anything reached Blocks sends nothing; a double press stops once; someone who may not continue
the thread gets an ephemeral no. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.sim.blocks import STOPPED_LINE
from bot.sim.events import envelope
from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import controls, messages
from bot.turns import states
from tests.conftest import Rig
from tests.presses import press, with_button

MENTION = f"<@{BOT_USER_ID}>"


def stop_button(rig: Rig, question: StubMessage) -> StubMessage:
    """The placeholder of the question's running turn, once it carries its Stop button."""

    def shown() -> StubMessage | None:
        return with_button(rig.bot_replies(question), controls.STOP)

    rig.wait(shown, what="the Stop button")
    placeholder = shown()
    assert placeholder is not None
    return placeholder


def press_stop(rig: Rig, user: str, placeholder: StubMessage, *, channel: str | None = None) -> None:
    press(rig.sender, placeholder, controls.STOP, user, channel=channel)


def running(rig: Rig, question: StubMessage) -> None:
    """Wait until the question's turn is with the agent (submitted, being polled)."""
    rig.wait(
        lambda: any(t.step == states.POLL and t.submitted_at for t in rig.turns()),
        what="the turn to be with the agent",
    )


def sent_to_blocks(rig: Rig) -> list[str]:
    return [m["message"] for m in rig.blocks.snapshot()["user_messages"]]


def test_the_stop_button_stops_the_turn_and_the_placeholder_says_who_and_where_it_left_things(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} refactor everything #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)

    press_stop(rig, "UBOB", placeholder)

    rig.wait_reaction(question, messages.STOPPED)
    stopped = next(m for m in rig.bot_replies(question) if m.ts == placeholder.ts)
    assert "Stopped by <@UBOB>" in stopped.markdown and STOPPED_LINE.split(";")[0] in stopped.markdown
    assert "[View session]" in stopped.markdown
    assert not [b for b in stopped.blocks if b.get("type") == "actions"], "no Stop button on a stopped turn"
    assert not question.reactions.get(messages.EYES)
    sent = sent_to_blocks(rig)
    assert len(sent) == 2 and "pressed Stop in Slack" in sent[1], sent
    assert len(rig.blocks.snapshot()["sessions"]) == 1, "the stop is a follow-up in the same session"
    (turn,) = rig.turns()
    assert turn.outcome == states.STOPPED and turn.stop_requested_by == "UBOB"


def test_slacks_own_stop_of_the_agent_session_stops_the_turn_too(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} long job #delay=60")
    stop_button(rig, question)
    running(rig, question)

    event = {
        "type": "agent_session_stopped",
        "channel": question.channel,
        "thread_ts": question.ts,
        "user": "UALICE",
        "streaming_message_ts": [],
        "event_ts": str(time.time()),
    }
    assert rig.sender.send(envelope(event)).status == 200

    rig.wait_reaction(question, messages.STOPPED)
    assert "Stopped by <@UALICE>" in rig.answer_text(question)
    assert rig.turns()[0].outcome == states.STOPPED


def test_a_double_press_stops_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} long job #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)
    press_stop(rig, "UALICE", placeholder)
    press_stop(rig, "UALICE", placeholder)
    rig.wait_reaction(question, messages.STOPPED)
    rig.settle()
    assert sum("pressed Stop in Slack" in m for m in sent_to_blocks(rig)) == 1


def test_a_stop_before_anything_reached_blocks_sends_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    # Blocks is unavailable: the create is refused (503) and retried later, so the turn waits to submit.
    rig.blocks.inject(method="POST", path=r"/sessions$", status=503, count=1000)
    question = rig.say("UALICE", f"{MENTION} please")
    placeholder = stop_button(rig, question)
    rig.wait(lambda: any(e["status"] == 503 for e in rig.blocks.log), what="a refused create")

    press_stop(rig, "UALICE", placeholder)

    rig.wait_reaction(question, messages.STOPPED)
    assert "before the agent started on it" in rig.answer_text(question)
    assert rig.blocks.snapshot()["sessions"] == []
    assert rig.turns()[0].outcome == states.STOPPED


def test_replies_queued_behind_a_stopped_turn_wait_for_the_next_message(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} long job #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)
    queued = rig.say("UALICE", "and also the docs", thread=question)
    rig.wait_reaction(queued, messages.INBOX)

    press_stop(rig, "UALICE", placeholder)
    rig.wait_reaction(question, messages.STOPPED)
    rig.settle()
    assert not any("also the docs" in m for m in sent_to_blocks(rig)), "a queued reply is not sent by a stop"

    rig.say("UALICE", "now just the docs please", thread=question)
    rig.wait(lambda: any("now just the docs" in m for m in sent_to_blocks(rig)), what="the next message sent")
    last = sent_to_blocks(rig)[-1]
    assert "also the docs" in last and "now just the docs" in last, "the queued reply goes with the next one"


def test_someone_who_may_not_continue_the_thread_gets_an_ephemeral_no_and_the_turn_goes_on(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(continue_threads="starter")
    question = rig.say("UALICE", f"{MENTION} quick one #delay=2")
    placeholder = stop_button(rig, question)
    running(rig, question)

    press_stop(rig, "UBOB", placeholder)

    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the ephemeral no")
    (no,) = rig.slack.calls_to("chat.postEphemeral")
    assert (
        no["params"]["user"] == "UBOB" and "only the person who started this thread" in no["params"]["text"]
    )
    rig.wait_reaction(question, messages.DONE)
    assert rig.turns()[0].outcome == states.ANSWERED
    assert not any("pressed Stop" in m for m in sent_to_blocks(rig))


def test_a_button_value_from_another_channel_stops_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} quick one #delay=2")
    placeholder = stop_button(rig, question)
    press_stop(rig, "UALICE", placeholder, channel="COTHER")
    rig.wait_reaction(question, messages.DONE)
    assert rig.turns()[0].stop_state is None
    assert rig.turns()[0].outcome == states.ANSWERED


def test_a_stop_late_in_a_long_run_still_waits_for_the_agents_line(make_rig: Callable[..., Rig]) -> None:
    """The stop's short wait is its own: a turn already past its deadline still hears the agent out."""
    rig = make_rig(turn_deadline_seconds=0.5, poll_past_deadline_seconds=0.2)
    question = rig.say("UALICE", f"{MENTION} a very long one #delay=60")
    placeholder = stop_button(rig, question)
    running(rig, question)
    rig.wait(lambda: "still working" in rig.bot_replies(question)[0].markdown, what="past the deadline")
    press_stop(rig, "UALICE", placeholder)
    rig.wait_reaction(question, messages.STOPPED)
    assert "nothing was pushed" in rig.bot_replies(question)[0].markdown, "the agent's line, not a give-up"
