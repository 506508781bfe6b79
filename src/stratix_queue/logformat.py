"""Log output for the processes stratix-queue runs itself (the CLI and its worker processes):
one line per record on stderr, made cheaply.

A worker writes the seed's line for every task it records, so the line's cost is paid per task.
Where stratix-queue owns the process's logging it leaves out what no handler shows, with the
switches of the logging HOWTO's "Optimization" section (the caller's file and line, thread,
process and multiprocessing names), and formats the time once per second, not once per record.
An application loaded with ``--app`` may configure logging of its own: ``refresh_logging``
(called after the import) turns on what its handlers' formats name, and everything when it cannot
tell.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CALLER_FIELDS = ("pathname", "filename", "module", "lineno", "funcName")
_DEFAULT_SRCFILE = logging._srcfile
_owned = False  # configure_logging ran in this process


class Formatter(logging.Formatter):
    """``logging.Formatter`` with the default time format, computed once per second."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # under the handler's lock: one thread at a time
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"  # the default_msec_format, "%s,%03d"


def configure_logging(level: int, fmt: str = FORMAT, force: bool = False) -> None:
    """Log records of ``level`` and above to stderr in ``fmt``, gathering only what it shows."""
    handler = logging.StreamHandler()
    handler.setFormatter(Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=force)
    global _owned
    _owned = True
    refresh_logging()


def refresh_logging() -> None:
    """Gather in each record what some handler's format shows; everything if a handler or a
    filter might read any field (a handler class of its own, a formatter subclass, a filter).
    Only in a process whose logging ``configure_logging`` set up; elsewhere nothing changes."""
    if not _owned:
        return
    found = _shown_fields()
    shown = " ".join((*_CALLER_FIELDS, "thread", "process")) if found is None else found
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
            if type(handler) not in (logging.StreamHandler, logging.FileHandler) or handler.filters:
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
