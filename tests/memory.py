"""The in-memory driver: the SQLite driver on ``sqlite:///:memory:``, real SQL on one shared
connection (SqliteDriver sizes its pool to 1 there: each connection to ``:memory:`` is a
database of its own). It passes the conformance tier (tests/backend, backend ``memory``), so
unit tests of the worker's moving parts (tests/unit) may run on it without a server or a file.

Nothing but the driver's own session reaches its database: raw SQL for checking what was
written goes through :func:`query`, not tests/dbs.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stratix_queue.backends import open_driver
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.sql_driver import SqlDriver
from stratix_queue.migrations.runner import MigrationRunner
from stratix_queue.urls import parse_url

MEMORY = "memory"  # the conformance tier's name for it
MEMORY_URL = "sqlite:///:memory:"


def memory_driver() -> Driver:
    """A new in-memory database, migrated by the migration runner (~2 ms)."""
    driver = open_driver(parse_url(MEMORY_URL))
    MigrationRunner(driver).migrate()
    return driver


def query(driver: Driver, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the driver's own pooled session (in autocommit); SQL uses %s
    placeholders, as tests/dbs.py does."""
    assert isinstance(driver, SqlDriver), driver
    parts = sql.split("%s")
    if len(parts) - 1 != len(params):
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} values: {sql}")
    named = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
    with driver._session() as session:
        result = session.run(named, {f"p{i}": value for i, value in enumerate(params)})
    return [tuple(row.values()) for row in result.rows]
