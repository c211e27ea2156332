"""The listeners of App Home: opening the tab, its buttons, and the two modals it opens (a Blocks key,
the workspace defaults).

Each answers Slack within its 3 seconds. Opening the tab publishes it at once (the direct answer to the
visit). A button that opens a modal makes its one `views.open` first thing after the admin check (its
trigger id lasts 3 seconds from the click); when that fails the tab says to press again. A submission is
checked again (admin rights are asked of Slack for every change, never taken from the view that was
shown), validated (problems go back to the modal), saved in one transaction, then acknowledged, which
closes the modal. The workspace defaults save also marks the admin's tab due in that transaction: the
worker redraws it from the database, as it does after a turn.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.blocks.keys import key_hash, key_label
from bot.db.engine import reading
from bot.preferences import store, views
from bot.preferences.values import CHOICES, resolve
from bot.slack.gateway import SlackGateway
from bot.slack.home.keys import (
    ACTION_CONNECT,
    ACTION_REMOVE,
    KEY_BLOCK,
    ONLY_ADMINS,
    VIEW_CONNECT,
    KeyChecker,
    connect_modal,
    key_problem,
    refusal,
    submitted_key,
)
from bot.slack.home.tab import HomeTab, Place, call_slack
from bot.slack.home.view import ACTION_DEFAULTS, ACTION_LINK
from bot.turns import home_refresh

logger = logging.getLogger(__name__)

Includes = Callable[[str, "str | None"], bool]

_HASH = re.compile(r"[0-9a-f]{64}")
DEFAULTS_BLOCK = CHOICES[0].name  # where a refusal of the whole defaults form is shown
ONLY_ADMINS_DEFAULTS = "Only workspace admins and this bot's admins can change the workspace defaults."
NOT_SERVED = "This workspace is not connected to this Blocks bot."


@dataclass(frozen=True)
class Visitor:
    """Who is on the tab, of which workspace, and the client that answers them (that workspace's token)."""

    client: WebClient
    place: Place
    user: str


def visitor(context: BoltContext, client: WebClient, includes: Includes) -> Visitor | None:
    """The request's visitor, or None when it is not of a workspace this deployment serves."""
    team_id, enterprise_id = context.team_id or None, context.enterprise_id or None
    if team_id is None and enterprise_id is None:
        return None
    if not context.user_id or not includes(team_id or "", enterprise_id):
        return None
    return Visitor(client, Place(team_id, enterprise_id), context.user_id)


class AppHome:
    """The tab and its listeners. `check`: how a submitted key is checked against Blocks (only used when
    the tab's keys are connected from Slack)."""

    def __init__(
        self, tab: HomeTab, *, check: KeyChecker, includes: Includes, clock: Callable[[], float] = time.time
    ) -> None:
        self.tab = tab
        self.check = check
        self.includes = includes
        self.clock = clock

    def register(self, app: App) -> None:
        def opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            who = visitor(context, client, self.includes)
            if who is not None and event.get("tab") == "home":
                self.publish(who)

        def pressed(
            handler: Callable[[Visitor, dict[str, Any], dict[str, Any]], None],
        ) -> Callable[..., None]:
            def listener(
                ack: Ack,
                body: dict[str, Any],
                action: dict[str, Any],
                context: BoltContext,
                client: WebClient,
            ) -> None:
                ack()
                who = visitor(context, client, self.includes)
                if who is not None:
                    handler(who, body, action)

            return listener

        def key_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            who = visitor(context, client, self.includes)
            problem = NOT_SERVED if who is None else self.connect(who, submitted_key(view))
            if problem is None:
                ack()  # closes the modal
            else:
                ack(response_action="errors", errors={KEY_BLOCK: problem})

        def key_connected(view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            # A lazy listener, run once the modal is answered: Slack's 3 s went to the check and the save.
            who = visitor(context, client, self.includes)
            if who is not None:
                self.show_connected(who, key_hash(submitted_key(view)))

        def defaults_submitted(
            ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
        ) -> None:
            who = visitor(context, client, self.includes)
            problems = {DEFAULTS_BLOCK: NOT_SERVED} if who is None else self.save_defaults(who, view)
            if problems:
                ack(response_action="errors", errors=problems)
            else:
                ack()

        def link_opened(ack: Ack) -> None:
            ack()  # a link button: Slack opened the link; nothing to do

        app.event("app_home_opened")(opened)
        app.action(ACTION_CONNECT)(pressed(lambda who, body, _: self.open_key_form(who, _trigger(body))))
        app.action(ACTION_REMOVE)(
            pressed(lambda who, _, action: self.remove(who, str(action.get("value") or "")))
        )
        app.action(ACTION_DEFAULTS)(
            pressed(lambda who, body, _: self.open_defaults_form(who, _trigger(body)))
        )
        app.action(re.compile(f"^{ACTION_LINK}"))(link_opened)
        app.view(VIEW_CONNECT)(key_submitted, key_connected)
        app.view(views.VIEW_WORKSPACE)(defaults_submitted)

    # -- the tab -------------------------------------------------------------------------------------

    def publish(self, who: Visitor, *, notice: str | None = None, admin: bool | None = None) -> None:
        """Draw the visitor's tab; `admin` when the caller asked Slack already."""
        if admin is None:
            admin = self.is_admin(who)
        self.tab.publish(who.client, who.place, who.user, admin=admin, notice=notice)

    def is_admin(self, who: Visitor) -> bool:
        """Asked of Slack each time (a role may have changed since the tab was drawn); False when Slack
        cannot say."""
        return self.tab.is_admin(SlackGateway(who.client), who.user)

    # -- the workspace defaults ----------------------------------------------------------------------

    def open_defaults_form(self, who: Visitor, trigger_id: str) -> None:
        if not self.is_admin(who):
            self.publish(who, notice=ONLY_ADMINS_DEFAULTS, admin=False)
            return
        team = who.place.team_id
        if team is None:
            return  # an organization-wide install's own tab: no workspace to set defaults of
        try:
            with reading(self.tab.engine) as conn:
                own = {**store.workspace_row(conn, team)}
                own[store.MEMBERS_MAY_CONFIGURE] = "on" if store.members_may_configure(conn, team) else "off"
                prompts = store.suggested_prompts(conn, team) or []
        except SQLAlchemyError as exc:
            logger.warning(
                "cannot read the workspace defaults of %s: %s", who.place.shown, type(exc).__name__
            )
            self.publish(
                who, notice="The workspace defaults cannot be read right now: try again soon.", admin=True
            )
            return
        modal = views.workspace_modal(own, resolve({}, {}, self.tab.deployment), prompts=prompts)
        if call_slack("views.open", who.client.views_open, trigger_id=trigger_id, view=modal) is None:
            return
        self.publish(
            who, notice="The form did not open in time: press *Change workspace defaults* again.", admin=True
        )

    def save_defaults(self, who: Visitor, view: dict[str, Any]) -> dict[str, str]:
        """Validate and save a submitted defaults form; the problems to show in it (none: saved)."""
        chosen, problems = views.submitted(view)
        members, prompts, more = views.submitted_workspace(view)
        problems = {**problems, **more}
        if problems:
            return problems
        team = who.place.team_id
        if team is None:
            return {DEFAULTS_BLOCK: NOT_SERVED}
        if not self.is_admin(who):
            return {DEFAULTS_BLOCK: ONLY_ADMINS_DEFAULTS}
        now = self.clock()
        try:
            with self.tab.engine.begin() as conn:
                changes = store.save_workspace(
                    conn,
                    team_id=team,
                    user_id=who.user,
                    values=chosen,
                    members_may_configure=members,
                    prompts=prompts,
                    now=now,
                )
                home_refresh.mark_due(
                    conn, team_id=team, enterprise_id=who.place.enterprise_id, user_id=who.user, now=now
                )
        except SQLAlchemyError as exc:
            logger.warning("cannot save the workspace defaults of %s: %s", team, type(exc).__name__)
            return {DEFAULTS_BLOCK: "Not saved (the database is away): try again."}
        logger.info("workspace defaults of %s changed by %s: %s", team, who.user, [c.name for c in changes])
        return {}

    # -- the Blocks keys -----------------------------------------------------------------------------

    def open_key_form(self, who: Visitor, trigger_id: str) -> None:
        if self.tab.keys is None:
            return  # not a button of this deployment's tab: its keys are the environment's
        if not self.is_admin(who):
            self.publish(who, notice=ONLY_ADMINS, admin=False)
            return
        # The trigger id is good for 3 s from the click: the modal opens here, before anything else.
        if (
            call_slack("views.open", who.client.views_open, trigger_id=trigger_id, view=connect_modal())
            is None
        ):
            return
        self.publish(
            who, notice="The form did not open in time: press *Connect a Blocks key* again.", admin=True
        )

    def connect(self, who: Visitor, key: str) -> str | None:
        """Check and store the key; None when it is connected, else what to tell the admin."""
        if self.tab.keys is None:
            return "This deployment's Blocks keys come from its environment: they are not managed from Slack."
        if not self.is_admin(who):
            return ONLY_ADMINS
        problem = key_problem(key)
        if problem is not None:
            return problem
        try:
            return self._check_and_store(who, key)
        except Exception as exc:  # anything: its traceback may quote the key, so only its type is logged
            logger.error("connecting a Blocks key to %s failed: %s", who.place.shown, type(exc).__name__)
            return f"The key could not be connected ({type(exc).__name__}). Try again."

    def show_connected(self, who: Visitor, hashed: str) -> None:
        """Redraw the tab after a submission that connected the key (one that did not changed nothing)."""
        if self.tab.keys is None:
            return
        try:
            held = any(
                k.key_hash == hashed for k in self.tab.keys.list(who.place.team_id, who.place.enterprise_id)
            )
        except SQLAlchemyError:
            held = True  # let the tab say the keys cannot be read
        if held:
            self.publish(who, notice=f"✅ Connected key `{key_label(hashed)}`.")

    def remove(self, who: Visitor, hashed: str) -> None:
        keys = self.tab.keys
        if keys is None:
            return
        if not self.is_admin(who):
            self.publish(who, notice=ONLY_ADMINS, admin=False)
            return
        if not _HASH.fullmatch(hashed):
            return  # not a button of ours
        label = key_label(hashed)
        try:
            removed = keys.remove(who.place.team_id, who.place.enterprise_id, hashed)
        except SQLAlchemyError as exc:
            logger.warning(
                "cannot remove Blocks key %s of %s: %s", label, who.place.shown, type(exc).__name__
            )
            self.publish(who, notice=f"Key `{label}` could not be removed: try again.", admin=True)
            return
        if removed:
            logger.info("Blocks key %s of %s removed from App Home by %s", label, who.place.shown, who.user)
        notice = f"Removed key `{label}`." if removed else f"Key `{label}` was removed already."
        self.publish(who, notice=notice, admin=True)

    def _check_and_store(self, who: Visitor, key: str) -> str | None:
        keys = self.tab.keys
        assert keys is not None
        hashed = key_hash(key)
        label = key_label(hashed)
        if any(k.key_hash == hashed for k in keys.list(who.place.team_id, who.place.enterprise_id)):
            return f"This key (`{label}`) is connected to this workspace already."
        answer = self.check(key)
        if not answer.check.ok:
            logger.info(
                "Blocks key %s for %s not saved: %s (%s)",
                label,
                who.place.shown,
                "timeout" if answer.timed_out else answer.check.verdict,
                answer.check.status or "no answer",
            )
            return refusal(answer)
        keys.add(who.place.team_id, who.place.enterprise_id, key, added_by=who.user)
        logger.info("Blocks key %s connected to %s from App Home by %s", label, who.place.shown, who.user)
        return None


def _trigger(body: dict[str, Any]) -> str:
    return str(body.get("trigger_id") or "")
