"""Kill -9 the bot at each step of a turn, restart it, and check the documented outcome.

The bot runs as a real process (`python -m bot serve`); a failpoint makes it SIGKILL itself at a precise
line. After the restart, a short lease lets the new process take the turn over.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from bot.slack import messages
from tests.conftest import CHANNEL, SIGNING_SECRET

pytestmark = pytest.mark.slow
MENTION = f"<@{BOT_USER_ID}>"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bot exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("bot did not become healthy")


@dataclass
class CrashRig:
    blocks: BlocksSimulator
    slack: SlackStub
    env: dict[str, str]
    tmp: Path
    started: list[BotProcess]

    def start(self, failpoint: str = "") -> BotProcess:
        port = free_port()
        env = {**self.env, "PORT": str(port), "BLOCKS_SLACK_FAILPOINTS": failpoint}
        log = self.tmp / f"bot-{len(self.started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        bot = BotProcess(process, port, log)
        self.started.append(bot)
        bot.wait_healthy()
        return bot

    def say(self, bot: BotProcess, user: str, text: str, thread: StubMessage | None = None) -> StubMessage:
        message = self.slack.human_message(CHANNEL, user, text, thread.ts if thread else None)
        sender = EventSender(f"http://127.0.0.1:{bot.port}", SIGNING_SECRET)
        try:
            sender.deliver_message(
                channel=CHANNEL,
                user=user,
                text=text,
                ts=message.ts,
                thread_ts=thread.ts if thread else None,
                mention=MENTION in text,
            )
        except httpx.HTTPError:
            pass  # the bot killed itself before answering the second delivery (the first was recorded)
        finally:
            sender.close()
        return message

    def wait(self, condition: object, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                logs = "\n".join(b.log.read_text()[-2000:] for b in self.started)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)


@pytest.fixture
def crash_rig(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
    tmp_path: Path,
) -> Iterator[CrashRig]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-crash-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_stub[1] + "/api/",
            "BLOCKS_API_KEY": "crash-test-key",
            "BLOCKS_API_URL": blocks_sim[1],
            "DATABASE_URL": database_url,
            "LEASE_SECONDS": "1.5",
            "POLL_FIRST_SECONDS": "0.1",
            "POLL_MAX_SECONDS": "0.3",
            "IDLE_POLL_SECONDS": "0.05",
            "BLOCKS_RATE_LIMIT_PER_MINUTE": "6000",
            "LATE_ANSWER_SECONDS": "600",
            "LOG_LEVEL": "INFO",
        }
    )
    rig = CrashRig(blocks_sim[0], slack_stub[0], env, tmp_path, [])
    yield rig
    for bot in rig.started:
        if bot.process.poll() is None:
            bot.process.kill()
        bot.process.wait(timeout=10)


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


@pytest.mark.parametrize("failpoint", ["before_submit", "after_submit_response"])
def test_killed_while_creating_the_session_reports_instead_of_duplicating(
    crash_rig: CrashRig, failpoint: str
) -> None:
    question = _crash_then_recover(crash_rig, failpoint, f"{MENTION} create carefully")
    crash_rig.wait(lambda: question.reactions.get(messages.WARNING), what="the unconfirmed notice")
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
