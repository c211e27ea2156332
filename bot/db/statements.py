"""SQL that differs between SQLite and PostgreSQL, behind one function each.

Statements are built once per dialect and table and executed with the values as parameters: building a
statement costs far more than running it, and these run on every Slack delivery.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects import postgresql, sqlite

from bot.db.models import Base


def insert_ignoring_conflict(
    conn: Connection,
    model: type[Base],
    values: dict[str, Any],
    returning: str | None = None,
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING; with `returning` (a column name), the new row's value, or None
    when the row existed."""
    statement = _insert_ignoring_conflict(conn.dialect.name, cast(Table, model.__table__), returning)
    result = conn.execute(statement, values)
    if returning is None:
        return None
    row = result.first()
    return None if row is None else int(row[0])


@functools.cache
def _insert_ignoring_conflict(dialect: str, table: Table, returning: str | None) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement: Any = insert(table).on_conflict_do_nothing()
    if returning is not None:
        statement = statement.returning(table.c[returning])
    return statement


def upsert(
    conn: Connection,
    model: type[Base],
    values: dict[str, Any],
    *,
    key: str | tuple[str, ...],
    keep_greatest: tuple[str, ...] = (),
) -> None:
    """INSERT … ON CONFLICT (key, the primary key's columns) DO UPDATE SET the other columns; those named
    in `keep_greatest` keep the greater of the stored value and the new one (a time written by replicas
    whose clocks differ a little never goes back)."""
    keys = (key,) if isinstance(key, str) else key
    table = cast(Table, model.__table__)
    statement = _upsert(conn.dialect.name, table, keys, tuple(sorted(values)), keep_greatest)
    conn.execute(statement, values)


@functools.cache
def _upsert(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    keep_greatest: tuple[str, ...],
) -> Any:
    insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    greatest = func.greatest if dialect == "postgresql" else func.max  # SQLite's max(a, b) is a scalar
    updates = {
        name: greatest(table.c[name], insert.excluded[name])
        if name in keep_greatest
        else insert.excluded[name]
        for name in columns
        if name not in keys
    }
    return insert.on_conflict_do_update(index_elements=[table.c[name] for name in keys], set_=updates)
