"""The App Home tab: how to use the bot, and where a workspace admin connects the workspace's Blocks keys.

Installed from Slack (a key store is available), an admin (Slack's `is_admin` or `is_owner`, or a user
listed in `ADMIN_USERS`) sees the workspace's keys by label, a button that opens a modal with one field
for a key, and a remove button per key; everyone else reads how to use the bot, and that an admin must
connect Blocks while nothing is connected. Installed with one token (`SLACK_BOT_TOKEN`), the keys come
from the environment and the tab says so.

A submitted key is checked against Blocks in one short request before it is saved (Slack wants the
submission answered within 3 seconds), and a refused key is told apart from Blocks being unreachable or
slow. It is stored encrypted (`WorkspaceKeys`) and from then on only named by its label, the start of
its SHA-256, as the logs and the metrics name it: no view, error, log line or Slack call carries it.
Admin rights are asked of Slack again for every change, never taken from the view that was shown.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.blocks.client import BlocksClient, KeyCheck
from bot.blocks.keys import key_hash, key_label
from bot.oauth.workspace_keys import ConnectedKey, WorkspaceKeys
from bot.slack.gateway import SlackGateway

logger = logging.getLogger(__name__)

Includes = Callable[[str, "str | None"], bool]

ACTION_CONNECT = "blocks_connect_key"
ACTION_REMOVE = "blocks_remove_key"
VIEW_CONNECT = "blocks_connect_key_form"
KEY_BLOCK = "blocks_key"
KEY_INPUT = "blocks_key_value"
# Slack wants a view submission answered within 3 s: the admin check, this and the save must fit.
CHECK_TIMEOUT_SECONDS = 2.0
KEY_MAX_LENGTH = 256
# An App Home view holds at most 100 blocks; a workspace with more keys than this sees the first ones.
SHOWN_KEYS = 40
_HASH = re.compile(r"[0-9a-f]{64}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")

HOW_TO = (
    "Mention {bot} in a channel it is in, or send it a direct message, and a Blocks coding agent starts "
    "on it. Every reply in that thread continues the same session; the answer arrives in the thread. "
    "Start a message with `/codex`, `/gemini` and so on to pick another agent."
)
ONLY_ADMINS = "Only a workspace admin can connect or remove Blocks keys."


# -- what the tab shows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The workspace whose keys a request is about: its team, or an organization-wide install's
    enterprise when Slack names no team."""

    team_id: str | None
    enterprise_id: str | None

    @property
    def shown(self) -> str:
        return self.team_id or self.enterprise_id or "?"

    @classmethod
    def of(cls, context: BoltContext) -> Place | None:
        team_id, enterprise_id = context.team_id or None, context.enterprise_id or None
        if team_id is None and enterprise_id is None:
            return None
        return cls(team_id, enterprise_id)


@dataclass(frozen=True)
class KeysShown:
    """The keys a workspace's conversations use: its own (by label), else its organization's, else the
    deployment's `BLOCKS_API_KEY`."""

    own: tuple[ConnectedKey, ...]
    organization: int = 0
    environment: int = 0

    @property
    def connected(self) -> bool:
        return bool(self.own or self.organization or self.environment)


def home_view(
    *, admin: bool, keys: KeysShown, bot_user_id: str | None = None, notice: str | None = None
) -> dict[str, Any]:
    """The App Home view of one user: the how-to, then the keys (admins) or whether Blocks is connected."""
    blocks = _how_to(bot_user_id)
    if notice:
        blocks.append(_context(notice))
    if admin:
        blocks += _connect_section(keys)
    elif keys.connected:
        blocks.append(_section("Blocks is connected to this workspace: mention the bot to start."))
    else:
        blocks.append(
            _section(
                "*Blocks is not connected to this workspace yet.* Ask a workspace admin to connect it "
                "from this tab (App Home of the bot)."
            )
        )
    return {"type": "home", "blocks": blocks}


def environment_home_view(*, environment_keys: int, bot_user_id: str | None = None) -> dict[str, Any]:
    """The App Home view of a deployment installed with one token: its keys are the environment's."""
    count = f"{environment_keys} key{'s' if environment_keys != 1 else ''}"
    blocks = _how_to(bot_user_id)
    blocks.append(
        _section(
            f"*Blocks keys* come from this deployment's environment (`BLOCKS_API_KEY`, {count}): "
            "whoever runs it changes them there. They are not managed from Slack."
        )
    )
    return {"type": "home", "blocks": blocks}


