"""Every error code Slack documents, for every method the bot calls, injected for good: each turn still
reaches an end within its horizon, and the thread shows it whenever Slack lets the bot write there.

The turn is one that calls every method: a mention in the middle of a human thread (so the earlier
messages are read, and their authors' names), in a channel whose privacy must be asked (private sessions
are on), answered by editing the placeholder, with 👀 replaced by ✅. Time is driven (see `tests/driven`),
so retries that take hours take milliseconds. SQLite only: the outcome of an error does not depend on
the database (the crash and replica tests cover both).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Turn
from bot.service import StartupError, verify_slack_token
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import SlackStub
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages
from bot.slack.documented_errors import DOCUMENTED_ERRORS
from bot.turns import states
from tests.conftest import rig_settings
from tests.driven import DrivenBot, driven_settings

ANSWER = "ANSWER-OK: the fix is in."
# Methods whose failure must never cost the answer: they decorate a turn or add context to it.
DECORATIONS = (
    "reactions.add",
    "reactions.remove",
    "conversations.replies",
    "conversations.info",
)
# Who the person is (a guest?) decides whether their message may reach the agent at all: when Slack will
# not say, the turn is refused (the person told why), never sent on a guess.
GATES = ("users.info",)
# An error no documentation names, and a server error: they must end too.
UNDOCUMENTED = ("an_error_slack_added_last_week", "http_500")
_channels = itertools.count(1)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrivenBot]:
    folder: Path = tmp_path_factory.mktemp("outcomes")
    engine = make_engine(f"sqlite:///{folder / 'bot.db'}")
    migrate.upgrade(engine)
    slack = SlackStub()
    server = serve_in_thread(slack)
    blocks = BlocksSimulator(SimConfig(answer_delay=4, rate_limit=10**6))
    blocks.answer = lambda agent, text: ANSWER
    base = rig_settings("http://blocks.sim", server.url, f"sqlite:///{folder / 'bot.db'}")
    yield DrivenBot.build(engine, slack, server.url, blocks, driven_settings(base))
    server.stop()
    engine.dispose()


def cases() -> Iterator[tuple[str, str]]:
    for method in sorted(DOCUMENTED_ERRORS):
        if method == "auth.test":
            continue  # only at start-up: see test_cli
        for code in sorted(set(DOCUMENTED_ERRORS[method]) | set(UNDOCUMENTED)):
            yield method, code


def _run_with_fault(bot: DrivenBot, method: str, code: str) -> tuple[Turn, list[str], int]:
    channel = f"C{next(_channels):07d}"
    top = bot.slack.human_message(channel, "UBOB", "the deploy is stuck again")
    sessions_before = len(bot.blocks.sessions)
    with bot.slack._lock:
        bot.slack.faults.clear()
    if code == "http_500":
        bot.slack.inject(method, "internal_error", count=10**9, http_status=500)
    else:  # a rate limit that never lifts asks for a minute each time (Slack's last seconds)
        bot.slack.inject(method, code, count=10**9, retry_after=60)
    if method in GATES:
        bot.worker.rt.slack.forget_users()  # what Slack says now, not what it said to an earlier case
    try:
        bot.mention(channel, "UALICE", "can you check?", thread=top)
        bot.run()
    finally:
        with bot.slack._lock:
            bot.slack.faults.clear()
    with Session(bot.engine) as session:
        turn = session.scalars(select(Turn).order_by(Turn.id.desc()).limit(1)).one()
        session.expunge(turn)
    replies = [m.markdown or m.text for m in bot.slack.thread(channel, top.ts) if m.is_bot]
    return turn, replies, len(bot.blocks.sessions) - sessions_before


@pytest.mark.parametrize(("method", "code"), list(cases()))
def test_every_documented_slack_error_leads_to_an_end_the_thread_shows(
    bot: DrivenBot, method: str, code: str
) -> None:
    turn, replies, sessions = _run_with_fault(bot, method, code)
    horizon = bot.settings.turn_horizon_seconds
    assert turn.phase == states.FINISHED and turn.next_run_at is None, "the turn ended"
    assert turn.finished_at is not None
    # The horizon, its grace for the notice (5%), and one last backoff.
    assert turn.finished_at <= turn.requested_at + horizon * 1.05 + 600, "within its horizon"
    assert sessions <= 1, "never a second Blocks session"
    answers = [r for r in replies if ANSWER in r]
    assert len(answers) <= 1, "never a doubled answer"
    if method in DECORATIONS:
        assert turn.outcome == states.ANSWERED and len(answers) == 1, "a decoration never costs the answer"
    elif method in GATES:
        assert turn.outcome == "refused" and sessions == 0 and answers == [], "refused, never sent on a guess"
    elif method == "chat.postMessage":
        # No placeholder, no work: the bot never starts what the person cannot see.
        assert turn.outcome == states.UNDELIVERABLE and sessions == 0 and replies == []
    else:  # chat.update: the answer arrives as a new reply, or Slack takes nothing there at all
        assert (turn.outcome == states.ANSWERED and len(answers) == 1) or turn.outcome == states.UNDELIVERABLE
        assert turn.outcome == states.ANSWERED or turn.last_error, "an undelivered turn says why"


@pytest.mark.parametrize(
    ("method", "code", "outcome", "shown"),
    [
        # The review's case: a reaction Slack keeps refusing on one reply no longer jams the thread.
        ("reactions.add", "too_many_emoji", states.ANSWERED, ANSWER),
        ("reactions.add", "thread_locked", states.ANSWERED, ANSWER),
        ("reactions.add", "internal_error", states.ANSWERED, ANSWER),
        ("conversations.replies", "missing_scope", states.ANSWERED, ANSWER),
        # An edit Slack refuses becomes a new reply with the answer.
        ("chat.update", "invalid_blocks", states.ANSWERED, ANSWER),
        ("chat.update", "edit_window_closed", states.ANSWERED, ANSWER),
        ("chat.update", "an_error_slack_added_last_week", states.ANSWERED, ANSWER),
        # Where Slack takes nothing, the turn ends there.
        ("chat.update", "channel_not_found", states.UNDELIVERABLE, None),
        ("chat.postMessage", "not_in_channel", states.UNDELIVERABLE, None),
        ("chat.postMessage", "internal_error", states.UNDELIVERABLE, None),
    ],
)
def test_chosen_errors_have_their_documented_outcome(
    bot: DrivenBot, method: str, code: str, outcome: str, shown: str | None
) -> None:
    turn, replies, _ = _run_with_fault(bot, method, code)
    assert turn.outcome == outcome
    if shown is not None:
        assert sum(shown in r for r in replies) == 1
    else:
        assert not any(ANSWER in r for r in replies)


def test_a_queued_reply_behind_a_refused_reaction_still_goes(bot: DrivenBot) -> None:
    """One member's reply that Slack will not react to cannot hold other people's replies back."""
    channel = f"C{next(_channels):07d}"
    with bot.slack._lock:
        bot.slack.faults.clear()
    first = bot.mention(channel, "UALICE", "first")
    bot.slack.inject("reactions.add", "too_many_reactions", count=10**9)
    bot.mention(channel, "UMALLORY", "jam", thread=first)
    bot.mention(channel, "UBOB", "and me", thread=first)
    bot.run()
    with bot.slack._lock:
        bot.slack.faults.clear()
    replies = [m.markdown for m in bot.slack.thread(channel, first.ts) if m.is_bot]
    assert sum(ANSWER in r for r in replies) == 2, "the first request and the queued batch were answered"
    assert not any(messages.WARNING in r for r in replies)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_ERRORS["auth.test"]))
def test_every_auth_test_error_stops_start_up_with_one_line(bot: DrivenBot, code: str) -> None:
    """auth.test runs once, at start-up: whatever Slack answers, the admin reads one line naming it."""
    client = WebClient(token="xoxb-driven", base_url=bot.slack_url + "/api/", timeout=5)
    bot.slack.inject("auth.test", code, count=1, retry_after=1)
    with pytest.raises(StartupError) as caught:
        verify_slack_token(client, bot.settings)
    assert "\n" not in str(caught.value) and "SLACK_BOT_TOKEN" in str(caught.value)
    assert code in str(caught.value)
