"""Fingerprints (fingerprint.py): what the normalisation replaces, and which failures fall
together (docs/triage.md has the table these cases follow)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest

from stratix_queue.fingerprint import (
    FINGERPRINT_LENGTH,
    application_frame,
    exception_type,
    fingerprint,
    normalise_message,
)


@pytest.mark.parametrize(
    ("message", "normalised"),
    [
        ("user 'ann' not found", "user <str> not found"),
        ("request 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed", "request <uuid> failed"),
        ("fetching https://api.example.com/v1/rates failed", "fetching <url> failed"),
        ("bounce from ann@example.com", "bounce from <email>"),
        ("no such file /srv/data/2026/rates.csv", "no such file <path>"),
        ("cannot reach 10.0.0.7:5432", "cannot reach <ip>"),
        ("due 2026-12-07T10:00:00Z", "due <time>"),
        ("object at 0x7f3a2c1e9d40, sha deadbeef42", "object at <hex>, sha <hex>"),
        ("order 1234 of user42", "order <n> of <n>"),
        ("no exchange rate for GBP", "no exchange rate for <code>"),
        ("  spaced\tout \n text ", "spaced out text"),
        (None, ""),
    ],
)
def test_normalisation(message: str | None, normalised: str) -> None:
    assert normalise_message(message) == normalised


def _raised(func: Callable[[str], None], value: str) -> tuple[str, str]:
    try:
        func(value)
    except Exception as exc:
        return str(exc), traceback.format_exc()
    raise AssertionError("did not raise")


def _convert(currency: str) -> None:
    raise LookupError(f"no exchange rate for {currency}")


def _convert_elsewhere(currency: str) -> None:
    raise LookupError(f"no exchange rate for {currency}")


def _convert_other_type(currency: str) -> None:
    raise KeyError(f"no exchange rate for {currency}")


def test_one_error_with_other_values_falls_together() -> None:
    gbp, jpy = _raised(_convert, "GBP"), _raised(_convert, "JPY")
    assert gbp[0] != jpy[0]
    marks = {fingerprint("LookupError", *failure) for failure in (gbp, jpy)}
    assert len(marks) == 1 and len(marks.pop()) == FINGERPRINT_LENGTH


def test_another_line_or_another_exception_does_not() -> None:
    here = fingerprint("LookupError", *_raised(_convert, "GBP"))
    elsewhere = fingerprint("LookupError", *_raised(_convert_elsewhere, "GBP"))
    other_type = fingerprint("LookupError", *_raised(_convert_other_type, "GBP"))
    assert len({here, elsewhere, other_type}) == 3


def test_the_innermost_frame_of_the_application_counts() -> None:
    stack = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/billing/convert.py", line 12, in convert\n'
        "    rate = rates.lookup(currency)\n"
        '  File "/usr/lib/python3.11/site-packages/rates/api.py", line 40, in lookup\n'
        "    raise LookupError(currency)\n"
        '  File "/opt/venv/lib/python3.11/site-packages/stratix_queue/worker.py", line 9, in run\n'
        "    x()\n"
        "LookupError: GBP\n"
    )
    assert application_frame(stack) == "billing/convert.py:convert:rate = rates.lookup(currency)"
    assert exception_type(stack, "E") == "LookupError"
    assert exception_type(None, "TIMEOUT") == "TIMEOUT"
    # the same code deployed under another root is the same frame
    moved = stack.replace("/srv/app/", "/home/deploy/releases/42/")
    assert fingerprint("E", "x", moved) == fingerprint("E", "x", stack)
