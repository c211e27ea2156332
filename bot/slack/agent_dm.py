"""The bot's DM in Slack's agent messaging experience (`features.agent_view` in manifest.yml): when
someone opens it (`app_home_opened` on the Messages tab, which replaces the assistant view's
`assistant_thread_started`), it offers up to four suggested prompts: the workspace's own (chosen in App
Home) or DEFAULT_PROMPTS.

The listener only records: one short transaction queues the prompts in the outbox (see
`outbox.queue_prompts`: not again while they are on their way, nor within the hour when they are the same)
and Slack is answered; the worker makes the call. A workspace whose Slack refused the call is not asked
again, and its people see the prompts of the manifest, which are DEFAULT_PROMPTS too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App
from sqlalchemy import Engine

from bot.logs import log_context
from bot.preferences import store
from bot.turns import outbox
from bot.workspace import Delivery

logger = logging.getLogger(__name__)

Includes = Callable[[str, "str | None"], bool]

MAX_PROMPTS = 4  # Slack shows up to four
# What a coding agent is asked most; also the manifest's `agent_view.suggested_prompts` (tests compare).
DEFAULT_PROMPTS: tuple[dict[str, str], ...] = (
    {
        "title": "Fix a failing test",
        "message": "A test fails on the main branch. Find out which one and why, and fix it.",
    },
    {
        "title": "Explain some code",
        "message": "Explain how this repository is laid out, and where a request is handled.",
    },
    {
        "title": "Review a pull request",
        "message": "Review my latest pull request: bugs, missing tests, anything unclear.",
    },
    {
        "title": "Ask another agent",
        "message": "/codex Suggest three small improvements to the README.",
    },
)
_DM = re.compile(r"D[A-Z0-9]{2,31}")
_USER = re.compile(r"[UW][A-Z0-9]{2,31}")


def _messages_tab(event: Mapping[str, Any]) -> bool:
    """Bolt runs the first listener that matches: App Home's tab is App Home's (`home.py`)."""
    return event.get("tab") == "messages"


class AgentDms:
    def __init__(self, engine: Engine, *, includes: Includes, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.includes = includes
        self.clock = clock

    def register(self, app: App) -> None:
        """Before App Home's listener of the same event: each matches only its own tab."""
        app.event("app_home_opened", matchers=[_messages_tab])(self.opened)

    def opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        delivery = Delivery.of(body)
        if delivery is None or not self.includes(delivery.home.team_id, delivery.home.enterprise_id):
            return
        user, channel = event.get("user"), event.get("channel")
        if not isinstance(user, str) or not _USER.fullmatch(user):
            return
        if not isinstance(channel, str) or not _DM.fullmatch(channel):
            return
        team = delivery.home.team_id
        with log_context(team=team, channel=channel), self.engine.begin() as conn:
            prompts = (store.suggested_prompts(conn, team) or list(DEFAULT_PROMPTS))[:MAX_PROMPTS]
            queued = outbox.queue_prompts(
                conn, team, delivery.home.enterprise_id, channel, user, prompts, self.clock()
            )
        logger.debug("DM %s opened by %s: prompts %s", channel, user, "queued" if queued else "not due")
