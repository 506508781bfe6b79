"""A group's limits as given by users: a concurrency and a rate such as ``"100/m"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratix_queue.errors import InvalidInputError
from stratix_queue.validation import check_int

MAX_LIMIT = 1_000_000
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_UNIT_NAMES = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` task starts in any window of ``period`` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        for unit, seconds in sorted(_UNITS.items(), key=lambda item: -item[1]):
            if self.period % seconds == 0:
                times = int(self.period // seconds)
                return f"{self.count}/{'' if times == 1 else times}{unit}"
        return f"{self.count}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """What limits a group: None where it has no such limit."""

    group: str
    concurrency: int | None
    rate: Rate | None


def parse_rate(value: object) -> Rate:
    """``"100/m"``, ``"20/s"``, ``"1000/h"``, ``"5/10s"`` (5 per 10 seconds), or a Rate."""
    if isinstance(value, Rate):
        return Rate(check_int(value.count, "rate", 1, MAX_LIMIT), _period(value.period))
    match = _RATE.match(value) if isinstance(value, str) else None
    unit = _UNIT_NAMES.get(match.group(3), match.group(3)) if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidInputError(
            f"rate must look like '100/m' (per s, m or h; '5/10s': 5 per 10 seconds), not {value!r}"
        )
    count = check_int(int(match.group(1)), "rate", 1, MAX_LIMIT)
    return Rate(count, _period(int(match.group(2) or 1) * _UNITS[unit]))


def check_concurrency(value: object) -> int:
    return check_int(value, "concurrency", 1, MAX_LIMIT)


def _period(seconds: float) -> float:
    if not isinstance(seconds, int | float) or not 0 < seconds <= 7 * 86400:
        raise InvalidInputError(f"a rate's period must be from 1 s to 7 days, not {seconds!r}")
    return float(seconds)
