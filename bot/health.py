"""What `/healthz` reports of the database: can it take a write, and how long is the Blocks queue.

A read alone says too little: SQLite locked by another process, a read-only file system, a full disk or a
PostgreSQL standby all answer `SELECT 1` and refuse every message Slack sends. So the check writes (and
commits) one small row, through the quick engine: a database that cannot take it within seconds is
reported unhealthy instead of the check hanging.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bot.db.models import HealthCheck
from bot.db.statements import upsert
from bot.turns.lease import Backlog, blocks_backlog

PROBE_NAME = "healthz"


@dataclass(frozen=True)
class DatabaseHealth:
    backlog: Backlog


def check(engine: Engine, now: float) -> DatabaseHealth:
    """Raises when the database cannot take a write (the caller answers 503)."""
    with engine.begin() as conn:
        upsert(conn, HealthCheck, {"name": PROBE_NAME, "checked_at": now}, key="name")
    # Read after the write's commit: replicas probing at once wait on the row for a moment, not a query.
    with engine.connect() as conn:
        return DatabaseHealth(backlog=blocks_backlog(conn, now))
