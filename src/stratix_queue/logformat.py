"""Log output for the processes stratix-queue runs itself (the CLI and its worker processes):
one line per record on stderr, made cheaply.

A worker writes the seed's line for every task it records, so the line's cost is paid per task.
Where stratix-queue owns the process's logging it leaves out what no handler shows, with the
switches of the logging HOWTO's "Optimization" section (the caller's file and line, thread,
process and multiprocessing names), and formats the time once per second, not once per record.
An application loaded with ``--app`` may configure logging of its own: ``refresh_logging``
(called after the import) turns on what its handlers' formats name, and everything when it cannot
tell.

A batch of successes logs one line per task; inside ``held()`` the handler gathers the lines and
writes them in one call when the batch is done (one write to stderr per batch, not one per task:
each write also hands Python's GIL to the threads running tasks). Records stay one per task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stratix_queue.literal import visible

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CALLER_FIELDS = ("pathname", "filename", "module", "lineno", "funcName")
_DEFAULT_SRCFILE = logging._srcfile


class Formatter(logging.Formatter):
    """``logging.Formatter`` with the default time format, computed once per second; control
    characters of a record (an error message of a task) are shown as escapes, so a line can
    neither drive the terminal nor pass for two lines."""

    _second = -1
    _text = ""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        return visible(super().formatMessage(record))  # one scan in C when all is printable

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return visible(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return visible(super().formatStack(stack_info), keep_newlines=True)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # under the handler's lock: one thread at a time
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"  # the default_msec_format, "%s,%03d"


class StreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """``logging.StreamHandler`` that, while ``held()``, gathers the formatted lines and writes
    them in one call at the end."""

    def __init__(self) -> None:
        super().__init__()
        self._holds = 0
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not self._holds:  # under the handler's lock, as every emit
            super().emit(record)
            return
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def hold(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._holds += 1

    def release_held(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._holds -= 1
            if self._holds or not self._lines:
                return
            text = "".join(self._lines)
            self._lines.clear()
            try:
                self.stream.write(text)
                self.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": text}))


_handlers: list[StreamHandler] = []  # what configure_logging installed in this process


# Kept (issue 14, bench/README): 200 success lines take 1.2 ms held, 1.6 ms written one by one,
# ~15% of move_many_to_success(200) on SQLite.
@contextmanager
def held() -> Iterator[None]:
    """Write the lines logged meanwhile through stratix-queue's own handler in one call at the
    end (where stratix-queue does not own the process's logging: nothing changes)."""
    handlers = list(_handlers)
    for handler in handlers:
        handler.hold()
    try:
        yield
    finally:
        for handler in handlers:
            handler.release_held()


def configure_logging(level: int, fmt: str = FORMAT, force: bool = False) -> None:
    """Log records of ``level`` and above to stderr in ``fmt``, gathering only what it shows."""
    handler = StreamHandler()
    _handlers[:] = [handler]
    handler.setFormatter(Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=force)
    # The library's NullHandler (for applications that configure nothing) is not needed where
    # the root logger has a handler: each record would visit it for nothing (a worker logs a
    # line per task).
    package = logging.getLogger("stratix_queue")
    for null in [h for h in package.handlers if type(h) is logging.NullHandler]:
        package.removeHandler(null)
    refresh_logging()


def refresh_logging() -> None:
    """Gather in each record what some handler's format shows; everything if a handler or a
    filter might read any field (a handler class of its own, a formatter subclass, a filter).
    Only in a process whose logging ``configure_logging`` set up; elsewhere nothing changes."""
    if not _handlers:  # configure_logging did not run here
        return
    found = _shown_fields()
    shown = " ".join((*_CALLER_FIELDS, "thread", "process")) if found is None else found
    # Kept (issue 14, bench/README): without these switches a batch of 200 success lines takes
    # 1.6 ms instead of 1.2, ~15% of move_many_to_success(200) on SQLite.
    needs_caller = any(field in shown for field in _CALLER_FIELDS)
    logging._srcfile = _DEFAULT_SRCFILE if needs_caller else None
    logging.logThreads = "thread" in shown
    logging.logProcesses = "process" in shown
    logging.logMultiprocessing = "processName" in shown or found is None


def _shown_fields() -> str | None:
    """The format strings of all handlers, joined; None if some handler may need any field."""
    formats = []
    for logger in _loggers():
        if logger.filters:
            return None
        for handler in logger.handlers:
            if isinstance(handler, logging.NullHandler):
                continue
            if type(handler) not in (logging.StreamHandler, logging.FileHandler, StreamHandler):
                return None
            if handler.filters:
                return None
            formatter = handler.formatter
            if formatter is None:
                continue  # logging's default: the message alone
            if type(formatter) not in (logging.Formatter, Formatter):
                return None
            formats.append(formatter._fmt or "")
    return " ".join(formats)


def _loggers() -> Iterator[logging.Logger]:
    yield logging.getLogger()
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield logger
