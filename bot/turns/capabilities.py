"""Optional Slack features a workspace turned out not to have, remembered (`slack_capabilities`) so that
the bot stops asking: a Slack that answers `unknown_method`, `missing_scope` or `not_allowed` for a call
answers the same the next time, and a call made on every DM opened or every thread would only add
failures. The answers that count are `native.UNAVAILABLE`, shared with the agent sessions of the thread.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select

from bot.db.models import SlackCapability
from bot.db.statements import upsert
from bot.turns.native import UNAVAILABLE

logger = logging.getLogger(__name__)

__all__ = ["UNAVAILABLE", "refused", "remember_refusal"]


def refused(conn: Connection, team_id: str, feature: str) -> bool:
    """Whether the workspace's Slack refused `feature` before (one primary-key read)."""
    found = conn.execute(
        select(SlackCapability.error).where(
            SlackCapability.team_id == team_id, SlackCapability.feature == feature
        )
    ).first()
    return found is not None


def remember_refusal(conn: Connection, team_id: str, feature: str, error: str, now: float) -> None:
    logger.info("workspace %s: no %s (%s); not asked again", team_id, feature.replace("_", " "), error)
    values = {"team_id": team_id, "feature": feature, "error": error[:64], "refused_at": now}
    upsert(conn, SlackCapability, values, key=("team_id", "feature"))
