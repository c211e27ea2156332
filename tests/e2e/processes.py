"""The bot as real processes (`python -m bot serve`), for the crash and replica tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender
from bot.sim.process import BotProcess
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from tests.conftest import CHANNEL, SIGNING_SECRET

MENTION = f"<@{BOT_USER_ID}>"


@dataclass
class CrashRig:
    blocks: BlocksSimulator
    slack: SlackStub
    env: dict[str, str]
    tmp: Path
    started: list[BotProcess]

    def start(self, failpoint: str = "") -> BotProcess:
        log = self.tmp / f"bot-{len(self.started)}.log"
        bot = BotProcess.spawn({**self.env, "BLOCKS_SLACK_FAILPOINTS": failpoint}, log)
        self.started.append(bot)
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
