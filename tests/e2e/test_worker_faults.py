"""The worker on a bad day of its own: the database failing in the middle of a step, a bug while a turn is
being ended, Slack refusing the answer itself. No turn is marked failed for the database's sake, no turn
is left unended, and no thread is left looking busy.

Time is driven (see `tests/driven`). SQLite only: what is tested is the worker's handling, not a dialect.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Turn
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import SlackStub
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages
from bot.turns import deliver, finish, states, worker
from tests.conftest import rig_settings
from tests.driven import DrivenBot, driven_settings

_channels = itertools.count(1)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[DrivenBot]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    migrate.upgrade(engine)
    slack = SlackStub()
    server = serve_in_thread(slack)
    blocks = BlocksSimulator(SimConfig(answer_delay=4, rate_limit=10**6))
    base = rig_settings("http://blocks.sim", server.url, f"sqlite:///{tmp_path / 'bot.db'}")
    yield DrivenBot.build(engine, slack, server.url, blocks, driven_settings(base))
    server.stop()
    engine.dispose()


def _turn(bot: DrivenBot) -> Turn:
    with Session(bot.engine) as session:
        turn = session.scalars(select(Turn).order_by(Turn.id.desc()).limit(1)).one()
        session.expunge(turn)
        return turn


def _channel() -> str:
    return f"C{next(_channels):07d}"


def test_a_database_failure_in_the_middle_of_a_step_is_not_the_turns_failure(
    bot: DrivenBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_finish = finish.finish
    failed: list[bool] = []

    def finish_once_the_database_is_back(*args: Any, **kwargs: Any) -> None:
        if not failed:
            failed.append(True)
            raise OperationalError("UPDATE turns", {}, Exception("database is locked"))
        real_finish(*args, **kwargs)

    monkeypatch.setattr(deliver, "finish", finish_once_the_database_is_back)
    caplog.set_level(logging.INFO)
    channel = _channel()
    message = bot.mention(channel, "UALICE", "hello")
    with pytest.raises(OperationalError):
        bot.run()  # the worker's loop logs it (once a minute) and backs off
    assert _turn(bot).phase == states.ACTIVE, "the turn is not failed for the database's sake"
    assert not [r for r in caplog.records if "unexpectedly" in r.getMessage()], "not logged as a bug"

    bot.run()  # the lease expires; the turn is claimed again
    turn = _turn(bot)
    assert turn.outcome == states.ANSWERED and turn.failures == 0
    replies = [m for m in bot.slack.thread(channel, message.ts) if m.is_bot]
    assert len(replies) == 1, "one answer, not two"
    assert messages.DONE in bot.slack.messages[(channel, message.ts)].reactions


def test_a_turn_ends_even_when_ending_it_as_planned_fails(
    bot: DrivenBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_step(*_args: Any) -> None:
        raise ValueError("a bug in the deliver step")

    def broken_body(*_args: Any) -> str:
        raise ValueError("a bug in reading the answer")

    monkeypatch.setitem(worker.STEPS, states.DELIVER, broken_step)
    monkeypatch.setattr(worker, "body_of", broken_body)
    channel = _channel()
    bot.mention(channel, "UALICE", "hello")
    bot.run()
    turn = _turn(bot)
    assert turn.phase == states.FINISHED and turn.outcome == states.FAILED and turn.next_run_at is None
    assert turn.last_error is not None and "a bug in reading the answer" in turn.last_error

    monkeypatch.undo()
    later = bot.mention(channel, "UBOB", "the next thread is not stuck behind it")
    bot.run()
    assert messages.DONE in bot.slack.messages[(channel, later.ts)].reactions


def test_an_answer_slack_will_not_take_ends_with_a_plain_notice_and_a_warning(bot: DrivenBot) -> None:
    # Every edit of the placeholder is refused as too long, down to the smallest part.
    bot.slack.inject("chat.update", "msg_too_long", count=10**6)
    channel = _channel()
    message = bot.mention(channel, "UALICE", "hello")
    bot.run()
    turn = _turn(bot)
    assert turn.phase == states.FINISHED and turn.outcome == states.UNDELIVERABLE
    replies = [m for m in bot.slack.thread(channel, message.ts) if m.is_bot]
    notices = [m for m in replies if m.text.startswith("⚠️ Slack would not take this answer")]
    assert len(notices) == 1, [m.text for m in replies]
    assert "msg_too_long" in notices[0].text and "https://blocks.team/" in notices[0].text
    reactions = bot.slack.messages[(channel, message.ts)].reactions
    assert messages.WARNING in reactions and not reactions.get(messages.EYES), reactions


def test_a_database_error_that_no_wait_cures_ends_the_turn(
    bot: DrivenBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema that lacks a column is a bug, not an outage: the turn is not claimed again for ever."""

    def broken_step(*_args: Any) -> None:
        raise OperationalError("SELECT gone", {}, Exception("no such column: turns.gone"))

    monkeypatch.setitem(worker.STEPS, states.DELIVER, broken_step)
    channel = _channel()
    bot.mention(channel, "UALICE", "hello")
    bot.run()
    turn = _turn(bot)
    assert turn.phase == states.FINISHED and turn.outcome == states.FAILED


def test_an_answer_sent_as_plain_text_arrives_whole_however_much_escaping_grows_it(bot: DrivenBot) -> None:
    """Slack refuses the markdown block; the plain-text parts are sized by their escaped length."""
    bot.blocks.answer = lambda agent, text: "<" * 2900  # 2,900 characters, 11,600 once escaped
    channel = _channel()
    message = bot.mention(channel, "UALICE", "hello")
    while _turn(bot).placeholder_ts is None:
        assert bot.worker.run_once()
    bot.slack.inject("chat.update", "cant_update_message", count=10**6)
    bot.slack.inject("chat.postMessage", "invalid_blocks", count=1)
    bot.run()
    assert _turn(bot).outcome == states.ANSWERED
    replies = [m for m in bot.slack.thread(channel, message.ts) if m.is_bot][1:]  # after the placeholder
    plain = [m for m in replies if not m.blocks]
    assert plain and all(len(m.text) <= 3500 and not m.text.endswith("…") for m in plain)
    shown = sum(m.text.count("&lt;") for m in plain) + sum(m.markdown.count("<") for m in replies if m.blocks)
    assert shown == 2900, "nothing cut"
