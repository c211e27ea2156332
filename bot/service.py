"""Assembling the process: settings → database → Slack and Blocks clients → worker → intake → server.

`serve` runs intake and worker in one process; `web` and `worker` run them apart (same code, same
database), and N identical processes can share one PostgreSQL database. Nothing kept in memory is needed
for correctness: the in-process wake-up only makes new work start sooner.
"""

from __future__ import annotations

import errno
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import httpx
from slack_bolt import App
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.blocks.budget import Budget, BudgetPolicy
from bot.blocks.client import BlocksClient
from bot.blocks.keys import key_label
from bot.config import Settings
from bot.db import migrate
from bot.db.engine import QUICK_WAIT_SECONDS, make_engine
from bot.installs import installed_workspaces, remove_workspace
from bot.metrics import ACK_SECONDS, MeteredTransport, Metrics
from bot.preferences.values import deployment_defaults
from bot.slack.agent_dm import AgentDms
from bot.slack.app import create_app
from bot.slack.blocks_command import BlocksCommand
from bot.slack.events import MessageChange
from bot.slack.gateway import SlackGateway
from bot.slack.home import AppHome, BlocksKeyCheck, HomeTab
from bot.slack.pacing import SlackPacer, SlackTiers
from bot.tenancy import NOT_CONNECTED, BlocksAccount, InstalledWorkspaces, SingleWorkspace, Tenancy
from bot.turns import changes, intake, presses
from bot.turns.context import Runtime
from bot.turns.intake import InboundEvent, Recorded
from bot.turns.worker import Worker
from bot.web import HttpServer, WebApp
from bot.workspace import Workspace

logger = logging.getLogger(__name__)

Mode = Literal["serve", "web", "worker"]