def connect_modal() -> dict[str, Any]:
    """The modal with one field for a Blocks API key."""
    return {
        "type": "modal",
        "callback_id": VIEW_CONNECT,
        "title": _plain("Connect Blocks"),
        "submit": _plain("Check and save"),
        "close": _plain("Cancel"),
        "blocks": [
            _section(
                "Paste a Blocks API key of your Blocks workspace. It is checked against Blocks before it "
                "is saved, stored encrypted, and never shown again, not even to you."
            ),
            {
                "type": "input",
                "block_id": KEY_BLOCK,
                "label": _plain("Blocks API key"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": KEY_INPUT,
                    "max_length": KEY_MAX_LENGTH,
                    "placeholder": _plain("The key alone, on one line"),
                },
            },
        ],
    }


def _how_to(bot_user_id: str | None) -> list[dict[str, Any]]:
    bot = f"<@{bot_user_id}>" if bot_user_id else "the bot"
    return [
        {"type": "header", "text": _plain("Blocks coding agents")},
        _section(HOW_TO.format(bot=bot)),
        {"type": "divider"},
    ]


def _connect_section(keys: KeysShown) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("Connect Blocks")}]
    if keys.own:
        blocks.append(_section(f"*This workspace's Blocks keys* ({len(keys.own)}), named by their label:"))
        blocks += [_key_block(key) for key in keys.own[:SHOWN_KEYS]]
    else:
        blocks.append(_section(_fallback_text(keys)))
    blocks.append(
        {
            "type": "actions",
            "block_id": "blocks_connect",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_CONNECT,
                    "text": _plain("Connect a Blocks key"),
                    "style": "primary",
                }
            ],
        }
    )
    blocks.append(
        _context(
            "A key is checked against Blocks before it is saved, stored encrypted, and never shown again: "
            "its label is the start of its SHA-256, as the logs and metrics name it. Several keys of one "
            "Blocks workspace add capacity."
        )
    )
    return blocks


def _fallback_text(keys: KeysShown) -> str:
    if keys.organization:
        return "No key of its own: conversations here use the keys connected for the whole organization."
    if keys.environment:
        return (
            "No key of its own: conversations here use the deployment's key (`BLOCKS_API_KEY`). Connect "
            "one to use your own Blocks workspace and its own rate limit."
        )
    return (
        "*No Blocks key is connected.* Conversations here are told that an admin must connect one: "
        "connect a key of your Blocks workspace."
    )


def _key_block(key: ConnectedKey) -> dict[str, Any]:
    label = key_label(key.key_hash)
    return {
        "type": "section",
        "block_id": f"key_{key.key_hash[:32]}",
        "text": {"type": "mrkdwn", "text": f"`{label}` added by {_who(key.added_by)}, {_when(key.added_at)}"},
        "accessory": {
            "type": "button",
            "action_id": ACTION_REMOVE,
            "text": _plain("Remove"),
            "style": "danger",
            "value": key.key_hash,
            "confirm": {
                "title": _plain("Remove this key?"),
                "text": {
                    "type": "mrkdwn",
                    "text": f"New conversations stop using `{label}` at once; conversations it already "
                    "serves may no longer get answers.",
                },
                "confirm": _plain("Remove"),
                "deny": _plain("Keep it"),
                "style": "danger",
            },
        },
    }


def _who(added_by: str | None) -> str:
    if added_by and _SLACK_USER.fullmatch(added_by):
        return f"<@{added_by}>"
    if added_by and added_by.startswith("cli"):
        return "an operator (command line)"
    return _escape(added_by or "someone")


def _when(epoch: float) -> str:
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(epoch)}^{{date_short}} {{time}}|{fallback}>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


# -- checking a key --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyAnswer:
    """What Blocks said of a key, and whether it said nothing in time (worth trying again at once)."""

    check: KeyCheck
    timed_out: bool = False


KeyChecker = Callable[[str], KeyAnswer]


@dataclass(frozen=True)
class BlocksKeyCheck:
    """One request to Blocks with the key, within `timeout`."""

    api_url: str
    timeout: float = CHECK_TIMEOUT_SECONDS

    def __call__(self, key: str) -> KeyAnswer:
        client = BlocksClient(api_url=self.api_url, api_key=key, timeout=self.timeout)
        started = time.monotonic()
        try:
            check = client.check_key()
        finally:
            client.close()
        # `check_key` calls a refused connection and no answer in time both "unreachable"; only the
        # second waits out the whole timeout.
        waited = time.monotonic() - started >= self.timeout * 0.9
        return KeyAnswer(check, timed_out=check.verdict == "unreachable" and check.status is None and waited)


def key_problem(key: str) -> str | None:
    """Why what was typed cannot be a Blocks API key (it goes into an HTTP header), or None."""
    if not key:
        return "Paste a Blocks API key."
    if len(key) > KEY_MAX_LENGTH or not key.isascii() or not key.isprintable() or " " in key:
        return "That is not a Blocks API key: paste the key alone, on one line, without spaces."
    return None


