"""Database backends: one :class:`Backend` protocol, one module per database."""

from __future__ import annotations

from stratix_queue.backends.base import Backend, SqlBackend
from stratix_queue.urls import DatabaseURL


def open_backend(url: DatabaseURL) -> SqlBackend:
    """The backend for a parsed URL; the driver is imported only when it is needed."""
    if url.dialect == "sqlite":
        from stratix_queue.backends.sqlite import SqliteBackend

        return SqliteBackend(url)
    if url.dialect == "postgres":
        from stratix_queue.backends.postgres import PostgresBackend

        return PostgresBackend(url)
    from stratix_queue.backends.mysql import MysqlBackend

    return MysqlBackend(url)


__all__ = ["Backend", "SqlBackend", "open_backend"]
