"""What every command shares: the lazily opened QueueService, output as Rich tables or JSON,
durations like 30s / 5m / 7d, and errors turned into one line and an exit code."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stratix_queue.durations import parse_duration
from stratix_queue.errors import ConfigurationError, InvalidInputError
from stratix_queue.literal import json_text, make_console, visible
from stratix_queue.service import QueueService
from stratix_queue.supervisor import load_app, parse_app_ref

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class LazyConsole:
    """Rich's Console, imported and made on first use: a worker process never prints with it,
    so it starts without loading Rich."""

    def __init__(self) -> None:
        self._real: Console | None = None

    def get(self) -> Console:
        if self._real is None:
            # Piped output (no terminal) gets a wide page instead of Rich's 80 columns.
            self._real = make_console(width=None if sys.stdout.isatty() else 160)
        return self._real

    def print(self, *objects: Any, **options: Any) -> None:
        self.get().print(*objects, **options)

    @property
    def is_terminal(self) -> bool:
        return self.get().is_terminal


console = LazyConsole()


def error_line(message: str) -> None:
    """One unwrapped line on stderr; control characters in the message are shown as escapes."""
    click.echo(visible(" ".join(f"stratix-queue: error: {message}".split())), err=True)


class State:
    """The root command's options; the QueueService is opened on first use."""

    def __init__(self, url: str | None, debug: bool) -> None:
        self.url = url
        self.debug = debug
        self._queue: QueueService | None = None

    @property
    def queue(self) -> QueueService:
        if self._queue is None:
            self._queue = QueueService(self.url)
        return self._queue

    def use_app(self, ref: str) -> QueueService:
        """The application's QueueService, with its executors' defaults, on --url if given."""
        self.close()
        self._queue = load_app(ref, self.url)
        return self._queue

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()


pass_state = click.make_pass_decorator(State)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def app_option(help: str, required: bool = False) -> Callable[[F], F]:
    """``--app package.module[:attribute]``; a value of the wrong form is a usage error."""

    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_app_ref(value)
            except ConfigurationError as exc:
                raise click.BadParameter(str(exc)) from None
        return value

    return click.option(
        "--app", metavar="MODULE[:ATTR]", required=required, callback=check, help=help
    )


if TYPE_CHECKING:  # click >= 8.2 types ParamType as generic; older releases are not subscriptable
    _ParamType = click.ParamType[float]
else:
    _ParamType = click.ParamType


class Duration(_ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except InvalidInputError as exc:
            self.fail(str(exc), param, ctx)


def plain(value: Any) -> Any:
    """A value made JSON-friendly: dataclasses to dicts, datetimes to ISO text, enums to values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.repr and not f.name.startswith("_")
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {("null" if k is None else str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    click.echo(json_text(plain(value)))


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*["" if cell is None else str(cell) for cell in row])
    console.print(grid)


def page_title(what: str, shown: int, total: int | None, limit: int, offset: int) -> str:
    """'5 task(s)', or '50 of 67 task(s)' when a page shows part of them."""
    skipped = f", after the first {offset}" if offset else ""
    if total is None:
        more = f"; more with --offset {offset + shown}" if shown and shown == limit else ""
        return f"{shown} {what}{skipped}{more}"
    if shown == total and not offset:
        return f"{shown} {what}"
    return f"{shown} of {total} {what}{skipped}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"
