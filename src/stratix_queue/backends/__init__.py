"""Database backends: one :class:`Backend` protocol, one module per database."""

from __future__ import annotations

from stratix_queue.backends.base import Backend, SqlBackend
from stratix_queue.backends.limits import Limits
from stratix_queue.urls import DatabaseURL


def open_backend(url: DatabaseURL, limits: Limits | None = None) -> SqlBackend:
    """The backend for a parsed URL; the driver is imported only when it is needed."""
    if url.dialect == "sqlite":
        from stratix_queue.backends.sqlite import SqliteBackend

        return SqliteBackend(url, limits)
    if url.dialect == "postgres":
        from stratix_queue.backends.postgres import PostgresBackend

        return PostgresBackend(url, limits)
    from stratix_queue.backends.mysql import MysqlBackend

    return MysqlBackend(url, limits)


__all__ = ["Backend", "SqlBackend", "open_backend"]
