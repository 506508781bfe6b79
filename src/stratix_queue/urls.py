"""Parse a database URL into the settings of one backend."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from stratix_queue.backends import SCHEMES, Registered
from stratix_queue.errors import UnsupportedURLError

DEFAULT_URL = "sqlite:///stratix-queue.db"
URL_ENV = "STRATIX_QUEUE_URL"

_USERINFO_PASSWORD = re.compile(r":[^@/]*@")  # user:PASSWORD@, however many slashes before
_QUERY_PASSWORD = re.compile(r"([?&][a-z]*password=)[^&#]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed database URL; ``password`` never appears in ``str()`` or messages."""

    dialect: str
    raw: str = field(repr=False)
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    path: str = ""  # SQLite file path or ":memory:"
    query: dict[str, str] = field(default_factory=dict, repr=False)  # may hold sslpassword

    @property
    def where(self) -> str:
        """Host and port (or file) for messages, without credentials."""
        if self.dialect == "sqlite":
            return self.path
        return f"{self.host}:{self.port}"


def resolve_url(url: str | None) -> str:
    """The URL given, else ``STRATIX_QUEUE_URL``, else the SQLite default file."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def parse_url(url: str) -> DatabaseURL:
    if not isinstance(url, str) or "://" not in url:
        raise UnsupportedURLError(
            f"not a database URL: {masked(url)!r}; use sqlite:///file.db, "
            "postgresql://user@host:port/db or mysql://user@host:port/db"
        )
    scheme = url.split("://", 1)[0].lower()
    entry = SCHEMES.get(scheme)
    if entry is None:
        raise UnsupportedURLError(
            f"unknown database URL scheme {scheme!r}; use one of: "
            + ", ".join(f"{name}://" for name in SCHEMES)
        )
    if entry.default_port is None:
        return _parse_sqlite(url)
    return _parse_server(url, entry)


def _parse_server(url: str, entry: Registered) -> DatabaseURL:
    try:
        parts = urlsplit(url)  # raises on a malformed IPv6 host: "postgresql://u@[::1/db"
    except ValueError as exc:
        raise UnsupportedURLError(f"malformed database URL {masked(url)!r}: {exc}") from None
    try:
        port = parts.port or entry.default_port
        host = parts.hostname or "localhost"
    except ValueError as exc:
        raise UnsupportedURLError(f"bad port in database URL: {exc}") from None
    query = dict(parse_qsl(parts.query))
    # A password in the query (?password=...) wins over one in the userinfo; either way it
    # is kept out of ``query``, so it is never passed on or shown twice.
    password = query.pop("password", None)
    database = unquote(parts.path.lstrip("/"))
    if entry.needs_database and not database:  # else "No database selected" at the first query
        raise UnsupportedURLError(
            f"the MySQL/MariaDB URL names no database; add it after the host: "
            f"mysql://user@{host}:{port}/DATABASE"
        )
    return DatabaseURL(
        dialect=entry.dialect,
        raw=url,
        host=host,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or "") if password is None else password,
        database=database,
        query=query,
    )


def _parse_sqlite(url: str) -> DatabaseURL:
    # SQLAlchemy's convention: sqlite:///relative.db and sqlite:////absolute/path.db
    rest = url.split("://", 1)[1]
    if not rest.startswith("/"):
        raise UnsupportedURLError(
            f"SQLite URLs look like sqlite:///file.db or sqlite:////abs/path.db, not {url!r}"
        )
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise UnsupportedURLError("a SQLite URL needs a file path: sqlite:///stratix-queue.db")
    return DatabaseURL(dialect="sqlite", raw=url, path=unquote(path))


def masked(url: object) -> str:
    """A URL for a message: what could be a password (userinfo after ':', ?password=) is ***."""
    text = str(url)
    text = _USERINFO_PASSWORD.sub(":***@", text)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def scrub(text: str, password: str) -> str:
    """A driver message on one line, with the password, if any, replaced by ``***``."""
    line = " ".join(text.split())
    return line.replace(password, "***") if password else line
