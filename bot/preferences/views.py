"""The Slack surfaces of the settings: the `/blocks` modal of a channel, the workspace defaults modal of
App Home, what a submission says, and the short message that tells a channel its settings changed.

Plain functions from values to Slack's JSON and back; the listeners (`bot/slack/blocks_command.py`) call
them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.preferences.store import MEMBERS_MAY_CONFIGURE, NAMES, Change, Row
from bot.preferences.values import AGENT, AGENT_ID, BY_NAME, CHOICES, Resolved, Source, shown

VIEW_CHANNEL = "blocks_channel_settings"
VIEW_WORKSPACE = "blocks_workspace_settings"
SELECT = "value"  # the action id of every select (its block id names the choice)
INHERIT = "inherit"
CUSTOM_AGENT_BLOCK = "agent_custom"
CUSTOM_AGENT_INPUT = "agent_custom_value"
MEMBERS_BLOCK = "members_may_configure"
PROMPTS_BLOCK = "suggested_prompts"
PROMPTS_INPUT = "suggested_prompts_value"
MAX_PROMPTS = 4  # Slack shows at most four suggested prompts

FROM = {
    "channel": "this channel",
    "workspace": "the workspace default",
    "deployment": "the deployment default",
}


def channel_modal(channel_id: str, own: Row, inherited: Resolved, resolved: Resolved) -> dict[str, Any]:
    """The modal of one channel's settings: each choice with this channel's value (or "default"), what the
    default is and where it comes from, and what is in force now."""
    blocks: list[dict[str, Any]] = [
        _section(
            f"Settings of <#{channel_id}> for new requests (a running one keeps what it started with). "
            "*Default* follows the workspace, then the deployment."
        )
    ]
    for choice in CHOICES:
        blocks.append(_select(choice.name, own.get(choice.name), inherited, resolved.sources[choice.name]))
        if choice is AGENT:
            blocks.append(_custom_agent(own.get("agent")))
    return _modal(VIEW_CHANNEL, "Channel settings", blocks, {"channel_id": channel_id})


def workspace_modal(
    own: Row, deployment: Resolved, *, prompts: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """App Home's modal of the workspace's defaults (what channels without their own choice get), who may
    change a channel's settings, and the suggested prompts of a new DM."""
    blocks: list[dict[str, Any]] = [
        _section("Defaults of this workspace's channels. *Default* follows the deployment's environment.")
    ]
    for choice in CHOICES:
        source: Source = "workspace" if own.get(choice.name) else "deployment"
        blocks.append(_select(choice.name, own.get(choice.name), deployment, source))
        if choice is AGENT:
            blocks.append(_custom_agent(own.get("agent")))
    members = own.get(MEMBERS_MAY_CONFIGURE) == "on"
    option = _option("on", "Every member of a channel may change its settings with /blocks")
    checkbox: dict[str, Any] = {"type": "checkboxes", "action_id": SELECT, "options": [option]}
    if members:
        checkbox["initial_options"] = [option]
    blocks.append(
        {
            "type": "input",
            "block_id": MEMBERS_BLOCK,
            "optional": True,
            "label": _plain("Channel settings"),
            "hint": _plain("Off: only workspace admins and the bot's admins (ADMIN_USERS)."),
            "element": checkbox,
        }
    )
    prompts_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": PROMPTS_INPUT,
        "multiline": True,
        "max_length": 2000,
    }
    if prompts:  # no initial value at all rather than an empty one
        prompts_input["initial_value"] = "\n".join(f"{p['title']} | {p['message']}" for p in prompts)
    blocks.append(
        {
            "type": "input",
            "block_id": PROMPTS_BLOCK,
            "optional": True,
            "label": _plain("Suggested prompts of a new DM"),
            "hint": _plain(f"Up to {MAX_PROMPTS}, one per line: a title, a |, then the message."),
            "element": prompts_input,
        }
    )
    return _modal(VIEW_WORKSPACE, "Workspace defaults", blocks, {})


