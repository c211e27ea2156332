"""Blocks failing for good, every way it can, on every request the bot makes: each turn ends with a
notice the thread shows, within its horizon, with never a second session or a doubled follow-up.

Time is driven (see `tests/driven`). SQLite only: the outcome of an error does not depend on the
database (the crash and replica tests cover both).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Turn
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import SlackStub, StubMessage
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages
from bot.turns import states
from bot.turns.deliver import outcome_reaction
from tests.conftest import rig_settings
from tests.driven import DrivenBot, driven_settings

CREATE = ("POST", r"^/rest/v1/sessions$")
FOLLOW_UP = ("POST", r"^/rest/v1/sessions/[^/]+/messages$")
POLL = ("GET", r"/threads/")
STATUSES = (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504)
# Not an HTTP answer: no connection, no answer in time, a proxy's HTML page.
BROKEN = ("connect_error", "read_timeout", "not_json")
# A 500 before Blocks did anything: the follow-up is looked up, not found, sent again, and again…
NOT_PROCESSED_500 = "500_not_processed"
# Failures after which the request did reach Blocks (the fault comes after the work, or on the way back).
REACHED_BLOCKS = ("500", "502", "504", "read_timeout", "not_json")
_channels = itertools.count(1)


@dataclass
class Breakage:
    """What the transport does to matching requests (None: nothing)."""

    request: tuple[str, str] | None = None
    kind: str = ""


class BreakingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, breakage: Breakage) -> None:
        self.inner, self.breakage = inner, breakage

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.breakage.request
        if target and request.method == target[0] and re.search(target[1], request.url.path):
            if self.breakage.kind == "connect_error":
                raise httpx.ConnectError("refused", request=request)
            if self.breakage.kind == "read_timeout":
                self.inner.handle_request(request)  # it reached Blocks; the answer never came back
                raise httpx.ReadTimeout("timed out", request=request)
            if self.breakage.kind == "not_json":
                self.inner.handle_request(request)
                return httpx.Response(200, text="<html>proxy error</html>")
        return self.inner.handle_request(request)


@dataclass
class Rig:
    bot: DrivenBot
    breakage: Breakage


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder: Path = tmp_path_factory.mktemp("blocks-outcomes")
    engine = make_engine(f"sqlite:///{folder / 'bot.db'}")
    migrate.upgrade(engine)
    slack = SlackStub()
    server = serve_in_thread(slack)
    blocks = BlocksSimulator(SimConfig(answer_delay=4, rate_limit=10**6))
    breakage = Breakage()
    base = rig_settings("http://blocks.sim", server.url, f"sqlite:///{folder / 'bot.db'}")
    bot = DrivenBot.build(
        engine,
        slack,
        server.url,
        blocks,
        driven_settings(base),
        transport=lambda t: BreakingTransport(t, breakage),
    )
    yield Rig(bot, breakage)
    server.stop()
    engine.dispose()


def cases() -> Iterator[tuple[str, tuple[str, str], str]]:
    for name, request in (("create", CREATE), ("follow-up", FOLLOW_UP), ("poll", POLL)):
        for failure in [str(status) for status in STATUSES] + list(BROKEN) + [NOT_PROCESSED_500]:
            yield name, request, failure


def _break(rig: Rig, request: tuple[str, str], failure: str) -> None:
    with rig.bot.blocks._lock:
        rig.bot.blocks.faults.clear()
    if failure == NOT_PROCESSED_500:
        rig.bot.blocks.inject(method=request[0], path=request[1], status=500, count=10**9, when="before")
    elif failure.isdigit():
        when = "after" if failure in ("500", "502", "504") else "before"  # the worst case for each
        rig.bot.blocks.inject(method=request[0], path=request[1], status=int(failure), count=10**9, when=when)
    else:
        rig.breakage.request, rig.breakage.kind = request, failure


def _heal(rig: Rig) -> None:
    with rig.bot.blocks._lock:
        rig.bot.blocks.faults.clear()
    rig.breakage.request = None


def _last_turn(rig: Rig) -> Turn:
    with Session(rig.bot.engine) as session:
        turn = session.scalars(select(Turn).order_by(Turn.id.desc()).limit(1)).one()
        session.expunge(turn)
        return turn


@pytest.mark.parametrize(("name", "request_", "failure"), list(cases()))
def test_blocks_failing_for_good_ends_every_turn_with_a_notice(
    rig: Rig, name: str, request_: tuple[str, str], failure: str
) -> None:
    bot = rig.bot
    channel = f"C{next(_channels):07d}"
    top: StubMessage | None = None
    if name == "follow-up":
        top = bot.mention(channel, "UALICE", "start here")
        bot.run()
    sessions_before = len(bot.blocks.sessions)
    users_before = sum(1 for i in bot.blocks.items if i.role == "user")
    _break(rig, request_, failure)
    try:
        message = bot.mention(channel, "UBOB", "the request", thread=top)
        bot.run()
    finally:
        _heal(rig)
    turn = _last_turn(rig)
    assert turn.phase == states.FINISHED and turn.next_run_at is None, "the turn ended"
    assert turn.finished_at is not None
    assert turn.finished_at <= turn.requested_at + bot.settings.turn_horizon_seconds * 1.05 + 600
    assert len(bot.blocks.sessions) - sessions_before <= 1, "never a second session"
    sent = sum(1 for i in bot.blocks.items if i.role == "user") - users_before
    assert sent <= 1, "never a doubled request"
    thread = bot.slack.thread(channel, (top or message).ts)
    replies = [m.markdown for m in thread if m.is_bot and m.ts > message.ts]
    if name == "follow-up" and failure in REACHED_BLOCKS:
        # The follow-up did arrive (only its answer was lost): it is found and adopted, and answered.
        assert turn.outcome == states.ANSWERED and sent == 1 and len(replies) == 1
        return
    assert turn.outcome in (states.FAILED, states.EXPIRED), "Blocks never answered: a notice, not an answer"
    assert len(replies) == 1 and replies[0].startswith(("⚠️", "⌛")), replies
    assert outcome_reaction(turn.outcome) in bot.slack.messages[(channel, message.ts)].reactions


def test_rate_limits_are_a_place_in_line_not_failures(rig: Rig) -> None:
    """More 429s in a row than the submit step's failure limit: the turn waits its turn and is answered."""
    bot = rig.bot
    channel = f"C{next(_channels):07d}"
    bot.blocks.inject(method="POST", path=CREATE[1], status=429, count=30, retry_after=5)
    try:
        message = bot.mention(channel, "UBOB", "the request")
        bot.run()
    finally:
        _heal(rig)
    turn = _last_turn(rig)
    assert turn.outcome == states.ANSWERED, turn.notice_text
    assert messages.DONE in bot.slack.messages[(channel, message.ts)].reactions


def test_a_follow_up_that_arrived_on_the_last_allowed_attempt_is_found_not_reported(rig: Rig) -> None:
    """Seven attempts that Blocks failed before doing anything, then one that it failed after taking the
    message: the last one is looked up and adopted, not reported as unconfirmed."""
    bot = rig.bot
    channel = f"C{next(_channels):07d}"
    top = bot.mention(channel, "UALICE", "start here")
    bot.run()
    users_before = sum(1 for i in bot.blocks.items if i.role == "user")
    bot.blocks.inject(method="POST", path=FOLLOW_UP[1], status=500, count=7, when="before")
    bot.blocks.inject(method="POST", path=FOLLOW_UP[1], status=500, count=1, when="after")
    try:
        message = bot.mention(channel, "UBOB", "the request", thread=top)
        bot.run()
    finally:
        _heal(rig)
    turn = _last_turn(rig)
    assert turn.outcome == states.ANSWERED, turn.notice_text
    assert sum(1 for i in bot.blocks.items if i.role == "user") - users_before == 1, "sent once"
    assert messages.DONE in bot.slack.messages[(channel, message.ts)].reactions
