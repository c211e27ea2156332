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

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Connection, Engine

from bot.blocks.budget import Budget
from bot.blocks.client import BlocksClient
from bot.blocks.errors import BlocksNotConnected
from bot.blocks.keys import key_hash
from bot.oauth.store import DatabaseInstallationStore
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.slack.gateway import SlackGateway
from bot.turns import retention
from bot.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlocksAccount:
    """One Blocks API key: the client that sends it and the budget its requests are paid from."""

    client: BlocksClient
    budget: Budget

    @property
    def key_hash(self) -> str:
        """How the key is named in the database, the logs and the metrics (never the key)."""
        return self.budget.key_hash


class NotConnected(BlocksClient):
    """The Blocks client of a workspace that has no key (none of its own, none in the environment):
    every request fails with `BlocksNotConnected`, which the thread hears as "an admin must connect"."""

    def __init__(self) -> None:
        super().__init__(api_url="http://blocks.not-connected.invalid", api_key="none")

    def _request(self, method: str, url: str, **_: Any) -> dict[str, Any]:
        raise BlocksNotConnected()


NOT_CONNECTED = NotConnected()


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


# A bot token that expires within this is refreshed before it is used (Slack's tokens last 12 hours).
REFRESH_BEFORE_MINUTES = 120
# How long one replica may hold a workspace's refresh before another may try.
REFRESH_LEASE_SECONDS = 30.0


class InstalledWorkspaces:
    """Installed from Slack (OAuth mode): each workspace's bot token from the installation store, and its
    Blocks keys from `WorkspaceKeys`, the environment's keys being the fallback.

    The worker posts outside any request, so it refreshes a rotating token itself: a token that expires
    within `REFRESH_BEFORE_MINUTES` is refreshed first, by one replica at a time per workspace (a job
    lease); the others wait for its result rather than spend the refresh token twice.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        store: DatabaseInstallationStore,
        keys: WorkspaceKeys,
        fallback: Sequence[BlocksAccount],
        gateway_for: Callable[[str, str], SlackGateway],
        account_for: Callable[[str], BlocksAccount],
        rotator: TokenRotator | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.store = store
        self.keys = keys
        self.fallback = list(fallback)
        self._gateway_for = gateway_for  # (workspace key, bot token) → a gateway paced per workspace
        self._account_for = account_for  # an API key → its client and budget
        self.rotator = rotator
        self.clock = clock
        self._lock = threading.Lock()
        self._gateways: dict[tuple[str, str], SlackGateway] = {}
        self._accounts: dict[str, BlocksAccount] = {a.key_hash: a for a in self.fallback}
        self._holder = str(uuid.uuid4())

    def installed(self, team_id: str | None, enterprise_id: str | None) -> bool:
        return self._bot(team_id, enterprise_id) is not None

    def slack(self, team_id: str, enterprise_id: str | None) -> SlackGateway | None:
        bot = self._bot(team_id, enterprise_id)
        if bot is None:
            return None
        bot = self._fresh(bot)
        workspace = bot.enterprise_id if bot.is_enterprise_install else bot.team_id
        key = (str(workspace), bot.bot_token or "")
        with self._lock:
            gateway = self._gateways.get(key)
            if gateway is None:
                gateway = self._gateways[key] = self._gateway_for(str(workspace), bot.bot_token or "")
            return gateway

    def accounts(self, team_id: str, enterprise_id: str | None) -> Sequence[BlocksAccount]:
        own = self.keys.keys(team_id, enterprise_id) or (
            self.keys.keys(None, enterprise_id) if enterprise_id else ()
        )
        if not own:
            return self.fallback
        with self._lock:
            for api_key in own:
                account = self._account_for(api_key)
                self._accounts.setdefault(account.key_hash, account)
            return [self._accounts[a] for a in (key_hash(k) for k in own)]

    def account(self, key_hash: str) -> BlocksAccount | None:
        with self._lock:
            return self._accounts.get(key_hash)

    def all_accounts(self) -> Sequence[BlocksAccount]:
        with self._lock:
            return list(self._accounts.values())

    def _bot(self, team_id: str | None, enterprise_id: str | None) -> Bot | None:
        found = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if found is None and enterprise_id:
            found = self.store.find_bot(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
        return found

    def _fresh(self, bot: Bot) -> Bot:
        """The bot, with its token refreshed first if it expires soon (once, by one replica)."""
        expires_at = bot.bot_token_expires_at
        if self.rotator is None or not expires_at or not bot.bot_refresh_token:
            return bot
        if expires_at - self.clock() > REFRESH_BEFORE_MINUTES * 60:
            return bot
        name = f"refresh:{bot.enterprise_id or ''}:{bot.team_id or ''}"[:32]
        now = self.clock()
        with self.engine.begin() as conn:
            mine = retention.hold(conn, self._holder, now, REFRESH_LEASE_SECONDS, name=name)
        if not mine:
            return bot  # another replica is refreshing it: its token still works for a while
        try:
            current = self._bot(bot.team_id, bot.enterprise_id) or bot  # it may have been refreshed
            refreshed = self.rotator.perform_bot_token_rotation(
                bot=current, minutes_before_expiration=REFRESH_BEFORE_MINUTES
            )
            if refreshed is None:
                return current
            self.store.save_bot(refreshed)
            logger.info("refreshed the bot token of workspace %s", bot.team_id or bot.enterprise_id)
            return refreshed
        finally:
            with self.engine.begin() as conn:
                retention.release(conn, self._holder, name=name)
