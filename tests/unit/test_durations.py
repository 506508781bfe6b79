"""Duration text, shared by the CLI's options and the library's delay/timeout arguments."""

from __future__ import annotations

import pytest

from stratix_queue import InvalidInputError
from stratix_queue.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("90s", 90.0),
        ("250ms", 0.25),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        (" 1H30M ", 5400.0),
        ("0s", 0.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "3x", "5 minutes", "1h 30m", "-5s", "h1", "1.s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a duration; use e"):
        parse_duration(text)


def test_numbers_as_text_are_seconds_and_unchecked() -> None:
    assert parse_duration("-5") == -5.0  # the caller refuses what is out of its range
    assert parse_duration("inf") == float("inf")
