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
