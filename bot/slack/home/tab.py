"""Drawing one person's tab and publishing it: what the listener does when the tab is opened, and what
the worker does when one of the person's turns changed state (`bot.turns.home_refresh`), with the same
reads and the same view.

Everything the view shows comes from the database in one read (`facts`), plus the workspace's keys from
their store. When the database cannot be read the tab still publishes, with the how-to and a line that
says so: a tab Slack shows empty helps nobody.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.config import Settings
from bot.db.engine import reading
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.preferences.values import deployment_defaults
from bot.slack.gateway import SlackGateway
from bot.slack.home.facts import Account, Facts, read_facts
from bot.slack.home.keys import KeysShown
from bot.slack.home.view import home_view
from bot.tenancy import InstalledWorkspaces, Tenancy
from bot.turns import home_refresh
from bot.turns.access import policy_of

logger = logging.getLogger(__name__)

Accounts = Callable[[str, "str | None"], Sequence[Account]]


def _no_accounts(team_id: str, enterprise_id: str | None) -> Sequence[Account]:
    return ()


@dataclass(frozen=True)
class Place:
    """The workspace a request is about: its team, or an organization-wide install's enterprise when
    Slack names no team."""

    team_id: str | None
    enterprise_id: str | None

    @property
    def shown(self) -> str:
        return self.team_id or self.enterprise_id or "?"


class HomeTab:
    """The reads and the view of the tab. `keys`: the workspace keys' store when they are connected from
    Slack (None: they are the environment's); `accounts`: the Blocks keys a workspace uses, whose budgets
    admins see."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        keys: WorkspaceKeys | None = None,
        accounts: Accounts = _no_accounts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.keys = keys
        self.accounts = accounts
        self.clock = clock
        self.admin_users = frozenset(settings.admin_users)
        self.access = policy_of(settings)
        self.deployment = deployment_defaults(settings)

    @classmethod
    def of(
        cls,
        settings: Settings,
        engine: Engine,
        tenancy: Tenancy | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> HomeTab:
        """The tab of a deployment, reading with `engine` (the listener's quick one, or the worker's)."""
        keys = WorkspaceKeys(engine, tenancy.keys.vault) if isinstance(tenancy, InstalledWorkspaces) else None
        accounts: Accounts = tenancy.accounts if tenancy is not None else _no_accounts
        return cls(engine, settings, keys, accounts, clock)

    def is_admin(self, slack: SlackGateway, user: str) -> bool:
        """The bot's admins (`ADMIN_USERS`) and Slack's admins and owners; False when Slack cannot say."""
        return user in self.admin_users or slack.user(user).is_admin

    def draw(
        self, place: Place, user: str, *, admin: bool, notice: str | None = None
    ) -> tuple[dict[str, Any], float]:
        """The person's view, and when its state was read."""
        now = self.clock()
        facts = self._facts(place, user, admin=admin, now=now)
        keys = self._keys(place)
        return home_view(facts=facts, keys=keys, admin=admin, access=self.access, now=now, notice=notice), now

    def publish(
        self, client: WebClient, place: Place, user: str, *, admin: bool, notice: str | None = None
    ) -> bool:
        """The listener's publish (the person is on the tab, or pressed something on it); True when Slack
        took it. It is recorded, so that the worker's next publish keeps Slack's interval and does not
        show again what this one shows."""
        view, read_at = self.draw(place, user, admin=admin, notice=notice)
        if publish_view(client, user, view) is not None:
            return False
        if place.team_id is not None:
            try:
                home_refresh.record_published(
                    self.engine,
                    team_id=place.team_id,
                    enterprise_id=place.enterprise_id,
                    user_id=user,
                    read_at=read_at,
                    now=self.clock(),
                )
            except SQLAlchemyError as exc:  # the worker may publish a little early or once more: harmless
                logger.info("App Home publish of %s not recorded: %s", user, type(exc).__name__)
        return True

    def refresh(self, slack: SlackGateway | None, due: home_refresh.Due) -> home_refresh.Outcome:
        """The worker's publish of a tab marked due, with the workspace's client (None: the deployment is
        no longer installed there)."""
        if slack is None:
            return home_refresh.Outcome.NOWHERE
        place = Place(due.team_id, due.enterprise_id)
        view, _ = self.draw(place, due.user_id, admin=self.is_admin(slack, due.user_id))
        error = publish_view(slack.client, due.user_id, view)
        if error is not None:
            logger.info("App Home of %s/%s not refreshed: %s", due.team_id, due.user_id, error)
            return home_refresh.Outcome.REFUSED
        return home_refresh.Outcome.PUBLISHED

    def _facts(self, place: Place, user: str, *, admin: bool, now: float) -> Facts | None:
        if place.team_id is None:
            return None
        try:
            accounts = self.accounts(place.team_id, place.enterprise_id) if admin else ()
            with reading(self.engine) as conn:
                return read_facts(
                    conn,
                    place.team_id,
                    user,
                    deployment=self.deployment,
                    admin=admin,
                    accounts=accounts,
                    now=now,
                )
        except SQLAlchemyError as exc:
            logger.warning("cannot read App Home of %s/%s: %s", place.shown, user, type(exc).__name__)
            return None

    def _keys(self, place: Place) -> KeysShown:
        environment = len(self.settings.blocks_api_keys)
        if self.keys is None:
            return KeysShown(environment=environment, managed=False)
        try:
            own = self.keys.list(place.team_id, place.enterprise_id)
            organization = 0
            if not own and place.team_id and place.enterprise_id:
                organization = len(self.keys.list(None, place.enterprise_id))
        except SQLAlchemyError as exc:
            logger.warning(
                "cannot read the Blocks keys of %s for App Home: %s", place.shown, type(exc).__name__
            )
            return KeysShown(environment=environment)
        return KeysShown(own=own, organization=organization, environment=environment)


def publish_view(client: WebClient, user: str, view: dict[str, Any]) -> str | None:
    """`views.publish`; None when Slack took it, else its error (never raised: a tab Slack refused is
    drawn again at the next change or visit)."""
    return call_slack("views.publish", client.views_publish, user_id=user, view=view)


def call_slack(method: str, function: Callable[..., Any], **kwargs: Any) -> str | None:
    """A surface call (views.*) that may fail without failing the request; None when it worked, else
    Slack's error (`network_error` when Slack could not be reached)."""
    try:
        function(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown")
        metrics.count_slack_call(method, error)
        logger.warning("%s failed: %s", method, error)
        return error
    except (SlackClientError, OSError) as exc:
        metrics.count_slack_call(method, "network_error")
        logger.warning("%s failed: %s", method, type(exc).__name__)
        return "network_error"
    metrics.count_slack_call(method, None)
    return None
