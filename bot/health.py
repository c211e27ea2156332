"""What `/healthz` and `/readyz` report.

`/healthz` is liveness: can the database take a write, and how long is the Blocks queue.
`/readyz` is readiness, for a load balancer or an orchestrator deciding whether to send work here: the
database answers, its schema is at the head this code expects, and the worker threads are alive.

A read alone says too little: SQLite locked by another process, a read-only file system, a full disk or a
PostgreSQL standby all answer `SELECT 1` and refuse every message Slack sends. So the check writes (and
commits) one small row, through the quick engine: a database that cannot take it within seconds is
reported unhealthy instead of the check hanging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bot.db import migrate
from bot.db.engine import reading
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


@dataclass(frozen=True)
class Schema:
    """The schema revision this code runs against, and the revisions before it. A database at one of
    those lacks what this code needs; one at a revision this code does not know is newer (a rolling
    deploy has migrated it): this replica still runs, and its replacement is on the way."""

    head: str | None
    older: frozenset[str]

    def behind(self, current: str | None) -> bool:
        return current is None or (current != self.head and current in self.older)


def expected_schema(engine: Engine) -> Schema:
    script = ScriptDirectory.from_config(migrate.alembic_config(engine.url.render_as_string()))
    head = script.get_current_head()
    older = {r.revision for r in script.iterate_revisions(head, "base")} - {head} if head else set()
    return Schema(head, frozenset(older))


@dataclass(frozen=True)
class Readiness:
    reasons: tuple[str, ...]  # empty: ready

    @property
    def ready(self) -> bool:
        return not self.reasons


def readiness(engine: Engine, schema: Schema, workers_alive: Callable[[], bool] | None) -> Readiness:
    """Ready when the database answers at the expected schema and (where this process runs a worker) the
    worker threads run. Never raises: each failure is a reason."""
    reasons: list[str] = []
    try:
        with reading(engine) as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if schema.behind(current):
            at, head = current or "nothing", schema.head
            reasons.append(f"database schema is at {at}, expected {head}: run `blocks-slack migrate`")
    except Exception as exc:
        reasons.append(f"database unreachable: {type(exc).__name__}")
    if workers_alive is not None and not workers_alive():
        reasons.append("worker threads are not running")
    return Readiness(tuple(reasons))
