"""Fixtures for the tests that run the bot as real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sim.blocks import BlocksSimulator
from bot.sim.slack import SlackStub
from tests.conftest import SIGNING_SECRET
from tests.e2e.processes import CrashRig


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
            # Tests send many requests as one person (the access tests set the caps they test).
            "MAX_RUNNING_TURNS_PER_USER": "0",
            "SLACK_TIER3_PER_MINUTE": "6000",
            "SLACK_POSTS_PER_MINUTE_PER_CHANNEL": "6000",
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
