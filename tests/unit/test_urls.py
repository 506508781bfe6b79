"""Pure-Python checks of stratix_queue.urls."""

from __future__ import annotations

import re

import pytest

from stratix_queue import UnsupportedURLError
from stratix_queue.urls import DEFAULT_URL, URL_ENV, masked, parse_url, resolve_url, scrub


def test_sqlite_relative_absolute_and_memory() -> None:
    relative = parse_url("sqlite:///stratix-queue.db")
    assert (relative.dialect, relative.path) == ("sqlite", "stratix-queue.db")
    nested = parse_url("sqlite:///data/queue.db")
    assert nested.path == "data/queue.db"
    absolute = parse_url("sqlite:////var/lib/queue.db")
    assert absolute.path == "/var/lib/queue.db"
    memory = parse_url("sqlite:///:memory:")
    assert memory.path == ":memory:"
    assert parse_url("sqlite:///my%20queue.db").path == "my queue.db"
    assert relative.where == "stratix-queue.db"
    assert (relative.host, relative.port) == ("", None)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://relative.db"])
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(UnsupportedURLError):
        parse_url(url)


@pytest.mark.parametrize(
    ("url", "dialect", "port"),
    [
        ("postgresql://u@h/db", "postgres", 5432),
        ("postgres://u@h/db", "postgres", 5432),
        ("POSTGRESQL://u@h/db", "postgres", 5432),
        ("mysql://u@h/db", "mysql", 3306),
        ("mariadb://u@h/db", "mysql", 3306),
        ("postgresql://u@h:6543/db", "postgres", 6543),
        ("mysql://u@h:3307/db", "mysql", 3307),
    ],
)
def test_server_schemes_and_default_ports(url: str, dialect: str, port: int) -> None:
    parsed = parse_url(url)
    assert (parsed.dialect, parsed.host, parsed.port, parsed.user, parsed.database) == (
        dialect,
        "h",
        port,
        "u",
        "db",
    )
    assert parsed.where == f"h:{port}"


def test_missing_host_defaults_to_localhost() -> None:
    parsed = parse_url("postgresql:///db")
    assert (parsed.host, parsed.port, parsed.database, parsed.user) == ("localhost", 5432, "db", "")


def test_credentials_are_decoded_and_hidden() -> None:
    url = "postgresql://us%40er:p%40ss%3Aw%2Fd%25@db.example:5433/my%20db?sslmode=require"
    parsed = parse_url(url)
    assert parsed.user == "us@er"
    assert parsed.password == "p@ss:w/d%"
    assert parsed.database == "my db"
    assert parsed.query == {"sslmode": "require"}
    assert parsed.where == "db.example:5433"
    for shown in (parsed.where, str(parsed), repr(parsed)):
        assert "p@ss" not in shown
        assert "p%40ss" not in shown


def test_scrub() -> None:
    assert scrub("password s3cret failed for s3cret", "s3cret") == "password *** failed for ***"
    assert scrub("nothing here", "") == "nothing here"


@pytest.mark.parametrize(
    "url",
    ["redis://x", "nonsense", "", "http://h/db", "mongodb://h/db", "postgresql://h:notaport/db"],
)
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(UnsupportedURLError):
        parse_url(url)


def test_unsupported_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="redis"):
        parse_url("redis://x")


def test_resolve_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert resolve_url(None) == DEFAULT_URL == "sqlite:///stratix-queue.db"
    monkeypatch.setenv(URL_ENV, "postgresql://env@h/db")
    assert resolve_url(None) == "postgresql://env@h/db"
    assert resolve_url("mysql://arg@h/db") == "mysql://arg@h/db"
    monkeypatch.setenv(URL_ENV, "")
    assert resolve_url(None) == DEFAULT_URL


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_password_in_the_query_wins_and_leaves_the_query(scheme: str) -> None:
    only = parse_url(f"{scheme}://app@h/db?password=p%40ss&sslmode=require")
    assert (only.user, only.password, only.query) == ("app", "p@ss", {"sslmode": "require"})
    both = parse_url(f"{scheme}://app:userinfo_pw@h/db?password=query_pw")
    assert both.password == "query_pw"
    assert both.query == {}
    for shown in (str(both), repr(both), both.where):
        assert "query_pw" not in shown and "userinfo_pw" not in shown


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u:pw_x@[::1/db", "malformed database URL 'postgresql://u:***@[::1/db'"),
        ("mysql://u:pw_x@[::1/db", "malformed database URL"),
        ("mysql://u:pw_x@h:3306", "names no database"),
        ("mariadb://u:pw_x@h/", "names no database"),
        ("postgresql:/u:pw_x@h/db", "not a database URL: 'postgresql:/u:***@h/db'"),
    ],
)
def test_malformed_server_urls_say_so_without_the_password(url: str, says: str) -> None:
    with pytest.raises(UnsupportedURLError, match=re.escape(says)) as raised:
        parse_url(url)
    assert "pw_x" not in str(raised.value)


def test_masked() -> None:
    assert masked("postgresql://u:pa:ss@h/db?sslpassword=k&x=1") == (
        "postgresql://u:***@h/db?sslpassword=***&x=1"
    )
    assert masked("postgresql://u@h/db?password=p") == "postgresql://u@h/db?password=***"
    assert masked("sqlite:///file.db") == "sqlite:///file.db"