def refusal(answer: KeyAnswer) -> str:
    """What the admin is told when a key was not accepted: the key's fault, or Blocks'."""
    check = answer.check
    if check.verdict == "rejected":
        return (
            f"Blocks refused this key ({check.status}): check that it is a Blocks API key of your Blocks "
            "workspace. Nothing was saved."
        )
    if answer.timed_out:
        return "Blocks did not answer in time, so the key could not be checked. Nothing was saved: try again."
    if check.verdict == "unreachable":
        return (
            "Blocks cannot be reached right now, so the key could not be checked (it may be fine). Nothing "
            "was saved: try again later, and tell whoever runs this app if it lasts."
        )
    if check.verdict == "rate_limited":
        return "This key's Blocks rate limit is used up, so it could not be checked. Try again in a minute."
    return (
        f"Blocks answered in a way this app does not understand ({check.status}), so the key could not be "
        "checked. Nothing was saved: tell whoever runs this app (is its BLOCKS_API_URL right?)."
    )


# -- the listeners ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    """Who is on the tab, of which workspace, and the client that answers them (that workspace's token)."""

    client: WebClient
    place: Place
    user: str
    bot_user_id: str | None = None


def visitor(context: BoltContext, client: WebClient, includes: Includes) -> Visitor | None:
    """The request's visitor, or None when it is not of a workspace this deployment serves."""
    place = Place.of(context)
    if place is None or not context.user_id or not includes(place.team_id or "", place.enterprise_id):
        return None
    return Visitor(client, place, context.user_id, context.bot_user_id)


