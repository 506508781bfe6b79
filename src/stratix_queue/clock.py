"""Conversions of database timestamps to aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(value: object) -> datetime | None:
    """Turn what a driver returns for a timestamp column into an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return to_utc(parsed)
    raise TypeError(f"not a timestamp: {value!r}")


def to_naive_utc(value: datetime) -> datetime:
    """A datetime as naive UTC, the form every backend stores (naive input is taken as UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
