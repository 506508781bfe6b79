"""``stratix-queue worker``: load the application's QueueService and run P worker processes of
N slots each, restarting a child that dies and stopping them all cleanly on a signal.

Children are forked from the supervisor, which holds no connection and no thread when it forks:
a child starts in milliseconds instead of importing everything again. When the database URL is
given (``--url`` or ``STRATIX_QUEUE_URL``) the supervisor checks the schema without importing the
application, so each child imports it itself, as with a fresh process; otherwise the supervisor
imports it to learn the URL and the children inherit the module. Either way a child opens its
own connections (a fresh QueueService sharing the application's executors).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from stratix_queue.errors import (
    ConfigurationError,
    InvalidInputError,
    SchemaNotReadyError,
)
from stratix_queue.logformat import configure_logging, refresh_logging
from stratix_queue.service import QueueService, worker_options

if TYPE_CHECKING:  # multiprocessing is imported by the Supervisor only (P > 1 processes)
    from multiprocessing.process import BaseProcess

log = logging.getLogger("stratix_queue.supervisor")
RESTART_BACKOFF_MAX = 30.0
# A worker process ends by its grace period + HARD_EXIT_SECONDS after a signal (worker.py); one
# still there this much later is killed.
KILL_AFTER_GRACE_SECONDS = 8.0
EXIT_CONFIG = 78  # a child that cannot run as configured (EX_CONFIG): restarting will not help


@dataclass(frozen=True, slots=True)
class WorkerCommand:
    """What ``stratix-queue worker`` was asked to run."""

    app: str
    url: str | None = None
    processes: int = 1
    worker_args: dict[str, Any] = field(default_factory=dict)


def load_app(ref: str, url: str | None = None) -> QueueService:
    """``package.module:attribute`` -> the QueueService it names (cwd is importable)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--app must look like package.module:queue, not {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} for --app: {exc}") from exc
    refresh_logging()  # the application may have configured logging of its own
    queue = getattr(module, attr, None)
    if not isinstance(queue, QueueService):
        raise ConfigurationError(f"{ref!r} is not a QueueService")
    return queue.with_url(url) if url else queue


def run_in_process(command: WorkerCommand, fresh: bool = False) -> int:
    queue = load_app(command.app, command.url)
    if fresh:  # a forked child: its own connections, never ones the supervisor opened
        queue = queue.with_url(queue.url)
    queue.run_worker(handle_signals=True, **command.worker_args)
    return 0


def check_ready(command: WorkerCommand) -> None:
    """Fail before any process starts: bad options, or a database not migrated. The
    application is imported only when the URL must come from it."""
    worker_options(**command.worker_args)
    queue = QueueService(command.url) if command.url else load_app(command.app)
    try:
        status = queue.migration_status()
    finally:
        queue.close()
    if status.current != status.latest:
        raise SchemaNotReadyError(
            f"the database is at schema version {status.current}, not {status.latest}: "
            "run `stratix-queue migrate` first"
        )


def _child_main(command: WorkerCommand) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # not the supervisor's handler, inherited
        signal.signal(sig, signal.SIG_DFL)
    os.setpgrp()  # a terminal's Ctrl-C reaches the supervisor only; it forwards a SIGTERM
    _exit_with_parent(os.getppid())
    configure_logging(logging.INFO, "%(asctime)s %(process)d %(levelname)s %(message)s", force=True)
    try:
        code = run_in_process(command, fresh=True)
    except (ConfigurationError, InvalidInputError, SchemaNotReadyError) as exc:
        log.error("worker process cannot run: %s", exc)
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
        self.burst = bool(command.worker_args.get("burst"))
        import multiprocessing.connection

        self._ctx = multiprocessing.get_context("fork")
        self._wait = multiprocessing.connection.wait
        self._children: dict[int, BaseProcess | None] = {}
        self._restarts: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._signals = 0
        self._kill_at: float | None = None  # when children still alive after a signal die
        self._failed = False

    def run(self) -> int:
        check_ready(self.command)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for slot in range(self.command.processes):
            self._start(slot)
        while any(child is not None for child in self._children.values()) or self._restart_at:
            self._wait_for_exit(0.2)
            self._reap()
            self._restart_due()
            self._kill_overdue()
        log.info("all worker processes stopped")
        return 1 if self._failed else 0

    def _start(self, slot: int) -> None:
        child = self._ctx.Process(target=_child_main, args=(self.command,), name=f"worker-{slot}")
        child.start()
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
            grace = float(self.command.worker_args.get("grace_seconds") or 30.0)
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
