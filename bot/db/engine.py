"""Engine creation: URL normalization and the per-dialect settings that make transactions safe.

SQLite: every transaction starts with `BEGIN IMMEDIATE`, so two writers never both read and then fail to
upgrade their lock ("database is locked" half way through a decision). Within one process, transactions
also queue on a lock of their own: SQLite's busy handler waits by sleeping ever longer (up to 100 ms a
time), which under contention turns a 1 ms transaction into a second-long tail, while a lock hands over
at once. Other processes on the same file still meet the busy handler (`busy_timeout`). WAL mode.
PostgreSQL: psycopg 3, READ COMMITTED; decisions that must be serialized lock their conversation row.

Every engine has a wait budget: how long a transaction may wait for the database before it fails. The
worker waits long; intake and health are quick (Slack's 3 seconds), whatever the database does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


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


# Defaults for the worker and the command line: a busy database is waited for. Intake and health use a
# short budget instead (see `QUICK_WAIT_SECONDS`): Slack wants its answer within 3 seconds, and a 500 in
# time makes Slack deliver again, which loses nothing; a late answer only makes it retry as well.
DEFAULT_WAIT_SECONDS = 30.0
QUICK_WAIT_SECONDS = 2.0
# PostgreSQL: how long a new connection may take. A server that does not answer in 10 s is away; waiting
# longer only holds a worker thread.
CONNECT_TIMEOUT_SECONDS = 10.0


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    cancel_slow_statements: bool = False,
) -> Engine:
    """An engine whose transactions wait at most about `wait_seconds` for a lock or a connection
    before failing. With `cancel_slow_statements` (the quick engines of intake and health), PostgreSQL
    also cancels any statement that runs longer than `wait_seconds`."""
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": wait_seconds, "check_same_thread": False},
            hide_parameters=True,  # an error's text (logged) must not quote message texts
        )
        _configure_sqlite(engine, wait_seconds)
        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(min(wait_seconds, CONNECT_TIMEOUT_SECONDS)))
    }
    if cancel_slow_statements:
        # A statement stuck behind a lock (or a database that stopped answering) must not hold a quick
        # caller: PostgreSQL itself cancels it.
        milliseconds = int(wait_seconds * 1000)
        options = f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds // 2}"
        given = make_url(url).query.get("options")  # connect_args would replace the URL's own options
        given = given if isinstance(given, str) else " ".join(given or ())
        connect_args["options"] = f"{given} {options}".strip()
    return create_engine(
        url,
        hide_parameters=True,  # an error's text (logged) must not quote message texts
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=wait_seconds,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


# One writer lock per SQLite file, shared by every engine of this process on that file: the quick engine
# of intake and the worker's engine queue on the same lock instead of meeting in SQLite's sleeping busy
# handler.
_WRITER_LOCKS: dict[str, threading.RLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    database = engine.url.database or ":memory:"
    key = str(Path(database).resolve()) if database != ":memory:" else f":memory:{id(engine)}"
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.RLock())


class DatabaseBusy(OperationalError):
    """The database did not let this transaction start within its engine's wait."""


# SQLite's words for a database that is busy, full or cannot be reached (its other operational errors,
# "no such table", a syntax error, are bugs that no wait cures).
_SQLITE_AWAY = ("locked", "busy", "disk i/o error", "disk is full", "readonly database", "unable to open")
# PostgreSQL's SQLSTATE classes and codes of the same: connection exceptions, insufficient resources,
# operator intervention (shutdown, crash, cannot connect now), serialization and deadlock, a lock not
# available, and a statement cancelled by its timeout.
_POSTGRES_AWAY_PREFIXES = ("08", "53", "57P", "40")
_POSTGRES_AWAY_CODES = ("55P03", "57014")


def database_unavailable(exc: BaseException) -> bool:
    """The database is away, busy or cancelled the statement: nothing the caller did is wrong, and the
    same work succeeds once the database answers again (as opposed to a bug, a schema that lacks a
    table, or data it cannot store, which no wait cures)."""
    if isinstance(exc, InterfaceError | PoolTimeout | DatabaseBusy):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(_POSTGRES_AWAY_PREFIXES) or sqlstate in _POSTGRES_AWAY_CODES
    message = str(original if original is not None else exc).lower()
    if getattr(original, "sqlstate", "") is None and "psycopg" in type(original).__module__:
        return True  # psycopg without a code: the connection failed before the server could say one
    return any(word in message for word in _SQLITE_AWAY)


def _configure_sqlite(engine: Engine, wait_seconds: float) -> None:
    busy_ms = int(wait_seconds * 1000)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides how to start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once (no busy
        # wait) while another connection is switching it or writing: replicas starting together on a
        # new file met that.
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"), seconds=min(5.0, wait_seconds))
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    writers = _writer_lock(engine)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            # A read (WAL: it sees the last commit and waits for no writer): no lock, no BEGIN IMMEDIATE.
            connection.exec_driver_sql("BEGIN")
            return
        started = time.monotonic()
        if not writers.acquire(timeout=wait_seconds):
            raise DatabaseBusy("BEGIN", None, Exception("database is locked (by this process)"))
        connection.info["sqlite_writer"] = True
        try:
            # pysqlite can fail BEGIN IMMEDIATE with SQLITE_BUSY despite busy_timeout when another
            # process is checkpointing; a short retry loop makes that invisible. The wait for the lock
            # above and the busy handler count against the same budget.
            deadline = started + wait_seconds

            def begin_immediate() -> None:
                # Each try's busy wait is what is left of the budget, so retries never add to it.
                left = max(0.0, deadline - time.monotonic())
                connection.exec_driver_sql(f"PRAGMA busy_timeout={int(left * 1000)}")
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            _while_locked(begin_immediate, seconds=min(5.0, max(0.0, deadline - time.monotonic())))
        except BaseException:
            release(connection)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def release(connection: Any) -> None:
        if connection.info.pop("sqlite_writer", False):
            writers.release()


READ_ONLY_OPTION = "blocks_slack_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only, which on SQLite neither takes the writer lock nor queues behind a
    writer: health, readiness and metrics answer whatever the writers are doing."""
    with engine.connect() as conn:
        yield conn.execution_options(**{READ_ONLY_OPTION: True})


def _while_locked(statement: Callable[[], object], seconds: float = 5.0, pause: float = 0.02) -> None:
    """Run `statement`, again while SQLite answers "database is locked", for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            statement()
            return
        except Exception as exc:  # sqlite3.OperationalError, wrapped by SQLAlchemy on a Connection
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
