"""Running one executor call: in a thread, on the async loop, or in a child process, with an
optional timeout. Returns None on success or the ErrorData of the failure."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import ErrorData
from stratix_queue.executors import (
    AsyncRunner,
    DeadlineExceeded,
    ExecutorSpec,
    error_from_exception,
)
from stratix_queue.job import Job
from stratix_queue.validation import error_data

if TYPE_CHECKING:  # multiprocessing is imported when a task first runs in a child (~4 ms)
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

log = logging.getLogger("stratix_queue.worker")
TIMEOUT_CODE = "TIMEOUT"
PROCESS_EXITED_CODE = "PROCESS_EXITED"
NOT_IMPORTABLE_CODE = "EXECUTOR_NOT_IMPORTABLE"


def _timeout_error(job: Job, seconds: float) -> ErrorData:
    return error_data(
        f"task {job.id} ({job.name}) timed out after {seconds:g} s", None, TIMEOUT_CODE
    )


class Execution:
    """Runs executors for one worker; owns its async loop and its child processes."""

    def __init__(self) -> None:
        self._async = AsyncRunner()
        self._processes = ProcessSlots()

    def run(self, spec: ExecutorSpec, job: Job) -> ErrorData | None:
        timeout = job.timeout if job.timeout is not None else spec.timeout
        if spec.isolation == "process":
            return self._processes.run(spec, job, timeout)
        if spec.is_async:
            return self._run_async(spec, job, timeout)
        if timeout is None:
            return _call(spec, job)
        return self._run_thread_with_timeout(spec, job, timeout)

    def _run_async(self, spec: ExecutorSpec, job: Job, timeout: float | None) -> ErrorData | None:
        try:
            self._async.run(spec, job, timeout)
        except DeadlineExceeded:
            return _timeout_error(job, timeout or 0)
        except (Exception, SystemExit) as exc:
            return error_from_exception(exc)
        return None

    def _run_thread_with_timeout(
        self, spec: ExecutorSpec, job: Job, timeout: float
    ) -> ErrorData | None:
        result: list[ErrorData | None] = []
        thread = threading.Thread(
            target=lambda: result.append(_call(spec, job)),
            name=f"stratix-task-{job.id}",
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            # Python cannot stop a thread: it runs on unobserved; isolation="process" kills.
            log.warning(
                "task %s (%s) timed out; its thread keeps running in the background "
                "(use isolation='process' for hard timeouts)",
                job.id,
                job.name,
            )
            return _timeout_error(job, timeout)
        return result[0] if result else None

    def kill_processes(self) -> None:
        self._processes.kill_all()

    def close(self) -> None:
        self._async.close()
        self._processes.kill_all()


def _call(spec: ExecutorSpec, job: Job) -> ErrorData | None:
    try:
        result = spec.func(*spec.arguments(job))
        if result is not None and inspect.isawaitable(result):  # a lambda returning a coroutine
            import asyncio

            asyncio.run(_await(result))
    except (Exception, SystemExit) as exc:  # a task's failure, never the worker's
        return error_from_exception(exc)
    return None


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# -- process isolation ---------------------------------------------------------------------------


def _child_main(conn: Connection) -> None:
    """A child process: run one call at a time, answer ('ok',) or ('error', ErrorData)."""
    import pickle

    while True:
        try:
            # the parent pickled it: the same program, never data from outside
            func, args, is_async = pickle.loads(conn.recv_bytes())  # noqa: S301
        except EOFError:
            return
        try:
            if is_async:
                import asyncio

                asyncio.run(func(*args))
            else:
                func(*args)
        except (Exception, SystemExit) as exc:
            conn.send(("error", error_from_exception(exc)))
        else:
            conn.send(("ok", None))


class _Child:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe()
        self.conn: Connection = parent
        self.process: BaseProcess = ctx.Process(target=_child_main, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class ProcessSlots:
    """Long-lived child processes (spawned, so no inherited locks or connections), one per
    running task; a child that times out is killed and a new one started on demand."""

    def __init__(self) -> None:
        self._ctx: Any = None  # the spawn context, once a child is needed
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._lock = threading.Lock()

    def run(self, spec: ExecutorSpec, job: Job, timeout: float | None) -> ErrorData | None:
        import pickle  # with multiprocessing, only once a task runs in a child

        try:
            message = pickle.dumps((spec.func, spec.arguments(job), spec.is_async))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            return error_data(
                f"executor {spec.name!r} runs in a child process, so it must be a module-level "
                f"function the child can import: {exc}",
                None,
                NOT_IMPORTABLE_CODE,
            )
        child = self._take()
        try:
            child.conn.send_bytes(message)
            if not child.conn.poll(timeout):
                self._discard(child)
                return _timeout_error(job, timeout or 0)
            kind, error = child.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._discard(child)
            code = child.process.exitcode
            return error_data(
                f"the process running task {job.id} exited (exit code {code})",
                None,
                PROCESS_EXITED_CODE,
            )
        self._release(child)
        return None if kind == "ok" else error

    def _take(self) -> _Child:
        with self._lock:
            child = self._idle.pop() if self._idle else None
        if child is None or not child.process.is_alive():
            if self._ctx is None:
                import multiprocessing

                self._ctx = multiprocessing.get_context("spawn")
            child = _Child(self._ctx)
        with self._lock:
            self._busy.add(child)
        return child

    def _release(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
            self._idle.append(child)

    def _discard(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
        child.kill()

    def kill_all(self) -> None:
        with self._lock:
            children = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        for child in children:
            child.kill()
