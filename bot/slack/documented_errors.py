"""The error codes Slack documents for each Web API method the bot calls (filled from Slack's reference)."""

from __future__ import annotations

DOCUMENTED_ERRORS: dict[str, frozenset[str]] = {}
