"""Log output for the processes stratix-queue runs itself (the CLI and its worker processes):
one line per record on stderr, made cheaply.

A worker writes the seed's line for every task it records, so the line's cost is paid per task.
Where stratix-queue owns the process's logging it leaves out what the format never shows, with
the switches of the logging HOWTO's "Optimization" section (the caller's file and line, thread,
process and multiprocessing names), and formats the time once per second, not once per record.
"""

from __future__ import annotations

import logging
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CALLER_FIELDS = ("%(pathname)", "%(filename)", "%(module)", "%(lineno)", "%(funcName)")


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
    needs_caller = any(field in fmt for field in _CALLER_FIELDS)
    logging._srcfile = logging.__file__ if needs_caller else None  # the default: look it up
    logging.logThreads = "%(thread" in fmt
    logging.logProcesses = "%(process)" in fmt
    logging.logMultiprocessing = "%(processName)" in fmt
    handler = logging.StreamHandler()
    handler.setFormatter(Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=force)
