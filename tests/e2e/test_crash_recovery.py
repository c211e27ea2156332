"""Kill -9 the bot at each step of a turn, restart it, and check the documented outcome.

The bot runs as a real process (`python -m bot serve`); a failpoint makes it SIGKILL itself at a precise
line. After the restart, a short lease lets the new process take the turn over. The first turn is also
crashed with two workspaces installed from Slack (OAuth mode), one question in each, and a Stop press
right after it is recorded.
"""

from __future__ import annotations

import contextlib
import signal
import time

import httpx
import pytest

from bot.sim.events import EventSender
from bot.sim.process import BotProcess
from bot.sim.slack import StubMessage
from bot.slack import controls, messages
from tests import settings_forms as forms
from tests.conftest import CHANNEL, SIGNING_SECRET
from tests.e2e.processes import MENTION, CrashRig, assert_workspaces_kept_apart, team_channel
from tests.presses import press, with_button

pytestmark = pytest.mark.slow


def _crash_then_recover(
    rig: CrashRig, failpoint: str, text: str, thread: StubMessage | None = None
) -> StubMessage:
    bot = rig.start(failpoint)
    message = rig.say(bot, "UALICE", text, thread)
    bot.process.wait(timeout=30)
    assert bot.process.returncode == -signal.SIGKILL, f"the failpoint {failpoint} was not reached"
    rig.start()
    return message


FIRST_TURN_POINTS = [
    "before_post_placeholder",
    "after_post_placeholder",
    "after_placeholder_commit",
    "after_submit_commit",
    "after_poll_response",
    "after_answer_stored",
    "before_answer_edit",
    "after_answer_edit",
    "after_finish",
]


@pytest.mark.parametrize("failpoint", FIRST_TURN_POINTS)
def test_killed_during_a_first_turn_answers_exactly_once(crash_rig: CrashRig, failpoint: str) -> None:
    question = _crash_then_recover(crash_rig, failpoint, f"{MENTION} survive this")
    crash_rig.wait(lambda: question.reactions.get(messages.DONE), what="the answer after restart")
    bot_posts = [m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot]
    assert len(bot_posts) == 1, "one placeholder, edited into the one answer"
    assert "survive this" in bot_posts[0].markdown
    assert len(crash_rig.blocks.snapshot()["sessions"]) == 1


@pytest.mark.parametrize("failpoint", FIRST_TURN_POINTS)
def test_two_workspaces_killed_during_their_first_turns_answer_each_once_with_its_own_token_and_key(
    two_workspace_rig: CrashRig, failpoint: str
) -> None:
    rig = two_workspace_rig
    # Web and worker apart: both questions are recorded before any work starts, so that both turns are
    # under way when the first of them reaches the failpoint.
    web = rig.start(command="web")
    rig.install(web)
    questions = {
        team: rig.say(
            web, "UALICE", f"{MENTION} survive this in {team}", team=team, channel=team_channel(team, 1)
        )
        for team in rig.teams
    }
    # One thread: the other turn is killed between two of its steps, never inside one. Inside its create
    # it would be reported instead of answered (as the tests below check), not answered exactly once.
    worker = rig.start(failpoint, command="worker", env={"WORKER_THREADS": "1"})
    worker.process.wait(timeout=30)
    assert worker.process.returncode == -signal.SIGKILL, f"the failpoint {failpoint} was not reached"
    rig.start(command="worker")

    rig.wait(
        lambda: all(q.reactions.get(messages.DONE) for q in questions.values()),
        what="both answers after restart",
    )
    for team, question in questions.items():
        bot_posts = [m for m in rig.slack.thread(question.channel, question.ts) if m.is_bot]
        assert len(bot_posts) == 1, f"{team}: one placeholder, edited into the one answer"
        assert f"survive this in {team}" in bot_posts[0].markdown
    assert len(rig.blocks.snapshot()["sessions"]) == 2, "one session each"
    assert_workspaces_kept_apart(rig, questions.values())


@pytest.mark.parametrize("failpoint", ["before_submit", "after_submit_response"])
def test_killed_while_creating_the_session_reports_instead_of_duplicating(
    crash_rig: CrashRig, failpoint: str
) -> None:
    question = _crash_then_recover(crash_rig, failpoint, f"{MENTION} create carefully")
    crash_rig.wait(lambda: question.reactions.get(messages.FAILED), what="the unconfirmed notice")
    bot_posts = [m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot]
    assert len(bot_posts) == 1 and "did not confirm" in bot_posts[0].markdown
    sessions = crash_rig.blocks.snapshot()["sessions"]
    assert len(sessions) == (1 if failpoint == "after_submit_response" else 0), "never a second session"


@pytest.mark.parametrize("failpoint", ["before_submit", "after_submit_response", "after_submit_commit"])
def test_killed_while_sending_a_follow_up_sends_it_exactly_once(crash_rig: CrashRig, failpoint: str) -> None:
    bot = crash_rig.start()
    question = crash_rig.say(bot, "UALICE", f"{MENTION} first")
    crash_rig.wait(lambda: question.reactions.get(messages.DONE), what="the first answer")
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(timeout=15) == 0
    follow_up = _crash_then_recover(crash_rig, failpoint, "second", thread=question)
    crash_rig.wait(lambda: follow_up.reactions.get(messages.DONE), what="the follow-up's answer")
    sent = [m["message"] for m in crash_rig.blocks.snapshot()["user_messages"]]
    assert len(sent) == 2 and sent[1].endswith("second")
    assert len([m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot]) == 2