@dataclass
class Service:
    settings: Settings
    engine: Engine
    worker: Worker | None
    bolt: App | None
    server: HttpServer | None = None
    quick_engine: Engine | None = None
    _socket_handler: Any = None

    @property
    def port(self) -> int:
        return self.server.port if self.server is not None else 0

    def start(self) -> None:
        """Start everything in background threads (the caller keeps the main thread)."""
        if self.worker is not None:
            self.worker.start()
        if self.bolt is not None and self.settings.socket_mode:
            self._socket_handler = _connect_socket_mode(self.bolt, self.settings)
        if self.server is not None:
            self.server.start()

    def stop(self) -> None:
        """Stop claiming work, stop serving, and return within seconds."""
        if self.worker is not None:
            self.worker.stop(timeout=5.0)
        if self._socket_handler is not None:
            self._socket_handler.close()
        if self.server is not None:
            self.server.stop()
        self.engine.dispose()
        if self.quick_engine is not None:
            self.quick_engine.dispose()

    def run_until_signal(self) -> None:
        received: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            # Only record it: a handler that takes a lock (an Event, a log line) can deadlock with the
            # main thread it interrupts.
            received.append(signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        logger.info("blocks-slack is up on port %s (%s)", self.port, self._describe())
        while not received:
            time.sleep(0.1)
        logger.info("received %s: stopping", signal.Signals(received[0]).name)
        started = time.monotonic()
        self.stop()
        logger.info("stopped in %.1fs", time.monotonic() - started)

    def _describe(self) -> str:
        parts = []
        if self.bolt is not None:
            parts.append("Socket Mode" if self.settings.socket_mode else "HTTP events at /slack/events")
        if self.bolt is not None and self.settings.oauth:
            parts.append("installs from Slack at /slack/install")
        if self.worker is not None:
            parts.append(f"{self.worker.threads} worker threads")
        return ", ".join(parts) or "health only"


class StartupError(Exception):
    """The process cannot start; the message is one line naming what to fix."""


def build(settings: Settings, mode: Mode = "serve", *, host: str | None = None) -> Service:
    """The process for `mode`, listening on `host` (default: `settings.host`) and `settings.port`."""
    engine = make_engine(settings.database_url)
    try:
        if settings.migrate_on_start:
            before, after = migrate.upgrade(engine)
            if before != after:
                logger.info("database schema upgraded from %s to revision %s", before or "nothing", after)
        else:
            with engine.connect():
                pass
    except OperationalError as exc:
        raise StartupError(f"cannot use the database (DATABASE_URL): {one_line(exc.orig)}") from None
    tenancy: SingleWorkspace | InstalledWorkspaces
    if settings.oauth:
        # Installed from Slack: no token of its own; each workspace's is in the installation store.
        slack_client = WebClient(base_url=settings.slack_api_url, timeout=15)
        tenancy, oauth_settings = _installed_from_slack(settings, engine)
        includes: Callable[[str, str | None], bool] = tenancy.installed
    else:
        slack_client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=15)
        workspace = verify_slack_token(slack_client, settings)
        tenancy = _single_workspace(settings, engine, slack_client, workspace)
        oauth_settings, includes = None, workspace.includes
    worker = _build_worker(settings, engine, tenancy) if mode in ("serve", "worker") else None

    # Intake and health answer Slack and load balancers within seconds whatever the database does: they
    # use an engine that waits for it briefly, then fails (Slack is answered 500 and delivers again).
    quick_engine = make_engine(
        settings.database_url, pool_size=5, wait_seconds=QUICK_WAIT_SECONDS, cancel_slow_statements=True
    )
    bolt = None
    if mode in ("serve", "web"):
        policy = intake.IntakePolicy.of(settings)

        def record(event: InboundEvent) -> Recorded:
            arrived = time.monotonic()
            result = intake.record(quick_engine, event, policy, time.time())
            if worker is not None and result is not Recorded.DUPLICATE:
                worker.wake()
            if settings.socket_mode:
                # Over Socket Mode the ack follows the listener at once (over HTTP the web app times it).
                ACK_SECONDS.observe(time.monotonic() - arrived)
            return result

        bolt = create_app(
            settings,
            client=slack_client,
            record=record,
            presses=presses.recorder(quick_engine, worker.wake if worker is not None else None),
            change=partial(record_change, quick_engine),
            command=BlocksCommand(
                quick_engine,
                defaults=deployment_defaults(settings),
                admin_users=settings.admin_users,
                includes=includes,
            ),
            includes=includes,
            direct_messages=AgentDms(quick_engine, includes=includes),
            oauth_settings=oauth_settings,
            remove_workspace=(
                partial(remove_workspace, quick_engine, tenancy.store)
                if isinstance(tenancy, InstalledWorkspaces)
                else None
            ),
            # App Home answers Slack within its 3 s too: it reads and writes on the quick engine.
            home=AppHome(
                HomeTab.of(settings, quick_engine, tenancy),
                check=BlocksKeyCheck(settings.blocks_api_url),
                includes=includes,
            ),
        )
    # Every process binds $PORT, a worker-only one too: health, readiness and metrics, and the install
    # pages. In Socket Mode events arrive over the socket, unsigned: the HTTP endpoint must not take them.
    app = WebApp(
        engine=quick_engine,
        bolt=bolt,
        events=not settings.socket_mode,
        signing_secret=settings.slack_signing_secret,
        metrics=Metrics(
            quick_engine, lambda: [(key_label(a.key_hash), a.budget.bucket) for a in tenancy.all_accounts()]
        ),
        workers_alive=worker.alive if worker is not None else None,
    )
    address = host or settings.host
    try:
        server = HttpServer(app, host=address, port=settings.port)
    except OSError as exc:
        quick_engine.dispose()
        engine.dispose()
        reason = (
            "the port is already in use" if exc.errno == errno.EADDRINUSE else one_line(exc.strerror or exc)
        )
        raise StartupError(
            f"cannot listen on {address}:{settings.port}: {reason} (set PORT or --port, HOST or --host)"
        ) from None
    return Service(
        settings=settings, engine=engine, worker=worker, bolt=bolt, server=server, quick_engine=quick_engine
    )


def _connect_socket_mode(bolt: App, settings: Settings) -> Any:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    # Its own client asks SLACK_API_URL (not slack.com) for the socket address: GovSlack, the stub.
    handler: Any = SocketModeHandler(
        bolt, settings.slack_app_token, web_client=WebClient(base_url=settings.slack_api_url, timeout=15)
    )
    try:
        handler.connect()
    except SlackApiError as exc:
        raise StartupError(f"Slack refused SLACK_APP_TOKEN ({exc.response.get('error')})") from None
    except (SlackClientError, OSError) as exc:
        raise StartupError(f"cannot open the Socket Mode connection: {one_line(exc)}") from None
    return handler


