"""App Home: the bot's Home tab, for every person of a workspace.

Everyone reads how to use the bot (with examples), their recent sessions (state, agent, channel, age,
View session and the pull requests the agent opened) and the workspace's defaults. An admin (Slack's
admins and owners, and the bot's `ADMIN_USERS`) also gets the workspace defaults form, the Blocks key
connection (installed from Slack; with one token the keys are the environment's and the tab says so),
the access settings (from the environment, read only) and today's usage: turns, Blocks requests, and
what is left of each key's budget.

The tab is published when it is opened (`listeners`, the direct answer to the visit) and again by the
worker when one of the person's turns changes state (`bot.turns.home_refresh`, at most once every 5
seconds per person): both draw it with `tab.HomeTab` from the database, into the same view (`view`).

- `kit`: Block Kit pieces; `facts`: the reads; `view`: the view, as plain functions of the facts;
- `keys`: the Blocks key connection (its blocks, its modal, the check of a key against Blocks);
- `tab`: drawing and publishing; `listeners`: the tab's listeners and its two modals.
"""

from __future__ import annotations

from bot.slack.home.keys import (
    ACTION_CONNECT,
    ACTION_REMOVE,
    KEY_BLOCK,
    KEY_INPUT,
    ONLY_ADMINS,
    VIEW_CONNECT,
    BlocksKeyCheck,
)
from bot.slack.home.listeners import ONLY_ADMINS_DEFAULTS, AppHome
from bot.slack.home.tab import HomeTab
from bot.slack.home.view import ACTION_DEFAULTS

__all__ = [
    "ACTION_CONNECT",
    "ACTION_DEFAULTS",
    "ACTION_REMOVE",
    "KEY_BLOCK",
    "KEY_INPUT",
    "ONLY_ADMINS",
    "ONLY_ADMINS_DEFAULTS",
    "VIEW_CONNECT",
    "AppHome",
    "BlocksKeyCheck",
    "HomeTab",
]
