"""``stratix-queue worker``: load the application's QueueService and run P worker processes of
N slots each, restarting a child that dies and stopping them all cleanly on a signal.

Children are forked from the supervisor, which holds no connection and no thread when it forks:
a child starts in milliseconds instead of importing everything again. When the database URL is
given (``--url`` or ``STRATIX_QUEUE_URL``) the supervisor checks the schema without importing the
application, so each child imports it itself, as with a fresh process; otherwise the supervisor
imports it to learn the URL and the children inherit the module. Either way a child opens its
own connections (a fresh QueueService sharing the application's executors). A child that cannot
run as configured (the application does not import, the schema is not ready) reports why on a
queue and exits EXIT_CONFIG; the supervisor stops the others and raises that error once.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from types import FrameType, ModuleType
from typing import TYPE_CHECKING

from stratix_queue.errors import (
    ConfigurationError,
    InvalidInputError,
    SchemaNotReadyError,
)
from stratix_queue.logformat import configure_logging, refresh_logging
from stratix_queue.service import QueueService
from stratix_queue.worker_options import WorkerOptions

if TYPE_CHECKING:  # multiprocessing is imported by the Supervisor only (P > 1 processes)
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import SimpleQueue

log = logging.getLogger("stratix_queue.supervisor")
RESTART_BACKOFF_MAX = 30.0
# A worker process ends by its grace period + HARD_EXIT_SECONDS after a signal (worker.py); one
# still there this much later is killed.
KILL_AFTER_GRACE_SECONDS = 8.0
EXIT_CONFIG = 78  # a child that cannot run as configured (EX_CONFIG): restarting will not help
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True, slots=True)
class WorkerCommand:
    """What ``stratix-queue worker`` was asked to run. The forked children inherit it (nothing
    is pickled, nothing goes through argv)."""

    app: str
    url: str | None = None
    processes: int = 1
    options: WorkerOptions = field(default_factory=WorkerOptions)


DEFAULT_APP_ATTRIBUTE = "queue"  # --app myapp means myapp:queue


def parse_app_ref(ref: str) -> tuple[str, str]:
    """``package.module[:attribute]`` -> (module, attribute); the attribute defaults to queue."""
    module_name, colon, attr = ref.partition(":")
    attr = attr if colon else DEFAULT_APP_ATTRIBUTE
    names = module_name.split(".")
    if not all(name.isidentifier() for name in names) or not attr.isidentifier():
        raise ConfigurationError(
            f"{ref!r} is not package.module[:attribute] (e.g. myapp.tasks:queue)"
        )
    return module_name, attr


def load_app(ref: str, url: str | None = None) -> QueueService:
    """``package.module[:attribute]`` -> the QueueService it names (cwd is importable)."""
    module_name, attr = parse_app_ref(ref)
    module = _import_app(module_name)
    refresh_logging()  # the application may have configured logging of its own
    if not hasattr(module, attr):
        hint = "" if ":" in ref else f" (--app {module_name} means {module_name}:{attr})"
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}{hint}")
    queue = getattr(module, attr)
    if not isinstance(queue, QueueService):
        raise ConfigurationError(
            f"{module_name}:{attr} is a {type(queue).__name__}, not a QueueService"
        )
    return queue.with_url(url) if url else queue


def _import_app(module_name: str) -> ModuleType:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # the application's code may raise anything
        raise ConfigurationError(
            f"cannot import {module_name!r} for --app: {_describe(exc)}"
        ) from exc


def _describe(exc: BaseException) -> str:
    """``RuntimeError: boom (myapp.py, line 3)``: the error and where the application raised it."""
    if isinstance(exc, ModuleNotFoundError | SyntaxError):
        return f"{type(exc).__name__}: {exc}"  # these name the module, or the file and line
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})" if frames else ""
    )
    return f"{type(exc).__name__}: {exc}{where}"


def run_in_process(command: WorkerCommand) -> int:
    """One worker in this process; it refuses to start, as the supervisor does, when the
    database is unreachable or not migrated (the options were checked when they were built)."""
    queue = load_app(command.app, command.url)
    queue.check_schema()
    queue.run_worker(options=_with_signals(command.options))
    return 0


def _with_signals(options: WorkerOptions) -> WorkerOptions:
    return replace(options, handle_signals=True)


def check_ready(command: WorkerCommand) -> None:
    """Fail before any process starts: a database unreachable or not migrated. The application
    is imported only when the URL must come from it."""
    queue = QueueService(command.url) if command.url else load_app(command.app)
    try:
        queue.check_schema()
    finally:
        queue.close()


def _child_main(command: WorkerCommand, reports: SimpleQueue[str]) -> None:
    for sig in STOP_SIGNALS:  # not the supervisor's handler, inherited
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked across the fork
    os.setpgrp()  # a terminal's Ctrl-C reaches the supervisor only; it forwards a SIGTERM
    _exit_with_parent(os.getppid())
    configure_logging(logging.INFO, "%(asctime)s %(process)d %(levelname)s %(message)s", force=True)
    try:
        queue = load_app(command.app, command.url)
        # its own connections, never ones the supervisor opened
        queue.with_url(queue.url).run_worker(options=_with_signals(command.options))
        code = 0
    except (ConfigurationError, InvalidInputError, SchemaNotReadyError) as exc:
        reports.put(str(exc))  # the supervisor says it once, not once per process
        code = EXIT_CONFIG
    sys.exit(code)


def _exit_with_parent(parent: int) -> None:
    """If the supervisor dies (SIGKILL), stop gracefully instead of running on orphaned."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stratix-queue-parent-watch", daemon=True).start()


