"""The databases: one package each (``sqlite/``, ``postgres/``, ``mariadb/``) with its driver,
its named queries and its migrations, behind the one interface of ``driver.py``.

This module imports nothing at load (urls.py reads SCHEMES); a driver module, and its DB-API
driver, is imported only when a URL of its database is opened.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from stratix_queue.backends.driver import Driver
    from stratix_queue.backends.limits import Limits
    from stratix_queue.urls import DatabaseURL


class Registered(NamedTuple):
    dialect: str  # DatabaseURL.dialect, and the name tests and messages use
    module: str
    driver: str
    default_port: int | None = None  # a server's, when the URL gives none
    needs_database: bool = False  # the URL must name a database (MariaDB has no default one)


_SQLITE = Registered("sqlite", "stratix_queue.backends.sqlite.driver", "SqliteDriver")
_POSTGRES = Registered("postgres", "stratix_queue.backends.postgres.driver", "PostgresDriver", 5432)
_MARIADB = Registered(
    "mysql", "stratix_queue.backends.mariadb.driver", "MariadbDriver", 3306, needs_database=True
)

# The one table of databases, by URL scheme; any other scheme is refused (urls.parse_url).
SCHEMES = {
    "sqlite": _SQLITE,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
    "mysql": _MARIADB,
    "mariadb": _MARIADB,
}


def package_dir(dialect: str) -> str:
    """The folder of a database's package (its queries.sql and migrations/), without importing
    its driver."""
    entry = _entry(dialect)
    package = importlib.import_module(entry.module.rsplit(".", 1)[0])
    return os.path.dirname(os.path.abspath(str(package.__file__)))


def migrations_dir(dialect: str) -> str:
    return os.path.join(package_dir(dialect), "migrations")


def _entry(dialect: str) -> Registered:
    return next(entry for entry in SCHEMES.values() if entry.dialect == dialect)


def open_driver(url: DatabaseURL, limits: Limits | None = None) -> Driver:
    """The driver for a parsed URL."""
    entry = _entry(url.dialect)
    driver: Driver = getattr(importlib.import_module(entry.module), entry.driver)(url, limits)
    return driver


__all__ = ["SCHEMES", "Registered", "migrations_dir", "open_driver", "package_dir"]
