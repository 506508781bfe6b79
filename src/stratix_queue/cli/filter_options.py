"""The failed-task filter as CLI options, the same on every command that takes one (``failed
list``, ``failed stats``, ``failed retry --all``, ``failed discard``): FailureFilter.cli_line
prints them back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter


F = TypeVar("F", bound=Callable[..., Any])

FILTER_OPTIONS = (
    click.option("--executor", help="Only tasks of this executor."),
    click.option("--group", help="Only tasks of this group."),
    click.option("--code", help="Only this error code (e.g. LookupError)."),
    click.option("--fingerprint", help="Only this fingerprint (see `failed stats`)."),
    click.option("--message", help="Error message contains this text (any case)."),
    click.option("--since", help="Failed at or after: a duration ago (2h, 7d) or ISO time."),
    click.option("--until", help="Failed before: a duration ago (2h, 7d) or ISO time."),
    click.option("--min-attempts", type=click.IntRange(0), help="At least this many attempts."),
    click.option("--max-attempts", type=click.IntRange(0), help="At most this many attempts."),
)


def filter_options(func: F) -> F:
    """Add the filter's options to a command; it receives them as keyword arguments, which
    :func:`failure_filter` turns into a FailureFilter."""
    for option in reversed(FILTER_OPTIONS):
        func = option(func)
    return func


def failure_filter(options: dict[str, Any]) -> FailureFilter:
    """The FailureFilter of a command's filter options (taken out of ``options``); a bad value
    raises InvalidInputError, which the CLI prints as one line."""
    from stratix_queue.failure_filter import FILTER_FIELDS, FailureFilter

    return FailureFilter.build(**{key: options.pop(key) for key in FILTER_FIELDS})
