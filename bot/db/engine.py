"""Engine creation: URL normalization and the per-dialect settings that make transactions safe.

SQLite: every transaction starts with `BEGIN IMMEDIATE`, so two writers never both read and then fail to
upgrade their lock ("database is locked" half way through a decision). Within one process, transactions
also queue on a lock of their own: SQLite's busy handler waits by sleeping ever longer (up to 100 ms a
time), which under contention turns a 1 ms transaction into a second-long tail, while a lock hands over
at once. Other processes on the same file still meet the busy handler (`busy_timeout`). WAL mode.
PostgreSQL: psycopg 3, READ COMMITTED; decisions that must be serialized lock their conversation row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def normalize_database_url(url: str) -> str:
    """Accept the URL forms platforms hand out and return one SQLAlchemy understands.

    Heroku and others give `postgres://…`, which SQLAlchemy rejects; `postgresql://` picks psycopg 3.
    """
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(str(exc)) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)")
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides how to start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once (no busy
        # wait) while another connection is switching it or writing: replicas starting together on a
        # new file met that.
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    writers = threading.RLock()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        writers.acquire()
        connection.info["sqlite_writer"] = True
        try:
            # pysqlite can fail BEGIN IMMEDIATE with SQLITE_BUSY despite busy_timeout when another
            # process is checkpointing; a short retry loop makes that invisible.
            _while_locked(lambda: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        except BaseException:
            release(connection)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def release(connection: Any) -> None:
        if connection.info.pop("sqlite_writer", False):
            writers.release()


def _while_locked(statement: Callable[[], object], attempts: int = 250, pause: float = 0.02) -> None:
    """Run `statement`, again while SQLite answers "database is locked" (about 5 s in all)."""
    for attempt in range(attempts):
        try:
            statement()
            return
        except Exception as exc:  # sqlite3.OperationalError, wrapped by SQLAlchemy on a Connection
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(pause)
