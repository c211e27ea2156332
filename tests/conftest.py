"""Shared fixtures: databases (SQLite always, PostgreSQL when BLOCKS_SLACK_TEST_POSTGRES_URL is set), the
simulators, and a running bot wired to them over loopback HTTP."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, select, text

from bot.config import Settings
from bot.db import migrate
from bot.db.engine import make_engine, normalize_database_url
from bot.db.models import Conversation, Turn
from bot.demo import demo_settings
from bot.service import Service, build
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages

POSTGRES_ENV = "BLOCKS_SLACK_TEST_POSTGRES_URL"
SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C0TEST"


def pytest_report_header() -> str:
    if os.environ.get(POSTGRES_ENV):
        return f"PostgreSQL tests: on ({POSTGRES_ENV} is set)"
    return f"PostgreSQL tests: skipped (set {POSTGRES_ENV}, as .ci/run does, to run them)"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL variant: set {POSTGRES_ENV} to run it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_database_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def blocks_sim() -> Iterator[tuple[BlocksSimulator, str]]:
    sim = BlocksSimulator(SimConfig(answer_delay=0.3, rate_limit=6000))
    server = serve_in_thread(sim)
    yield sim, server.url
    server.stop()


@pytest.fixture
def slack_stub() -> Iterator[tuple[SlackStub, str]]:
    stub = SlackStub()
    server = serve_in_thread(stub)
    yield stub, server.url
    server.stop()


@dataclass
class Rig:
    """The real bot (HTTP mode, real port) against the Blocks simulator and the Slack stub."""

    blocks: BlocksSimulator
    slack: SlackStub
    service: Service
    sender: EventSender
    settings: Settings

    @property
    def engine(self) -> Engine:
        return self.service.engine

    def say(
        self,
        user: str,
        text: str,
        *,
        thread: StubMessage | str | None = None,
        channel: str = CHANNEL,
        channel_type: str = "channel",
        **extra: Any,
    ) -> StubMessage:
        """A person writes in Slack; Slack delivers it to the bot (twice when it mentions the bot)."""
        thread_ts = thread.ts if isinstance(thread, StubMessage) else thread
        message = self.slack.human_message(channel, user, text, thread_ts)
        deliveries = self.sender.deliver_message(
            channel=channel,
            user=user,
            text=text,
            ts=message.ts,
            thread_ts=thread_ts,
            channel_type=channel_type,
            mention=f"<@{BOT_USER_ID}>" in text,
            **extra,
        )
        assert all(d.status == 200 for d in deliveries), [(d.status, d.body) for d in deliveries]
        return message

    def wait(self, condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_reaction(self, message: StubMessage, name: str = messages.DONE, timeout: float = 20.0) -> None:
        self.wait(lambda: message.reactions.get(name), timeout, f":{name}: on {message.text!r}")

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until no turn has work left."""

        def idle() -> bool:
            with self.engine.connect() as conn:
                return conn.execute(select(Turn.id).where(Turn.next_run_at.is_not(None))).first() is None

        self.wait(idle, timeout, "all turns to finish")

    def bot_replies(self, top: StubMessage) -> list[StubMessage]:
        return [m for m in self.slack.thread(top.channel, top.ts) if m.is_bot]

    def answer_text(self, top: StubMessage) -> str:
        return "\n".join(m.markdown for m in self.bot_replies(top))

    def agent_of(self, message: StubMessage) -> str:
        """The agent of the conversation `message` started."""
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(Conversation.agent).where(
                        Conversation.channel_id == message.channel, Conversation.thread_ts == message.ts
                    )
                ).scalar_one()
            )

    def turns(self) -> list[Turn]:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            found = list(session.scalars(select(Turn).order_by(Turn.id)))
            session.expunge_all()
            return found


def rig_settings(blocks_url: str, slack_url: str, database_url: str, **overrides: Any) -> Settings:
    settings = demo_settings(blocks_url=blocks_url, slack_url=slack_url, database_url=database_url)
    values: dict[str, Any] = {
        "slack_signing_secret": SIGNING_SECRET,
        "blocks_api_key": "test-blocks-key",
        "poll_first_seconds": 0.1,
        "poll_max_seconds": 0.3,
        "idle_poll_seconds": 0.05,
        "lease_seconds": 10,
        # Also how long an unconfirmed follow-up waits before it is looked up (Blocks may still write it).
        "blocks_timeout_seconds": 3.0,
        # Tests send many requests as one person; the access tests set the caps they test.
        "max_running_per_user": 0,
        "late_answer_seconds": 600,
        "worker_threads": 2,
        # A generous budget keeps the tests quick; the rate-limit tests set their own.
        "blocks_rate_limit_per_minute": 6000,
        "slack_tier3_per_minute": 6000,
        "slack_posts_per_minute_per_channel": 6000,
    }
    return replace(settings, **{**values, **overrides})


@pytest.fixture
def make_rig(
    database_url: str, blocks_sim: tuple[BlocksSimulator, str], slack_stub: tuple[SlackStub, str]
) -> Iterator[Callable[..., Rig]]:
    started: list[Rig] = []

    def start(**overrides: Any) -> Rig:
        settings = rig_settings(blocks_sim[1], slack_stub[1], database_url, **overrides)
        service = build(settings, "serve", host="127.0.0.1")
        service.start()
        rig = Rig(
            blocks_sim[0],
            slack_stub[0],
            service,
            EventSender(f"http://127.0.0.1:{service.port}", SIGNING_SECRET),
            settings,
        )
        started.append(rig)
        return rig

    yield start
    for rig in started:
        rig.sender.close()
        rig.service.stop()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()