@pytest.mark.parametrize("failpoint", ["before_post_part-2", "after_post_part-2", "after_part_commit"])
def test_killed_between_parts_of_a_long_answer_posts_each_part_once(
    crash_rig: CrashRig, failpoint: str
) -> None:
    question = _crash_then_recover(crash_rig, failpoint, f"{MENTION} report #long=8000")
    crash_rig.wait(lambda: question.reactions.get(messages.DONE), what="the long answer")
    bot_posts = [m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot]
    markers = [m.metadata["event_payload"]["post"] for m in bot_posts if m.metadata]
    assert markers == sorted(set(markers), key=markers.index), "no post twice"
    assert "That is the whole report." in bot_posts[-1].markdown
    assert len(bot_posts) == len(set(m.markdown for m in bot_posts))


def test_sigterm_stops_within_seconds(crash_rig: CrashRig) -> None:
    bot = crash_rig.start()
    question = crash_rig.say(bot, "UALICE", f"{MENTION} a long one #delay=60")
    crash_rig.wait(lambda: question.reactions.get(messages.EYES), what="work to start")
    started = time.monotonic()
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 8
    assert "stopped in" in bot.log.read_text()


def _press_and_die(rig: CrashRig, bot: BotProcess, question: StubMessage, action_id: str, user: str) -> None:
    """Once the thread shows the button, `user` presses it; the bot kills itself right after recording the
    press (before Slack hears back), and a new process starts."""
    rig.wait(lambda: with_button(rig.slack.thread(CHANNEL, question.ts), action_id), what=action_id)
    shown = with_button(rig.slack.thread(CHANNEL, question.ts), action_id)
    assert shown is not None
    with contextlib.suppress(httpx.HTTPError, AssertionError):  # the bot dies before it answers
        press(EventSender(bot.url, SIGNING_SECRET), shown, action_id, user)
    bot.process.wait(timeout=30)
    assert bot.process.returncode == -signal.SIGKILL, f"the press of {action_id} did not reach its failpoint"
    rig.start()


def test_killed_right_after_a_stop_press_is_recorded_the_stop_still_happens(crash_rig: CrashRig) -> None:
    """The press is in the database before Slack hears back; a crash then loses nothing: the next process
    stops the turn (its lease expires)."""
    bot = crash_rig.start("after_stop_recorded")
    question = crash_rig.say(bot, "UALICE", f"{MENTION} a long one #delay=60")

    crash_rig.wait(lambda: crash_rig.blocks.snapshot()["sessions"], what="the session")
    _press_and_die(crash_rig, bot, question, controls.STOP, "UALICE")
    crash_rig.wait(lambda: question.reactions.get(messages.STOPPED), what="the stop after restart")
    bot_posts = [m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot]
    assert len(bot_posts) == 1 and "Stopped by <@UALICE>" in bot_posts[0].markdown
    sent = [m["message"] for m in crash_rig.blocks.snapshot()["user_messages"]]
    assert sum("pressed Stop in Slack" in m for m in sent) == 1


def test_killed_right_after_a_retry_press_is_recorded_the_retry_still_happens(crash_rig: CrashRig) -> None:
    crash_rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "not now"})
    bot = crash_rig.start("after_press_recorded")
    question = crash_rig.say(bot, "UALICE", f"{MENTION} try this")

    _press_and_die(crash_rig, bot, question, controls.RETRY, "UALICE")
    crash_rig.wait(lambda: question.reactions.get(messages.DONE), what="the retried answer after restart")
    assert len(crash_rig.blocks.snapshot()["sessions"]) == 1, "retried once"


def test_killed_right_after_a_send_now_press_is_recorded_the_replies_still_go(crash_rig: CrashRig) -> None:
    bot = crash_rig.start("after_press_recorded")
    question = crash_rig.say(bot, "UALICE", f"{MENTION} a long one #delay=60")
    crash_rig.wait(lambda: crash_rig.blocks.snapshot()["sessions"], what="the session")
    reply = crash_rig.say(bot, "UBOB", "only the docs, please", question)

    _press_and_die(crash_rig, bot, question, controls.SEND_NOW, "UBOB")
    crash_rig.wait(lambda: reply.reactions.get(messages.DONE), what="the reply answered after restart")
    placeholder = next(m for m in crash_rig.slack.thread(CHANNEL, question.ts) if m.is_bot)
    assert "<@UBOB> sent the queued replies now" in placeholder.markdown


def test_killed_right_after_a_settings_change_is_saved_the_channel_is_still_told(crash_rig: CrashRig) -> None:
    """The change and its notice are saved in one transaction before Slack hears back: after a crash the
    next process posts the notice, once, and the next thread uses the new agent."""
    crash_rig.slack.admins.add("UADMIN")
    bot = crash_rig.start("after_settings_saved")
    sender = EventSender(bot.url, SIGNING_SECRET)
    assert forms.slash(sender, crash_rig.slack, "UADMIN") == ""
    with contextlib.suppress(httpx.HTTPError):  # the bot dies before it answers
        sender.interaction(forms.submission(crash_rig.slack, "UADMIN", {"agent": "gemini"}))
    sender.close()
    bot.process.wait(timeout=30)
    assert bot.process.returncode == -signal.SIGKILL, "the submission did not reach its failpoint"

    restarted = crash_rig.start()
    crash_rig.wait(lambda: forms.announcements(crash_rig.slack), what="the notice after restart")
    question = crash_rig.say(restarted, "UALICE", f"{MENTION} which agent are you?")
    crash_rig.wait(lambda: question.reactions.get(messages.DONE), what="the answer")
    assert len(forms.announcements(crash_rig.slack)) == 1
    assert "**gemini** here" in crash_rig.slack.thread(CHANNEL, question.ts)[-1].markdown
