"""Fixtures for the tests that run the bot as real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.sim.blocks import BlocksSimulator
from bot.sim.slack import SlackStub
from tests.conftest import SIGNING_SECRET
from tests.e2e.processes import BLOCKS_WORKSPACES, TEAM_KEYS, CrashRig


def _process_env(database_url: str, blocks_url: str, slack_url: str) -> dict[str, str]:
    """What every bot process of a rig reads, whichever way it is installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_"))}
    env.update(
        {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url + "/api/",
            "BLOCKS_API_URL": blocks_url,
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
    return env


def _stop_all(rig: CrashRig) -> None:
    for bot in rig.started:
        if bot.process.poll() is None:
            bot.process.kill()
        bot.process.wait(timeout=10)


@pytest.fixture
def crash_rig(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
    tmp_path: Path,
) -> Iterator[CrashRig]:
    """Single-token mode: one workspace, its bot token and Blocks key in the environment."""
    env = _process_env(database_url, blocks_sim[1], slack_stub[1])
    env.update({"SLACK_BOT_TOKEN": "xoxb-crash-test", "BLOCKS_API_KEY": "crash-test-key"})
    rig = CrashRig(blocks_sim[0], slack_stub[0], env, tmp_path, [])
    yield rig
    _stop_all(rig)


@pytest.fixture
def two_workspace_rig(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
    tmp_path: Path,
) -> Iterator[CrashRig]:
    """OAuth mode: no token or key in the environment (no fallback for a workspace to fall back on);
    `rig.install(bot)` installs TALPHA and TBETA through a started process's pages, each with its key."""
    blocks, slack = blocks_sim[0], slack_stub[0]
    blocks.config.key_workspaces = dict(BLOCKS_WORKSPACES)
    for team in TEAM_KEYS:
        slack.oauth.add_workspace(team)
    env = _process_env(database_url, blocks_sim[1], slack_stub[1])
    env.update(
        {
            "SLACK_CLIENT_ID": slack.oauth.client_id,
            "SLACK_CLIENT_SECRET": slack.oauth.client_secret,
            "SLACK_AUTHORIZE_URL": slack_stub[1] + "/oauth/v2/authorize",
            "BLOCKS_SLACK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    )
    rig = CrashRig(blocks, slack, env, tmp_path, [], keys=dict(TEAM_KEYS))
    yield rig
    _stop_all(rig)
