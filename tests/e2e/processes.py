"""The bot as real processes (`python -m bot serve`), for the crash and replica tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from tests.conftest import CHANNEL, SIGNING_SECRET

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

    def wait(self, condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                logs = "\n".join(b.log.read_text()[-2000:] for b in self.started)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)
