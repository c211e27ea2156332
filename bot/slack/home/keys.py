"""The Blocks key connection of App Home: what an admin sees of the workspace's keys, the modal with one
field for a key, and the check of a submitted key against Blocks.

A submitted key is checked against Blocks in one short request before it is saved (Slack wants the
submission answered within 3 seconds), and a refused key is told apart from Blocks being unreachable or
slow. It is stored encrypted (`WorkspaceKeys`) and from then on only named by its label, the start of
its SHA-256, as the logs and the metrics name it: no view, error, log line or Slack call carries it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.blocks.client import BlocksClient, KeyCheck
from bot.blocks.keys import key_label
from bot.oauth.workspace_keys import ConnectedKey
from bot.slack.home.kit import button, context, date, escape, header, plain, section

ACTION_CONNECT = "blocks_connect_key"
ACTION_REMOVE = "blocks_remove_key"
VIEW_CONNECT = "blocks_connect_key_form"
KEY_BLOCK = "blocks_key"
KEY_INPUT = "blocks_key_value"
# Slack wants a view submission answered within 3 s: the admin check, this and the save must fit.
CHECK_TIMEOUT_SECONDS = 2.0
KEY_MAX_LENGTH = 256
# An App Home view holds at most 100 blocks (see `view.py`); a workspace with more keys sees the first.
SHOWN_KEYS = 40
ONLY_ADMINS = "Only a workspace admin can connect or remove Blocks keys."
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")


@dataclass(frozen=True)
class KeysShown:
    """The keys a workspace's conversations use: its own (by label), else its organization's, else the
    deployment's `BLOCKS_API_KEY`. `managed`: connected from Slack (installed from Slack); otherwise the
    keys are the environment's and only shown as such."""

    own: tuple[ConnectedKey, ...] = ()
    organization: int = 0
    environment: int = 0
    managed: bool = True

    @property
    def connected(self) -> bool:
        return bool(self.own or self.organization or self.environment)


def connect_modal() -> dict[str, Any]:
    """The modal with one field for a Blocks API key."""
    return {
        "type": "modal",
        "callback_id": VIEW_CONNECT,
        "title": plain("Connect Blocks"),
        "submit": plain("Check and save"),
        "close": plain("Cancel"),
        "blocks": [
            section(
                "Paste a Blocks API key of your Blocks workspace. It is checked against Blocks before it "
                "is saved, stored encrypted, and never shown again, not even to you."
            ),
            {
                "type": "input",
                "block_id": KEY_BLOCK,
                "label": plain("Blocks API key"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": KEY_INPUT,
                    "max_length": KEY_MAX_LENGTH,
                    "placeholder": plain("The key alone, on one line"),
                },
            },
        ],
    }


def status_blocks(keys: KeysShown) -> list[dict[str, Any]]:
    """What a member reads of the connection (an admin sees `admin_blocks` instead)."""
    if not keys.managed:
        return [environment_block(keys.environment)]
    if keys.connected:
        return [section("Blocks is connected to this workspace: mention the bot to start.")]
    return [
        section(
            "*Blocks is not connected to this workspace yet.* Ask a workspace admin to connect it from "
            "this tab (App Home of the bot)."
        )
    ]


def environment_block(count: int) -> dict[str, Any]:
    keys = f"{count} key{'s' if count != 1 else ''}"
    return context(
        f"*Blocks keys* come from this deployment's environment (`BLOCKS_API_KEY`, {keys}): whoever runs "
        "it changes them there. They are not managed from Slack."
    )


def admin_blocks(keys: KeysShown) -> list[dict[str, Any]]:
    """An admin's part: the workspace's keys with a remove button each, and the connect button."""
    if not keys.managed:
        return [header("Blocks keys"), environment_block(keys.environment)]
    blocks: list[dict[str, Any]] = [header("Connect Blocks")]
    if keys.own:
        blocks.append(section(f"*This workspace's Blocks keys* ({len(keys.own)}), named by their label:"))
        blocks += [_key_block(key) for key in keys.own[:SHOWN_KEYS]]
    else:
        blocks.append(section(_fallback_text(keys)))
    blocks.append(
        {
            "type": "actions",
            "block_id": "blocks_connect",
            "elements": [button(ACTION_CONNECT, "Connect a Blocks key", style="primary")],
        }
    )
    blocks.append(
        context(
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
    added = date(key.added_at, "{date_short} {time}")
    return section(
        f"`{label}` added by {_who(key.added_by)}, {added}",
        block_id=f"key_{key.key_hash[:32]}",
        accessory=button(
            ACTION_REMOVE,
            "Remove",
            style="danger",
            value=key.key_hash,
            confirm={
                "title": plain("Remove this key?"),
                "text": {
                    "type": "mrkdwn",
                    "text": f"New conversations stop using `{label}` at once; conversations it already "
                    "serves may no longer get answers.",
                },
                "confirm": plain("Remove"),
                "deny": plain("Keep it"),
                "style": "danger",
            },
        ),
    )


def _who(added_by: str | None) -> str:
    if added_by and _SLACK_USER.fullmatch(added_by):
        return f"<@{added_by}>"
    if added_by and added_by.startswith("cli"):
        return "an operator (command line)"
    return escape(added_by or "someone")


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


def submitted_key(view: Mapping[str, Any]) -> str:
    """The key typed into the modal, without the whitespace a paste brings."""
    values = (view.get("state") or {}).get("values") or {}
    value = ((values.get(KEY_BLOCK) or {}).get(KEY_INPUT) or {}).get("value")
    return value.strip() if isinstance(value, str) else ""
