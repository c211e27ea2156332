"""`/blocks`: a channel's settings in a modal, `status` and `help`, answered within Slack's 3 seconds.

`/blocks` opens the modal of the channel it was typed in (`views.open` must use its trigger id within 3
seconds, so that one call is made here; when it fails, the person is told to try again). Who may change
a channel's settings: workspace admins and the bot's admins (`ADMIN_USERS`), or every member when the
workspace allows it; anyone else is answered with the settings in force. A submission is checked again
(a role may have changed since the modal opened), saved with a record of each change, and the channel
is told in a short message that the worker posts (the outbox), all in one transaction before Slack
hears back. `status` and `help` are answered in the acknowledgement itself (ephemeral, no Slack call).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.db.engine import reading
from bot.failpoints import failpoint
from bot.preferences import store, views
from bot.preferences.values import CHOICES, resolve
from bot.slack.gateway import SlackGateway
from bot.turns import outbox
from bot.turns.status import open_turns, status_text

logger = logging.getLogger(__name__)

Includes = Callable[[str, "str | None"], bool]

COMMAND = "/blocks"
HELP = (
    "*/blocks*: this channel's settings for Blocks agents (default agent, which replies continue a "
    "thread, queue or interrupt, full answers or summaries, private sessions, who may continue a thread).\n"
    "*/blocks status*: what the agents are working on in this channel, and what is queued.\n"
    "*/blocks help*: this message.\n"
    "To ask an agent, mention the bot in a channel or send it a direct message; `/codex …` at the start "
    "picks another agent."
)
ONLY_ADMINS = (
    "Only workspace admins and this bot's admins can change a channel's settings (a workspace admin can "
    "let every member do it, from the bot's App Home)."
)
NOT_SERVED = "This workspace is not connected to this Blocks bot."
UNAVAILABLE = "The settings cannot be read right now: try again in a moment."


class BlocksCommand:
    def __init__(
        self,
        engine: Engine,
        *,
        defaults: dict[str, str],
        admin_users: Collection[str],
        includes: Includes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.defaults = defaults
        self.admin_users = frozenset(admin_users)
        self.includes = includes
        self.clock = clock

    def register(self, app: App) -> None:
        app.command(COMMAND)(self.command)
        app.view(views.VIEW_CHANNEL)(self.submitted)

    # -- the listeners -------------------------------------------------------------------------------

    def command(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        team, enterprise = _text(body.get("team_id")), _text(body.get("enterprise_id")) or None
        channel, user = _text(body.get("channel_id")), _text(body.get("user_id"))
        if not (team and channel and user) or not self.includes(team, enterprise):
            ack(text=NOT_SERVED)
            return
        words = _text(body.get("text")).split()
        word = words[0].lower() if words else ""
        if word == "help":
            ack(text=HELP)
        elif word == "status":
            ack(text=self._status(team, channel))
        elif word:
            ack(text=f"`/blocks {word[:40]}` is not something I know.\n\n{HELP}")
        else:
            ack(text=self._open(client, team, channel, user, _text(body.get("trigger_id"))) or "")

    def submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        team = _text((body.get("team") or {}).get("id")) or _text(view.get("team_id"))
        user = _text((body.get("user") or {}).get("id"))
        channel = views.channel_of(view)
        enterprise = _text((body.get("enterprise") or {}).get("id")) or None
        if not (team and user and channel) or not self.includes(team, enterprise):
            ack(response_action="errors", errors={CHOICES[0].name: NOT_SERVED})
            return
        chosen, problems = views.submitted(view)
        if not problems and not self.may_configure(client, team, user):
            problems = {CHOICES[0].name: ONLY_ADMINS}
        if problems:
            ack(response_action="errors", errors=problems)
            return
        try:
            changes = self._save(team, enterprise, channel, user, chosen)
        except SQLAlchemyError as exc:
            logger.warning("cannot save the settings of %s: %s", channel, type(exc).__name__)
            ack(
                response_action="errors",
                errors={CHOICES[0].name: "Not saved (the database is away): try again."},
            )
            return
        failpoint("after_settings_saved")  # before Slack hears back: the channel must still be told
        logger.info("settings of %s/%s changed by %s: %s", team, channel, user, [c.name for c in changes])
        ack()

    # -- what they do --------------------------------------------------------------------------------

    def may_configure(self, client: WebClient, team: str, user: str) -> bool:
        """Admins (Slack's, asked each time, or `ADMIN_USERS`), or anyone when the workspace allows it."""
        if user in self.admin_users:
            return True
        with reading(self.engine) as conn:
            if store.members_may_configure(conn, team):
                return True
        return SlackGateway(client).user(user).is_admin

    def _open(self, client: WebClient, team: str, channel: str, user: str, trigger_id: str) -> str | None:
        """Open the channel's modal; what to answer instead when it is not opened."""
        try:
            with reading(self.engine) as conn:
                own = store.channel_row(conn, team, channel)
                workspace = store.workspace_row(conn, team)
            allowed = self.may_configure(client, team, user)
        except SQLAlchemyError as exc:
            logger.warning("cannot read the settings of %s: %s", channel, type(exc).__name__)
            return UNAVAILABLE
        resolved = resolve(own, workspace, self.defaults)
        if not allowed:
            return f"{ONLY_ADMINS}\n\n*Settings of <#{channel}>:*\n{views.summary(resolved)}"
        modal = views.channel_modal(channel, own, resolve({}, workspace, self.defaults), resolved)
        try:
            client.views_open(trigger_id=trigger_id, view=modal)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown")
            metrics.count_slack_call("views.open", error)
            logger.warning("views.open of the settings of %s failed: %s", channel, error)
            return "The settings did not open in time: type `/blocks` again."
        except (SlackClientError, OSError) as exc:
            metrics.count_slack_call("views.open", "network_error")
            logger.warning("views.open of the settings of %s failed: %s", channel, type(exc).__name__)
            return "The settings could not be opened (Slack did not answer): type `/blocks` again."
        metrics.count_slack_call("views.open", None)
        return None

    def _status(self, team: str, channel: str) -> str:
        try:
            with reading(self.engine) as conn:
                turns = open_turns(conn, team, channel)
        except SQLAlchemyError as exc:
            logger.warning("cannot read the status of %s: %s", channel, type(exc).__name__)
            return UNAVAILABLE
        return status_text(channel, turns, self.clock())

    def _save(
        self, team: str, enterprise: str | None, channel: str, user: str, chosen: dict[str, str | None]
    ) -> list[store.Change]:
        now = self.clock()
        with self.engine.begin() as conn:
            changes = store.save_channel(
                conn, team_id=team, channel_id=channel, user_id=user, values=chosen, now=now
            )
            if changes:
                after = store.for_channel(conn, team, channel, self.defaults)
                outbox.queue(
                    conn,
                    team_id=team,
                    enterprise_id=enterprise,
                    channel_id=channel,
                    thread_ts=None,
                    user_id=None,
                    text=views.announcement(user, changes, after),
                    now=now,
                )
        return changes


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