def submitted(view: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The choices of a submitted modal (None: default) and the problems by block id."""
    values = (view.get("state") or {}).get("values") or {}
    chosen: dict[str, str | None] = {}
    for name in NAMES:
        option = ((values.get(name) or {}).get(SELECT) or {}).get("selected_option") or {}
        value = option.get("value")
        chosen[name] = None if value in (None, INHERIT) else str(value)
    problems: dict[str, str] = {}
    custom = ((values.get(CUSTOM_AGENT_BLOCK) or {}).get(CUSTOM_AGENT_INPUT) or {}).get("value")
    custom = custom.strip().lower() if isinstance(custom, str) else ""
    if custom:
        if AGENT_ID.fullmatch(custom):
            chosen["agent"] = custom
        else:
            problems[CUSTOM_AGENT_BLOCK] = (
                "An agent id is letters, digits, dots, dashes or underscores (32 at most)."
            )
    for name, value in chosen.items():
        if value is not None and name != "agent" and value not in BY_NAME[name].options:
            problems[name] = "Pick one of the options."
    return chosen, problems


def submitted_workspace(view: Mapping[str, Any]) -> tuple[bool, list[dict[str, str]], dict[str, str]]:
    """Whether members may change channel settings, the suggested prompts, and problems by block id."""
    values = (view.get("state") or {}).get("values") or {}
    selected = ((values.get(MEMBERS_BLOCK) or {}).get(SELECT) or {}).get("selected_options") or []
    members = any(isinstance(o, dict) and o.get("value") == "on" for o in selected)
    text = ((values.get(PROMPTS_BLOCK) or {}).get(PROMPTS_INPUT) or {}).get("value") or ""
    prompts: list[dict[str, str]] = []
    problems: dict[str, str] = {}
    for line in (line.strip() for line in str(text).splitlines()):
        if not line:
            continue
        title, bar, message = line.partition("|")
        if not bar or not title.strip() or not message.strip():
            problems[PROMPTS_BLOCK] = (
                f"Write each prompt as `title | message` (this line is not: {line[:40]})."
            )
            break
        prompts.append({"title": title.strip()[:75], "message": message.strip()[:1000]})
    if len(prompts) > MAX_PROMPTS:
        problems[PROMPTS_BLOCK] = f"Slack shows at most {MAX_PROMPTS} suggested prompts."
    return members, prompts, problems


def channel_of(view: Mapping[str, Any]) -> str | None:
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    channel = metadata.get("channel_id") if isinstance(metadata, dict) else None
    return channel if isinstance(channel, str) and channel else None


def announcement(user_id: str, changes: Sequence[Change], after: Resolved) -> str:
    """What the channel reads after a change of its settings: who, and each setting now."""
    parts = [
        f"*{BY_NAME[c.name].label}*: {shown(c.name, after[c.name])}"
        + ("" if c.new is not None else f" ({FROM[after.sources[c.name]]})")
        for c in changes
        if c.name in BY_NAME
    ]
    return f"⚙️ <@{user_id}> changed the Blocks settings of this channel: " + "; ".join(parts) + "."


def summary(resolved: Resolved) -> str:
    """The settings in force, one line each with where they come from (for `/blocks` of a non-admin)."""
    return "\n".join(
        f"• *{c.label}*: {shown(c.name, resolved[c.name])} ({FROM[resolved.sources[c.name]]})"
        for c in CHOICES
    )


def workspace_summary(resolved: Resolved) -> str:
    return "\n".join(
        f"• *{choice.label}*: {shown(choice.name, resolved[choice.name])}"
        + (" (deployment)" if resolved.sources[choice.name] == "deployment" else "")
        for choice in CHOICES
    )


# -- plumbing --------------------------------------------------------------------------------------------


def _select(name: str, own: str | None, inherited: Resolved, source: Source) -> dict[str, Any]:
    choice = BY_NAME[name]
    default = _option(INHERIT, f"Default: {shown(name, inherited[name])}"[:75])
    options = [default] + [_option(value, label[:75]) for value, label in choice.options.items()]
    initial = next((o for o in options if o["value"] == own), default)
    return {
        "type": "input",
        "block_id": name,
        "label": _plain(choice.label),
        "hint": _plain(f"{choice.hint} Now: {FROM[source]}."[:150]),
        "element": {
            "type": "static_select",
            "action_id": SELECT,
            "options": options,
            "initial_option": initial,
        },
    }


def _custom_agent(own: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": CUSTOM_AGENT_INPUT,
        "max_length": 32,
        "placeholder": _plain("An agent id, for an agent not in the list"),
    }
    if own and own not in AGENT.options:
        element["initial_value"] = own
    return {
        "type": "input",
        "block_id": CUSTOM_AGENT_BLOCK,
        "optional": True,
        "label": _plain("Custom agent"),
        "hint": _plain("When set, it is the default agent instead of the choice above."),
        "element": element,
    }


def _modal(
    callback_id: str, title: str, blocks: list[dict[str, Any]], metadata: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
