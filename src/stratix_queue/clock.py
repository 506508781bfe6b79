"""Conversions of database timestamps to aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def to_utc(value: object) -> datetime | None:
    """Turn what a driver returns for a timestamp column into an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's text form
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def to_utc_once(value: object, seen: dict[Any, datetime | None]) -> datetime | None:
    """``to_utc``, remembering each value in ``seen``: rows read together (a claim, a batch of
    inserts) share most of their timestamps, so each distinct one is converted once."""
    if value is None:
        return None
    try:
        return seen[value]
    except KeyError:
        converted = seen[value] = to_utc(value)
        return converted


def to_naive_utc(value: datetime) -> datetime:
    """A datetime as naive UTC, the form every backend stores (naive input is taken as UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