def one_line(error: object) -> str:
    return " ".join(str(error).split())


def verify_slack_token(client: WebClient, settings: Settings) -> Workspace:
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        raise StartupError(f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')})") from None
    except (SlackClientError, OSError) as exc:
        raise StartupError(
            f"cannot reach Slack at SLACK_API_URL ({settings.slack_api_url}): {one_line(exc)}"
        ) from None
    workspace = Workspace.from_auth_test(response.data if isinstance(response.data, dict) else {})
    if not workspace.team_id:
        raise StartupError("Slack's auth.test did not say which workspace SLACK_BOT_TOKEN belongs to")
    return workspace


def record_change(engine: Engine, change: MessageChange) -> changes.Changed:
    """A person edited or deleted a message: a queued reply changes what will be sent (see `changes`)."""
    result = changes.record(engine, change, time.time())
    if result is not changes.Changed.NOT_OURS:
        logger.info(
            "message %s %s: %s", change.ts, "deleted" if change.text is None else "edited", result.value
        )
    return result


def _single_workspace(
    settings: Settings, engine: Engine, slack_client: WebClient, workspace: Workspace
) -> SingleWorkspace:
    accounts = [_blocks_account(settings, key) for key in settings.blocks_api_keys]
    gateway = SlackGateway(slack_client, pacer=_pacer(settings, engine, settings.slack_bot_token))
    return SingleWorkspace(workspace, gateway, accounts)


def _installed_from_slack(settings: Settings, engine: Engine) -> tuple[InstalledWorkspaces, OAuthSettings]:
    def gateway_for(workspace: str, token: str) -> SlackGateway:
        client = WebClient(token=token, base_url=settings.slack_api_url, timeout=15)
        # Paced per workspace, not per token: Slack's limits are the workspace's, and tokens rotate.
        return SlackGateway(client, pacer=_pacer(settings, engine, f"workspace:{workspace}"))

    return installed_workspaces(
        settings,
        engine,
        fallback=[_blocks_account(settings, key) for key in settings.blocks_api_keys],
        gateway_for=gateway_for,
        account_for=lambda key: _blocks_account(settings, key),
    )


def _pacer(settings: Settings, engine: Engine, identity: str) -> SlackPacer:
    tiers = SlackTiers(
        tier3_per_minute=settings.slack_tier3_per_minute,
        posts_per_minute_per_channel=settings.slack_posts_per_minute_per_channel,
        window=settings.rate_window_seconds,
    )
    return SlackPacer(engine, bot_token=identity, tiers=tiers)


def _build_worker(settings: Settings, engine: Engine, tenancy: Tenancy) -> Worker:
    accounts = tenancy.all_accounts()
    first = accounts[0] if accounts else None
    rt = Runtime(
        settings=settings,
        engine=engine,
        # What a turn uses when its workspace has nothing (uninstalled, no key): see `Runtime.for_turn`.
        blocks=first.client if first is not None else NOT_CONNECTED,
        slack=SlackGateway(WebClient(base_url=settings.slack_api_url, timeout=15)),
        budget=first.budget if first is not None else _budget(settings, "not-connected"),
        tenancy=tenancy,
    )
    return Worker(rt, threads=settings.worker_threads)


def _budget(settings: Settings, api_key: str) -> Budget:
    policy = BudgetPolicy.for_limit(
        settings.blocks_rate_limit_per_minute,
        settings.blocks_rate_headroom,
        window=settings.rate_window_seconds,
    )
    return Budget(api_key=api_key, policy=policy)


def _blocks_account(settings: Settings, api_key: str) -> BlocksAccount:
    """A key's client, which counts its requests for /metrics, and its budget, shared by every replica
    (its row is created by the first claim that spends from it)."""
    budget = _budget(settings, api_key)
    client = BlocksClient(
        api_url=settings.blocks_api_url,
        api_key=api_key,
        timeout=settings.blocks_timeout_seconds,
        transport=MeteredTransport(httpx.HTTPTransport(), key=key_label(budget.key_hash)),
    )
    return BlocksAccount(client, budget)
