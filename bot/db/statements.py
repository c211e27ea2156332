"""SQL that differs between SQLite and PostgreSQL, behind one function each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute

from bot.db.models import Base


def insert_ignoring_conflict(
    conn: Connection,
    model: type[Base],
    values: dict[str, Any],
    returning: InstrumentedAttribute[int] | None = None,
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING; with `returning`, the new row's value (None if it existed)."""
    if conn.dialect.name == "postgresql":
        statement: Any = postgresql.insert(model).values(values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(model).values(values).on_conflict_do_nothing()
    if returning is None:
        conn.execute(statement)
        return None
    row = conn.execute(statement.returning(returning)).first()
    return None if row is None else int(row[0])
