"""The Bolt app: one factory for HTTP and Socket Mode, and listeners that only record.

`process_before_response=True` in both modes: Bolt answers Slack only after the listener returns, so a
message is acknowledged only once it is in the database. A failed insert raises, Bolt answers 500 (or does
not acknowledge the Socket Mode envelope) and Slack delivers the event again. Retries (`X-Slack-Retry-Num`)
are processed like any other delivery: intake's unique key makes them harmless.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from bot.config import Settings
from bot.logs import Throttle, log_context
from bot.slack import controls
from bot.slack.agent_dm import AgentDms
from bot.slack.blocks_command import BlocksCommand
from bot.slack.events import MessageChange, classify, classify_change
from bot.slack.home import AppHome
from bot.turns.intake import InboundEvent, Recorded
from bot.workspace import Delivery

logger = logging.getLogger(__name__)
Includes = Callable[[str, "str | None"], bool]

Recorder = Callable[[InboundEvent], Recorded]
RECORD = "record"


def create_app(
    settings: Settings,
    *,
    client: WebClient,
    record: Recorder,
    includes: Includes,
    oauth_settings: OAuthSettings | None = None,
    remove_workspace: Callable[[dict[str, Any]], None] | None = None,
    home: AppHome | None = None,
    presses: controls.Presses | None = None,
    change: Callable[[MessageChange], object] | None = None,
    command: BlocksCommand | None = None,
    direct_messages: AgentDms | None = None,
) -> App:
    """The Bolt app. `includes(team, enterprise)`: whether this deployment serves that workspace (the
    installed one, or, installed from Slack, any with an installation). With `oauth_settings`, Bolt finds
    each event's token in the installation store and serves the install pages; `remove_workspace` is
    called (before Slack is answered) when a workspace uninstalls the app or revokes its token. `home`
    draws App Home (see `bot.slack.home`). `presses` record the presses of a turn's buttons (and
    Slack's own stop of the thread's agent session); `change` an edit or delete of a recorded message;
    `command` answers `/blocks`; `direct_messages` offers suggested prompts when someone opens the DM."""
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "socket-mode-requests-are-not-signed",
        request_verification_enabled=not settings.socket_mode,
        process_before_response=True,
        # Listeners do one short insert; they never need more than Bolt's pool.
        token_verification_enabled=oauth_settings is None,
        attaching_conversation_kwargs_enabled=False,
        oauth_settings=oauth_settings,
    )
    errors = Throttle(logger)
    listener = _make_listener(settings, record, includes, errors, change)
    app.event("app_mention")(listener)
    app.event("message")(listener)  # every subtype: edits, deletes, joins are answered 200 and dropped
    if remove_workspace is not None:

        def removed(body: dict[str, Any]) -> None:
            remove_workspace(body)

        def revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
            tokens = event.get("tokens") or {}
            if isinstance(tokens, dict) and tokens.get("bot"):
                remove_workspace(body)  # the bot's token is gone: the workspace cannot be served

        app.event("app_uninstalled")(removed)
        app.event("tokens_revoked")(revoked)
    if direct_messages is not None:
        direct_messages.register(app)  # first: App Home's listener of app_home_opened takes any tab
    _register_home(app, home)
    if presses is not None:
        controls.register(app, includes=includes, presses=presses)
    if command is not None:
        command.register(app)
    # Anything else Slack sends (reactions, future subscriptions) is acknowledged:
    # a 404 would make Slack retry it and count toward disabling the subscription.
    app.event(re.compile(r".*"))(_acknowledge)
    app.error(_recording_failed(errors))
    return app


def _register_home(app: App, home: AppHome | None) -> None:
    """App Home's tab and its modals; without `home` the tab's events are only acknowledged."""
    if home is not None:
        home.register(app)


def _recording_failed(errors: Throttle) -> Callable[..., BoltResponse]:
    """A delivery that could not be recorded is answered 500, so Slack delivers it again; while the
    database is away that is every delivery, so it is logged once a minute with a count."""

    def handle(error: Exception) -> BoltResponse:
        errors.failed(RECORD, "cannot record a Slack event (answered 500: Slack delivers it again)", error)
        return BoltResponse(status=500, body="")

    return handle


def _make_listener(
    settings: Settings,
    record: Recorder,
    includes: Includes,
    errors: Throttle,
    change: Callable[[MessageChange], object] | None = None,
) -> Callable[..., None]:
    foreign = ForeignTeams()

    def record_message(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        """Record the message if it is for the agent; the worker does everything else."""
        delivery = Delivery.of(body)
        if delivery is None or not includes(delivery.home.team_id, delivery.home.enterprise_id):
            foreign.seen(delivery.home.team_id if delivery else "unknown")
            return  # never answered with this workspace's token
        if event.get("subtype") in ("message_changed", "message_deleted"):
            edited = classify_change(
                body,
                event,
                bot_user_id=context.bot_user_id,
                allow_external_users=settings.allow_external_users,
            )
            if edited is not None and change is not None:
                with log_context(team=edited.team_id, channel=edited.channel_id):
                    change(edited)
            return
        inbound = classify(
            body,
            event,
            bot_user_id=context.bot_user_id,
            allow_external_users=settings.allow_external_users,
        )
        if inbound is None:
            return
        with log_context(team=inbound.team_id, channel=inbound.channel_id):
            result = record(inbound)
            errors.recovered(RECORD, "Slack events are recorded again")
            quiet = result in (Recorded.DUPLICATE, Recorded.NOT_FOR_US)
            logger.log(
                logging.DEBUG if quiet else logging.INFO,
                "event %s %s/%s: %s",
                body.get("event_id"),
                inbound.channel_id,
                inbound.ts,
                result.value,
            )

    return record_message


class ForeignTeams:
    """Events of a workspace this deployment is not installed in (a misrouted app, a forged but signed
    request from another install of the same app): acknowledged, ignored, and logged once per team."""

    LIMIT = 1000  # remembered teams; past that, each is logged again rather than remembered forever

    def __init__(self) -> None:
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, team: str) -> None:
        with self._lock:
            if team in self._logged:
                return
            if len(self._logged) >= self.LIMIT:
                self._logged.clear()
            self._logged.add(team)
        logger.warning("ignoring events of team %s: this app is not installed there", team[:32])


def _acknowledge() -> None:
    """Subscribed events the bot does not act on."""
