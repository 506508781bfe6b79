"""The log format of stratix-queue's own processes: the same text as logging's default
formatter, and every field its format names is filled in (nothing the format shows is
switched off)."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from stratix_queue import logformat
from stratix_queue.logformat import FORMAT, Formatter, configure_logging, held, refresh_logging


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("stratix_queue.x", logging.INFO, __file__, 1, "m %s", (1,), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.5])
def test_formatter_prints_what_logging_prints(created: float) -> None:
    ours = Formatter(FORMAT)
    ours.format(_record(created - 1))  # a cached earlier second must not leak into this one
    assert ours.format(_record(created)) == logging.Formatter(FORMAT).format(_record(created))


def test_formatter_escapes_what_a_record_carries() -> None:
    """A task's error message in a log line can neither drive the terminal nor add a line; a
    traceback keeps its lines."""
    record = logging.LogRecord(
        "stratix_queue.x", logging.WARNING, __file__, 1, "failed: %s", ("\x1b]0;t\x07\nfake",), None
    )
    try:
        raise ValueError("\x1b[2J")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = Formatter("%(levelname)s %(message)s").format(record)
    assert text.startswith("WARNING failed: \\x1b]0;t\\x07\\nfake\nTraceback")
    assert "ValueError: \\x1b[2J" in text
    assert "\x1b" not in text and "\x07" not in text


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    flags = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    owned = logformat._handlers[:]
    yield
    logformat._handlers[:] = owned
    root.handlers[:] = handlers
    root.setLevel(level)
    (
        logging._srcfile,
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
    ) = flags


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%(process)d %(message)s", f"{os.getpid()} hello"),
        ("%(lineno)d %(message)s", None),  # the caller's line: looked up, so not 0
        ("%(threadName)s %(message)s", "MainThread hello"),
    ],
)
def test_configured_fields_are_filled(root_logging: None, fmt: str, expected: str | None) -> None:
    configure_logging(logging.INFO, fmt, force=True)
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("stratix_queue.test").info("hello")
    line = stream.getvalue().strip()
    if expected is None:
        assert int(line.split()[0]) > 0
    else:
        assert line == expected


def test_an_application_handler_gets_what_its_format_shows(root_logging: None) -> None:
    configure_logging(logging.WARNING, force=True)  # the CLI: caller and thread names off
    app = logging.getLogger("tests.app")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(threadName)s %(funcName)s %(message)s"))
    app.addHandler(handler)  # what an --app module's import does
    try:
        refresh_logging()  # called by the supervisor after the import
        app.warning("x")
    finally:
        app.removeHandler(handler)
    assert stream.getvalue().strip() == (
        "MainThread test_an_application_handler_gets_what_its_format_shows x"
    )


def test_an_unknown_handler_gets_every_field(root_logging: None) -> None:
    configure_logging(logging.WARNING, force=True)

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    seen: list[logging.LogRecord] = []
    app = logging.getLogger("tests.collect")
    app.addHandler(Collect())
    try:
        refresh_logging()
        app.warning("x")
    finally:
        app.handlers.clear()
    [record] = seen
    assert (record.threadName, record.lineno > 0, record.process) == (
        "MainThread",
        True,
        os.getpid(),
    )


def test_library_null_handlers_keep_the_savings(root_logging: None) -> None:
    configure_logging(logging.WARNING, force=True)
    quiet = logging.getLogger("tests.library")
    quiet.addHandler(logging.NullHandler())
    try:
        refresh_logging()
        assert logging.logThreads is False and logging._srcfile is None
    finally:
        quiet.handlers.clear()


class _Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


def test_held_lines_go_out_in_one_write_in_order(root_logging: None) -> None:
    configure_logging(logging.INFO, "%(message)s", force=True)
    stream = _Writes()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("stratix_queue.test")
    log.info("before")
    with held():
        log.info("one")
        with held():  # nested: written when the outermost ends
            log.info("two")
        log.warning("three")
        assert stream.calls == ["before\n"]
    log.info("after")
    assert stream.calls == ["before\n", "one\ntwo\nthree\n", "after\n"]


def test_held_changes_nothing_where_stratix_queue_does_not_own_logging(
    root_logging: None,
) -> None:
    logformat._handlers.clear()
    logging.getLogger().handlers.clear()
    stream = _Writes()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    with held():
        logging.getLogger("stratix_queue.test").info("now")
        assert stream.calls == ["now\n"]  # written at once
