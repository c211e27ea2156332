"""Which Slack client and which Blocks key a turn uses: its workspace decides, everywhere.

A deployment serves one or more Slack workspaces, and holds one or more Blocks keys. A turn's workspace
(the conversation's team) decides its Slack client, with its own pacing (Slack's limits are per
workspace); its session's key decides its Blocks client and the request budget it spends (Blocks' limit is
per key, shared by every replica). A new session goes to the workspace's key with the most room; every
later request of the session uses the key that created it.

`SingleWorkspace` is the deployment of `SLACK_BOT_TOKEN` + `BLOCKS_API_KEY` (one key, or several
separated by commas): the one-workspace case of the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from bot.blocks.budget import Budget
from bot.blocks.client import BlocksClient
from bot.slack.gateway import SlackGateway
from bot.workspace import Workspace


@dataclass(frozen=True)
class BlocksAccount:
    """One Blocks API key: the client that sends it and the budget its requests are paid from."""

    client: BlocksClient
    budget: Budget

    @property
    def key_hash(self) -> str:
        """How the key is named in the database, the logs and the metrics (never the key)."""
        return self.budget.key_hash


class Tenancy(Protocol):
    def slack(self, team_id: str, enterprise_id: str | None) -> SlackGateway | None:
        """The workspace's Slack client, or None when this deployment is not installed there."""

    def accounts(self, team_id: str, enterprise_id: str | None) -> Sequence[BlocksAccount]:
        """The Blocks keys the workspace may use for new sessions (empty: none connected)."""

    def account(self, key_hash: str) -> BlocksAccount | None:
        """The account of a key by its hash (a session's), or None when the key is gone."""

    def all_accounts(self) -> Sequence[BlocksAccount]:
        """Every key in use, for budgets, health and metrics."""


def roomiest(
    conn: Connection, accounts: Sequence[BlocksAccount], now: float, *, turn: int = 0
) -> BlocksAccount | None:
    """The account whose budget holds the most tokens now. Ties (keys with room to spare) go round the
    accounts: `turn` counts the choices made, and the `turn`-th choice starts looking at that account."""
    if not accounts:
        return None
    start = turn % len(accounts)
    best, most = None, float("-inf")
    for candidate in [*accounts[start:], *accounts[:start]]:
        tokens = candidate.budget.bucket.tokens(conn, now)
        left = float("inf") if tokens is None else tokens  # a bucket not created yet is full
        if left > most:
            best, most = candidate, left
    return best


@dataclass(frozen=True)
class SingleWorkspace:
    """One workspace (and its Enterprise Grid organization), one Slack token, the environment's keys."""

    workspace: Workspace
    gateway: SlackGateway
    keys: Sequence[BlocksAccount]

    def slack(self, team_id: str, enterprise_id: str | None) -> SlackGateway | None:
        return self.gateway if self.workspace.includes(team_id, enterprise_id) else None

    def accounts(self, team_id: str, enterprise_id: str | None) -> Sequence[BlocksAccount]:
        return self.keys if self.workspace.includes(team_id, enterprise_id) else ()

    def account(self, key_hash: str) -> BlocksAccount | None:
        return next((a for a in self.keys if a.key_hash == key_hash), None)

    def all_accounts(self) -> Sequence[BlocksAccount]:
        return self.keys