class Supervisor:
    """Keeps P worker processes running; restarts are deadlines that a shutdown cancels."""

    def __init__(self, command: WorkerCommand) -> None:
        self.command = command
        self.burst = command.options.burst
        import multiprocessing.connection

        self._ctx = multiprocessing.get_context("fork")
        self._wait = multiprocessing.connection.wait
        self._children: dict[int, BaseProcess | None] = {}
        self._restarts: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._signals = 0
        self._kill_at: float | None = None  # when children still alive after a signal die
        self._failed = False
        self._reports: SimpleQueue[str] = self._ctx.SimpleQueue()  # children's config errors
        self._config_error: str | None = None

    def run(self) -> int:
        check_ready(self.command)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        for slot in range(self.command.processes):
            self._start(slot)
        while any(child is not None for child in self._children.values()) or self._restart_at:
            self._wait_for_exit(0.2)
            self._reap()
            self._restart_due()
            self._kill_overdue()
        if self._config_error is not None:  # one line for all the processes that said it
            raise ConfigurationError(f"worker processes cannot run: {self._config_error}")
        log.info("all worker processes stopped")
        return 1 if self._failed else 0

    def _start(self, slot: int) -> None:
        child = self._ctx.Process(
            target=_child_main, args=(self.command, self._reports), name=f"worker-{slot}"
        )
        # A stop signal must not reach a new child while it still has the supervisor's handler:
        # it stays pending until the child has put back the default one.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        self._children[slot] = child
        log.info("started worker process %s (pid %s)", slot, child.pid)

    def _wait_for_exit(self, timeout: float) -> None:
        """Sleep until a child exits or ``timeout`` passes (signals interrupt it too)."""
        sentinels = [child.sentinel for child in self._children.values() if child is not None]
        if sentinels:
            self._wait(sentinels, timeout)
        else:
            time.sleep(timeout)

    def _reap(self) -> None:
        for slot, child in list(self._children.items()):
            if child is None or child.is_alive():
                continue
            child.join()
            self._children[slot] = None
            if child.exitcode == EXIT_CONFIG:  # restarting cannot help: stop them all
                self._failed = True
                if self._config_error is None and not self._reports.empty():
                    self._config_error = self._reports.get()
                self._stop_children()
            if self._signals or self._failed or (self.burst and child.exitcode == 0):
                continue
            restarts = self._restarts[slot] = self._restarts.get(slot, 0) + 1
            delay = min(2.0 ** min(restarts, 5) / 4, RESTART_BACKOFF_MAX)
            log.warning(
                "worker process %s (pid %s) exited with %s; restarting in %.1f s",
                slot,
                child.pid,
                child.exitcode,
                delay,
            )
            self._restart_at[slot] = time.monotonic() + delay

    def _restart_due(self) -> None:
        if self._signals or self._failed:  # a shutdown began: no more restarts
            self._restart_at.clear()
            return
        now = time.monotonic()
        for slot, when in list(self._restart_at.items()):
            if when <= now:
                del self._restart_at[slot]
                self._start(slot)

    def _kill_overdue(self) -> None:
        if self._kill_at is None or time.monotonic() < self._kill_at:
            return
        for slot, child in self._children.items():
            if child is not None and child.pid is not None and child.is_alive():
                log.error("worker process %s (pid %s) did not stop: killing it", slot, child.pid)
                os.kill(child.pid, signal.SIGKILL)
        self._kill_at = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._kill_at is None:
            grace = self.command.options.grace_seconds
            self._kill_at = time.monotonic() + grace + KILL_AFTER_GRACE_SECONDS
        log.warning(
            "supervisor got %s: stopping %d worker processes%s",
            signal.Signals(signum).name,
            len(self._children),
            "" if self._signals == 1 else " at once",
        )
        self._stop_children()

    def _stop_children(self) -> None:
        for child in self._children.values():
            if child is not None and child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)  # a second one makes the child exit at once


def run_worker_command(command: WorkerCommand) -> int:
    if command.processes <= 1:
        return run_in_process(command)
    return Supervisor(command).run()
