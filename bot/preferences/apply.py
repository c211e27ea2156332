"""What a new turn takes from its channel's choices.

Intake decides three of them as the message arrives (the agent of a new thread, whether a reply without a
mention continues it, whether it interrupts). The worker's three (answers, private sessions, who may
continue) are written on the turn when it is opened, so that a running turn keeps what it started with
whatever is changed meanwhile, and the worker reads them as the turn's own `Settings`.
"""

from __future__ import annotations

import json
from dataclasses import replace

from bot.config import Settings
from bot.preferences.values import Resolved

TURN_CHOICES = ("answers", "private_sessions", "continue_threads")


def snapshot(resolved: Resolved) -> str:
    """The worker's choices of a turn opened now, as stored on it."""
    return json.dumps({name: resolved[name] for name in TURN_CHOICES}, sort_keys=True)


def turn_settings(settings: Settings, stored: str | None) -> Settings:
    """The deployment's settings with a turn's own choices applied (None, or a turn opened before the
    choices existed: the deployment's)."""
    if not stored:
        return settings
    try:
        choices = json.loads(stored)
    except ValueError:
        return settings
    if not isinstance(choices, dict):
        return settings
    answers = choices.get("answers")
    private = choices.get("private_sessions")
    continue_threads = choices.get("continue_threads")
    return replace(
        settings,
        answers="summary" if answers == "summary" else "full" if answers == "full" else settings.answers,
        private_sessions=private == "on" if private in ("on", "off") else settings.private_sessions,
        continue_threads="starter"
        if continue_threads == "starter"
        else "anyone"
        if continue_threads == "anyone"
        else settings.continue_threads,
    )
