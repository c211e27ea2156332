"""The choices a channel or a workspace can make, and how they resolve.

A channel's row and its workspace's row hold a value per choice or nothing (inherit); the deployment's
environment (`Settings`) is the last fallback. `resolve` says, for each choice, the value in force and
where it came from, which the `/blocks` modal shows beside each field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.config import CORE_AGENTS, Settings

Source = Literal["channel", "workspace", "deployment"]

# A custom agent id: what Blocks names agents by (letters, digits, dashes, dots, underscores).
AGENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


@dataclass(frozen=True)
class Choice:
    """One setting: its column, its label, and the values it may take (value → what the modal says)."""

    name: str
    label: str
    options: Mapping[str, str]
    hint: str


AGENT = Choice(
    "agent",
    "Default agent",
    {agent: agent for agent in CORE_AGENTS},
    "The agent of new threads; a `/codex`-style first word still picks another.",
)
REPLY_MODE = Choice(
    "reply_mode",
    "Replies in a bot thread",
    {"all": "Every reply continues the session", "mentions": "Only replies that mention the bot"},
    "In a busy channel, people can talk in a thread without every word going to the agent.",
)
BUSY_POLICY = Choice(
    "busy_policy",
    "While the agent works",
    {"queue": "Queue replies until it finishes", "interrupt": "A reply interrupts it"},
    "What a reply does while the agent is still working on the thread.",
)
ANSWERS = Choice(
    "answers",
    "Answers",
    {"full": "The whole answer in Slack", "summary": "A short summary and the session link"},
    "A summary keeps a busy channel readable; the full answer is in the session.",
)
PRIVATE_SESSIONS = Choice(
    "private_sessions",
    "Private sessions",
    {"on": "Sessions of DMs and private channels are private", "off": "Sessions are shared in Blocks"},
    "A private session is visible only to the key's owner in Blocks.",
)
CONTINUE_THREADS = Choice(
    "continue_threads",
    "Who may continue a thread",
    {"anyone": "Anyone allowed to use the bot", "starter": "Only the person who started it"},
    "Applies to replies and to the thread's buttons.",
)

CHOICES = (AGENT, REPLY_MODE, BUSY_POLICY, ANSWERS, PRIVATE_SESSIONS, CONTINUE_THREADS)
BY_NAME = {choice.name: choice for choice in CHOICES}


def deployment_defaults(settings: Settings) -> dict[str, str]:
    """The environment's value of each choice, as the rows spell them."""
    return {
        "agent": settings.blocks_agent,
        "reply_mode": settings.reply_mode,
        "busy_policy": settings.busy_policy,
        "answers": settings.answers,
        "private_sessions": "on" if settings.private_sessions else "off",
        "continue_threads": settings.continue_threads,
    }


@dataclass(frozen=True)
class Resolved:
    """The value of each choice in force for a channel, and where each came from."""

    values: Mapping[str, str]
    sources: Mapping[str, Source]

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    @property
    def agent(self) -> str:
        return self.values["agent"]

    @property
    def reply_mode(self) -> str:
        return self.values["reply_mode"]

    @property
    def busy_policy(self) -> str:
        return self.values["busy_policy"]


def resolve(
    channel: Mapping[str, str | None], workspace: Mapping[str, str | None], defaults: Mapping[str, str]
) -> Resolved:
    """Channel over workspace over the deployment's `defaults`, one choice at a time."""
    values: dict[str, str] = {}
    sources: dict[str, Source] = {}
    for name, fallback in defaults.items():
        if valid(name, channel.get(name)):
            values[name], sources[name] = str(channel[name]), "channel"
        elif valid(name, workspace.get(name)):
            values[name], sources[name] = str(workspace[name]), "workspace"
        else:
            values[name], sources[name] = fallback, "deployment"
    return Resolved(values, sources)


def valid(name: str, value: str | None) -> bool:
    """Whether `value` is one `name` may take (a value stored by an older or newer version that this one
    does not know is ignored, as if inherited)."""
    if value is None or value == "":
        return False
    if name == "agent":
        return AGENT_ID.fullmatch(value) is not None
    return value in BY_NAME[name].options


def shown(name: str, value: str) -> str:
    """A value as people read it in Slack."""
    if name == "agent":
        return value
    return BY_NAME[name].options.get(value, value)
