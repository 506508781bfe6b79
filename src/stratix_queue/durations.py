"""Durations as text, the same for the CLI and the library: '90', '90s', '250ms', '5m', '1h30m'."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TypeAlias

from stratix_queue.errors import InvalidInputError

# What an argument that is a length of time accepts: seconds, a timedelta or text ('5m').
Seconds: TypeAlias = float | timedelta | str

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EXAMPLES = "30s, 5m, 2h, 7d or 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number (seconds) or number-unit parts with the units ms, s, m, h,
    d and w ('1h30m'); case and surrounding spaces do not matter. InvalidInputError otherwise.
    The range is not checked here: the caller knows its own limits."""
    cleaned = text.strip().lower()
    try:
        return float(cleaned)
    except ValueError:
        pass
    parts = _PART.findall(cleaned)
    if not parts or "".join(number + unit for number, unit in parts) != cleaned:
        raise InvalidInputError(f"{cleaned!r} is not a duration; use e.g. {EXAMPLES}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)
