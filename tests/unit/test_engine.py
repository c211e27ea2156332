from __future__ import annotations

import sqlite3

import pytest

from bot.db.engine import _while_locked


def test_a_locked_database_is_tried_again_other_errors_are_not() -> None:
    calls: list[int] = []

    def locked_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")

    _while_locked(locked_twice, pause=0)
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("no such table: turns")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _while_locked(broken, pause=0)
    assert len(calls) == 1


def test_a_database_locked_for_good_is_reported_after_the_attempts() -> None:
    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _while_locked(always_locked, seconds=0.05, pause=0.01)


def test_only_errors_that_a_wait_cures_count_as_the_database_being_away() -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from bot.db.engine import DatabaseBusy, database_unavailable

    def sqlite(message: str) -> OperationalError:
        return OperationalError("SELECT 1", {}, Exception(message))

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for away in (
        "database is locked",
        "database or disk is full",
        "disk I/O error",
        "unable to open database file",
    ):
        assert database_unavailable(sqlite(away)), away
    for bug in ("no such table: turns", "no such column: x", 'near "SELEC": syntax error'):
        assert not database_unavailable(sqlite(bug)), bug
    for code in ("08006", "57P01", "53300", "40P01", "55P03", "57014"):
        assert database_unavailable(OperationalError("x", {}, PgError(code))), code
    assert not database_unavailable(OperationalError("x", {}, PgError("42P01")))
    assert not database_unavailable(ProgrammingError("x", {}, Exception("undefined table")))
    assert database_unavailable(DatabaseBusy("BEGIN", None, Exception("database is locked")))
    assert not database_unavailable(ValueError("not a database error"))


def test_database_errors_never_quote_a_statements_values(database_url: str) -> None:
    """Errors are logged (with tracebacks) while the database fails: their text must not carry the
    message texts that were being written."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from bot.db.engine import make_engine

    engine = make_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as raised, engine.begin() as conn:
            conn.execute(text("INSERT INTO no_such_table (body) VALUES (:body)"), {"body": "PRIVATE WORDS"})
        assert "PRIVATE WORDS" not in str(raised.value)
    finally:
        engine.dispose()
