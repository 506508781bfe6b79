"""Test databases on the real servers, and raw SQL for checking what the queue wrote.

Each test run creates its own databases (``stratix_t_<random>``) and drops them at the end, so
runs never disturb each other. Raw SQL here goes through the drivers directly: tests check the
tables themselves, not only what the queue's API says.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from stratix_queue.urls import parse_url

BACKENDS = ("sqlite", "postgres", "mysql")
ADMIN_URLS = {
    "postgres": os.environ.get("STRATIX_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test"),
    "mysql": os.environ.get("STRATIX_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def connect(url: str) -> Any:
    """A raw DB-API connection in autocommit mode."""
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        return sqlite3.connect(parsed.path, isolation_level=None, timeout=30)
    if parsed.dialect == "postgres":
        import psycopg  # the drivers are imported when used: unit tests need neither

        return psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.user or None,
            dbname=parsed.database,
            autocommit=True,
            connect_timeout=5,
        )
    import pymysql

    return pymysql.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.user or "root",
        password=parsed.password,
        database=parsed.database or None,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=5,
        init_command="SET time_zone = '+00:00'",
    )


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement; SQL uses %s placeholders (turned into ? for SQLite)."""
    conn = connect(url)
    try:
        if parse_url(url).dialect == "sqlite":
            cursor = conn.execute(sql.replace("%s", "?"), tuple(params))
        else:
            cursor = conn.cursor()
            cursor.execute(sql, tuple(params) or None)
        rows = cursor.fetchall() if cursor.description else []
        return [tuple(row) for row in rows]
    finally:
        conn.close()


def scalar(url: str, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = query(url, sql, params)
    return rows[0][0] if rows else None


_ADMIN: dict[str, Any] = {}  # one raw connection per server, kept for the whole run


def _admin_connection(dialect: str) -> Any:
    if dialect not in _ADMIN:
        _ADMIN[dialect] = connect(ADMIN_URLS[dialect])
    return _ADMIN[dialect]


def _admin(dialect: str, sql: str) -> None:
    """Run a statement on the server's admin connection (a new connection costs ~40 ms on
    MariaDB, and the suite creates and drops a hundred databases); one that was lost meanwhile
    (the statement did not run) is replaced once."""
    for attempt in (1, 2):
        conn = _admin_connection(dialect)
        try:
            conn.cursor().execute(sql)
            return
        except Exception as exc:
            if attempt == 2 or not _connection_lost(exc):
                raise
            _ADMIN.pop(dialect, None)
            with contextlib.suppress(Exception):
                conn.close()


def close_admin_connections() -> None:
    while _ADMIN:
        _, conn = _ADMIN.popitem()
        with contextlib.suppress(Exception):
            conn.close()


def _connection_lost(exc: Exception) -> bool:
    """The connection was gone before the statement reached the server."""
    if type(exc).__module__.startswith("pymysql"):
        return bool(exc.args) and exc.args[0] in (0, 2006, 2013)  # closed, gone away, lost
    return type(exc).__name__ in {"OperationalError", "InterfaceError"} and "closed" in str(exc)


def reachable(dialect: str) -> str | None:
    """None if the server answers, else why not."""
    try:
        _admin_connection(dialect)
    except Exception as exc:  # any failure to connect means: not reachable
        return f"{dialect} at {ADMIN_URLS[dialect]} is not reachable: {exc}"
    return None


def create_database(dialect: str) -> str:
    name = f"stratix_t_{uuid.uuid4().hex[:12]}"
    if dialect == "postgres":
        _admin(dialect, f"CREATE DATABASE {name}")
    else:
        _admin(dialect, f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return _with_database(ADMIN_URLS[dialect], name)


def drop_database(url: str) -> None:
    parsed = parse_url(url)
    if parsed.dialect == "postgres":
        _admin(parsed.dialect, f"DROP DATABASE IF EXISTS {parsed.database} WITH (FORCE)")
    else:
        _admin(parsed.dialect, f"DROP DATABASE IF EXISTS {parsed.database}")


QUEUE_TABLES = (
    "queue_jobs",
    "queue_success",
    "queue_groups",
    "queue_workers",
    "queue_job_errors",
    "queue_failure_counts",
    "queue_removed",
    "queue_payload_history",
    "queue_audit",
    "queue_plans",
    "queue_plan_items",
    "queue_rollups",
    "queue_schedules",
)


def clear_tables(url: str) -> None:
    """Delete every row of the queue's tables (not the version table), on one connection: a
    new one costs ~35 ms on MariaDB, and this runs before most tests."""
    conn = connect(url)
    try:
        cursor = conn.cursor()
        for table in QUEUE_TABLES:
            cursor.execute(f"DELETE FROM {table}")
    finally:
        conn.close()
