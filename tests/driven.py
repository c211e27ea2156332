"""A bot whose clock the test turns: the real worker, gateway, Blocks client and database, the Slack stub
over loopback HTTP and the Blocks simulator in process, and time that jumps to the next due step.

Backoffs of minutes and horizons of hours then take milliseconds, so a test can follow a turn through
every retry Slack or Blocks forces on it, to its end, for hundreds of error codes in one run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.blocks.budget import Budget, BudgetPolicy
from bot.blocks.client import BlocksClient
from bot.config import Settings
from bot.sim.blocks import BlocksSimulator
from bot.sim.slack import SlackStub, StubMessage
from bot.slack.gateway import SlackGateway
from bot.slack.pacing import SlackPacer, SlackTiers
from bot.turns import intake
from bot.turns.context import Runtime
from bot.turns.intake import InboundEvent
from bot.turns.lease import next_due_at
from bot.turns.worker import Worker


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class DrivenBot:
    engine: Engine
    slack: SlackStub
    blocks: BlocksSimulator
    settings: Settings
    clock: FakeClock
    worker: Worker
    slack_url: str

    @classmethod
    def build(
        cls,
        engine: Engine,
        slack: SlackStub,
        slack_url: str,
        blocks: BlocksSimulator,
        settings: Settings,
        *,
        transport: Callable[[httpx.BaseTransport], httpx.BaseTransport] = lambda t: t,
    ) -> DrivenBot:
        clock = FakeClock(slack.clock())
        blocks.clock = clock
        client = WebClient(token="xoxb-driven", base_url=slack_url + "/api/", timeout=5)
        tiers = SlackTiers(tier3_per_minute=6000, posts_per_minute_per_channel=6000)
        gateway = SlackGateway(
            client, pacer=SlackPacer(engine, bot_token="xoxb-driven", tiers=tiers, clock=clock)
        )
        api = BlocksClient(
            api_url="http://blocks.sim", api_key="k", transport=transport(httpx.WSGITransport(app=blocks))
        )
        budget = Budget(api_key="k", policy=BudgetPolicy.for_limit(6000, 0.1))
        rt = Runtime(settings=settings, engine=engine, blocks=api, slack=gateway, budget=budget, clock=clock)
        with engine.begin() as conn:
            budget.ensure(conn, clock())
        return cls(engine, slack, blocks, settings, clock, Worker(rt, threads=1), slack_url)

    def mention(
        self, channel: str, user: str, text: str, *, thread: StubMessage | None = None
    ) -> StubMessage:
        """A person mentions the bot (recorded as intake would)."""
        message = self.slack.human_message(channel, user, text, thread.ts if thread else None)
        event = InboundEvent(
            team_id="T0001",
            channel_id=channel,
            channel_type="unknown",  # an app_mention: Slack does not say whether it is private
            ts=message.ts,
            thread_ts=thread.ts if thread else None,
            user_id=user,
            text=text,
            is_mention=True,
        )
        policy = intake.IntakePolicy.of(
            Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="queue")
        )
        intake.record(self.engine, event, policy, self.clock())
        return message

    def run(self, *, max_steps: int = 2000) -> int:
        """Run due steps, jumping the clock to the next due one, until nothing is scheduled; the number of
        steps run."""
        steps = 0
        while steps < max_steps:
            if self.worker.run_once():
                steps += 1
                continue
            now = self.clock()
            with self.engine.begin() as conn:
                due = next_due_at(conn, now)
                # Due and free, yet not claimed: a Blocks step waiting for a token (as the worker idles).
                wait = self.worker.rt.budget.wait(conn, now) if due is not None and due <= now else 0.0
            if due is None:
                return steps
            self.clock.now = max(now + max(wait, 0.0), due) + 0.001
        raise AssertionError(f"still running after {max_steps} steps")


def driven_settings(base: Settings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "lease_seconds": 60.0,
        "poll_first_seconds": 3.0,
        "poll_max_seconds": 120.0,
        "turn_deadline_seconds": 600.0,
        "turn_horizon_seconds": 1200.0,
        "late_answer_seconds": 10**6,
        "private_sessions": True,  # so that conversations.info is asked
    }
    return replace(base, **{**values, **overrides})
