from __future__ import annotations

import threading

from sqlalchemy import inspect

from bot.db import migrate
from bot.db.engine import make_engine


def test_upgrade_downgrade_upgrade_and_check_are_clean(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        migrate.check(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"conversations", "inbound_messages", "turns", "rate_budgets", "alembic_version"} <= tables
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        migrate.check(engine)
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_are_serialized(database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        engine = make_engine(database_url)
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = make_engine(database_url)
    migrate.check(engine)
    engine.dispose()