class AppHome:
    """The tab and its listeners when the workspace's keys are ours to keep (installed from Slack)."""

    def __init__(
        self,
        keys: WorkspaceKeys,
        *,
        admin_users: Collection[str],
        environment_keys: int,
        check: KeyChecker,
        includes: Includes,
    ) -> None:
        self.keys = keys
        self.admin_users = frozenset(admin_users)
        self.environment_keys = environment_keys
        self.check = check
        self.includes = includes

    def register(self, app: App) -> None:
        def opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            who = visitor(context, client, self.includes)
            if who is not None and event.get("tab") == "home":
                self.publish(who)

        def open_form(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            ack()
            who = visitor(context, client, self.includes)
            if who is not None:
                self.open_form(who, str(body.get("trigger_id") or ""))

        def remove(ack: Ack, action: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            ack()
            who = visitor(context, client, self.includes)
            if who is not None:
                self.remove(who, str(action.get("value") or ""))

        def submitted(ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            who = visitor(context, client, self.includes)
            problem = None if who is None else self.connect(who, submitted_key(view))
            if problem is None:
                ack()  # closes the modal
            else:
                ack(response_action="errors", errors={KEY_BLOCK: problem})

        def connected(view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            # A lazy listener, run once the modal is answered: Slack's 3 s went to the check and the save.
            who = visitor(context, client, self.includes)
            if who is not None:
                self.show_connected(who, key_hash(submitted_key(view)))

        app.event("app_home_opened")(opened)
        app.action(ACTION_CONNECT)(open_form)
        app.action(ACTION_REMOVE)(remove)
        app.view(VIEW_CONNECT)(submitted, connected)

    # -- what each listener does --------------------------------------------------------------------

    def publish(self, who: Visitor, *, notice: str | None = None, admin: bool | None = None) -> None:
        """Draw the visitor's tab; `admin` when the caller asked Slack already."""
        try:
            shown = self._keys_shown(who.place)
        except SQLAlchemyError as exc:
            logger.warning("cannot read the Blocks keys of %s for App Home: %s", who.place.shown, _kind(exc))
            shown, notice = KeysShown(own=()), "The keys cannot be read right now: open this tab again soon."
        if admin is None:
            admin = self.is_admin(who)
        view = home_view(admin=admin, keys=shown, bot_user_id=who.bot_user_id, notice=notice)
        _call_slack("views.publish", who.client.views_publish, user_id=who.user, view=view)

    def open_form(self, who: Visitor, trigger_id: str) -> None:
        if not self.is_admin(who):
            self.publish(who, notice=ONLY_ADMINS, admin=False)
            return
        # The trigger id is good for 3 s from the click: the modal opens here, before anything else.
        if _call_slack("views.open", who.client.views_open, trigger_id=trigger_id, view=connect_modal()):
            return
        self.publish(
            who, notice="The form did not open in time: press *Connect a Blocks key* again.", admin=True
        )

    def connect(self, who: Visitor, key: str) -> str | None:
        """Check and store the key; None when it is connected, else what to tell the admin."""
        if not self.is_admin(who):
            return ONLY_ADMINS
        problem = key_problem(key)
        if problem is not None:
            return problem
        try:
            return self._check_and_store(who, key)
        except Exception as exc:  # anything: its traceback may quote the key, so only its type is logged
            logger.error("connecting a Blocks key to %s failed: %s", who.place.shown, _kind(exc))
            return f"The key could not be connected ({_kind(exc)}). Try again."

    def show_connected(self, who: Visitor, hashed: str) -> None:
        """Redraw the tab after a submission that connected the key (one that did not changed nothing)."""
        try:
            held = any(k.key_hash == hashed for k in self._own_keys(who.place))
        except SQLAlchemyError:
            held = True  # let `publish` say the keys cannot be read
        if held:
            self.publish(who, notice=f"✅ Connected key `{key_label(hashed)}`.")

    def remove(self, who: Visitor, hashed: str) -> None:
        if not self.is_admin(who):
            self.publish(who, notice=ONLY_ADMINS, admin=False)
            return
        if not _HASH.fullmatch(hashed):
            return  # not a button of ours
        label = key_label(hashed)
        try:
            removed = self.keys.remove(who.place.team_id, who.place.enterprise_id, hashed)
        except SQLAlchemyError as exc:
            logger.warning("cannot remove Blocks key %s of %s: %s", label, who.place.shown, _kind(exc))
            self.publish(who, notice=f"Key `{label}` could not be removed: try again.", admin=True)
            return
        if removed:
            logger.info("Blocks key %s of %s removed from App Home by %s", label, who.place.shown, who.user)
        notice = f"Removed key `{label}`." if removed else f"Key `{label}` was removed already."
        self.publish(who, notice=notice, admin=True)

    def is_admin(self, who: Visitor) -> bool:
        """Asked of Slack each time (a role may have changed since the tab was drawn); False when Slack
        cannot say."""
        return who.user in self.admin_users or SlackGateway(who.client).user(who.user).is_admin

    # -- plumbing -----------------------------------------------------------------------------------

    def _check_and_store(self, who: Visitor, key: str) -> str | None:
        hashed = key_hash(key)
        label = key_label(hashed)
        if any(k.key_hash == hashed for k in self._own_keys(who.place)):
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
        self.keys.add(who.place.team_id, who.place.enterprise_id, key, added_by=who.user)
        logger.info("Blocks key %s connected to %s from App Home by %s", label, who.place.shown, who.user)
        return None

    def _own_keys(self, place: Place) -> tuple[ConnectedKey, ...]:
        return self.keys.list(place.team_id, place.enterprise_id)

    def _keys_shown(self, place: Place) -> KeysShown:
        own = self._own_keys(place)
        organization = 0
        if not own and place.team_id and place.enterprise_id:
            organization = len(self.keys.list(None, place.enterprise_id))
        return KeysShown(own=own, organization=organization, environment=self.environment_keys)


class EnvironmentHome:
    """The tab when the keys are the environment's (one token, `SLACK_BOT_TOKEN`): the how-to only."""

    def __init__(self, *, environment_keys: int, includes: Includes) -> None:
        self.environment_keys = environment_keys
        self.includes = includes

    def register(self, app: App) -> None:
        def opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
            who = visitor(context, client, self.includes)
            if who is None or event.get("tab") != "home":
                return
            view = environment_home_view(environment_keys=self.environment_keys, bot_user_id=who.bot_user_id)
            _call_slack("views.publish", client.views_publish, user_id=who.user, view=view)

        app.event("app_home_opened")(opened)


def submitted_key(view: Mapping[str, Any]) -> str:
    """The key typed into the modal, without the whitespace a paste brings."""
    values = (view.get("state") or {}).get("values") or {}
    value = ((values.get(KEY_BLOCK) or {}).get(KEY_INPUT) or {}).get("value")
    return value.strip() if isinstance(value, str) else ""


def _kind(error: BaseException) -> str:
    """An error as it may be logged here: its type (SQLAlchemy's and httpx's texts quote parameters)."""
    return type(error).__name__


def _call_slack(method: str, function: Callable[..., Any], **kwargs: Any) -> bool:
    """A surface call (views.*) that may fail without failing the request: Slack is answered 200
    whatever happens here, since a retry would not make the view any better."""
    try:
        function(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown")
        metrics.count_slack_call(method, error)
        logger.warning("%s failed: %s", method, error)
        return False
    except (SlackClientError, OSError) as exc:
        metrics.count_slack_call(method, "network_error")
        logger.warning("%s failed: %s", method, _kind(exc))
        return False
    metrics.count_slack_call(method, None)
    return True
