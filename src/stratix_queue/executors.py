"""The executor registry, how an executor is called, and how an exception becomes an error."""

from __future__ import annotations

import inspect
import logging
import random
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import ErrorData
from stratix_queue.durations import Seconds
from stratix_queue.errors import InvalidInputError
from stratix_queue.job import Job
from stratix_queue.validation import (
    MAX_ATTEMPTS_LIMIT,
    check_delay,
    check_int,
    check_name,
    check_timeout,
    error_data,
)

if TYPE_CHECKING:
    import asyncio  # imported when the first async executor runs: a worker starts faster

log = logging.getLogger("stratix_queue.worker")
Backoff = Callable[[int], float]
MAX_BACKOFF_SECONDS = 3600.0
ISOLATIONS = ("thread", "process")


def exponential_backoff(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: 1, 2, 4, ... capped at an hour, +-10% jitter."""
    base = min(2.0 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    return base * random.uniform(0.9, 1.1)


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    name: str
    func: Callable[..., Any]
    is_async: bool
    wants_job: bool
    max_attempts: int | None
    backoff: Backoff
    timeout: float | None = None
    isolation: str = "thread"  # "process": a child process, killed on timeout

    def arguments(self, job: Job) -> tuple[Any, ...]:
        return (job.payload, job) if self.wants_job else (job.payload,)

    def delay_after(self, attempt: int) -> float:
        """Seconds before the attempt after ``attempt``: the executor's backoff, or the default
        one when its function fails or returns what no database can store (not a number of
        seconds from 0 to ten years), so that the retry is still written."""
        try:
            return check_delay(self.backoff(attempt))
        except Exception as exc:  # the application's function: anything may come out
            log.warning(
                "backoff of executor %r failed for attempt %s (%s); using the default",
                self.name,
                attempt,
                exc,
            )
            return exponential_backoff(attempt)


class ExecutorRegistry:
    """Executors registered in this process, by name."""

    def __init__(self) -> None:
        self._specs: dict[str, ExecutorSpec] = {}

    def register(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        max_attempts: int | None = None,
        backoff: Backoff | Seconds | None = None,
        timeout: float | None = None,
        isolation: str = "thread",
    ) -> ExecutorSpec:
        check_name(name, "executor name")
        if not callable(func):
            raise InvalidInputError(f"executor {name!r} must be callable")
        if max_attempts is not None:
            check_int(max_attempts, "max_attempts", 1, MAX_ATTEMPTS_LIMIT)
        if isolation not in ISOLATIONS:
            raise InvalidInputError(f"isolation must be one of {ISOLATIONS}, not {isolation!r}")
        spec = ExecutorSpec(
            name=name,
            func=func,
            is_async=_is_async(func),
            wants_job=_takes_two_arguments(func),
            max_attempts=max_attempts,
            backoff=_backoff(backoff),
            timeout=check_timeout(timeout),
            isolation=isolation,
        )
        self._specs[name] = spec
        return spec

    def get(self, name: str) -> ExecutorSpec | None:
        return self._specs.get(name)

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        return tuple(sorted(self._specs))

    def default_max_attempts(self, name: str) -> int:
        spec = self._specs.get(name)
        return spec.max_attempts if spec and spec.max_attempts else 1


def _is_async(func: Callable[..., Any]) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    call = getattr(func, "__call__", None)  # noqa: B004 - the method itself is inspected
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


def _takes_two_arguments(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _backoff(backoff: Backoff | Seconds | None) -> Backoff:
    if backoff is None:
        return exponential_backoff
    if callable(backoff):
        return backoff
    try:
        fixed = check_delay(backoff, "backoff")
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"{exc} (backoff is seconds from 0 to ten years, as a number, a timedelta or text "
            "such as '30s', or a function of the attempt number)"
        ) from None
    return lambda _attempt: fixed


def error_from_exception(exc: BaseException) -> ErrorData:
    """message = str(exc), stack = the formatted traceback, code = exc.code or the class name."""
    code = getattr(exc, "code", None)
    return error_data(
        _text(exc),
        "".join(traceback.format_exception(exc)),
        type(exc).__name__ if code is None or code == "" else code,
    )


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ fails must still be recorded
        return f"<unprintable {type(exc).__name__}>"


class DeadlineExceeded(Exception):  # noqa: N818 - a signal between modules, never shown
    """The task's own time limit ran out."""


async def _within(coro: Any, timeout: float | None) -> Any:
    import asyncio

    if timeout is None:
        return await coro
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await coro
    except TimeoutError:
        if scope.expired():
            raise DeadlineExceeded from None
        raise


class AsyncRunner:
    """One event loop in a background thread that runs the async executors of a worker."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, spec: ExecutorSpec, job: Job, timeout: float | None = None) -> Any:
        """Run the coroutine on the shared loop; past ``timeout`` it is cancelled and
        DeadlineExceeded is raised (a TimeoutError the executor raises itself stays its own)."""
        import asyncio

        loop = self._ensure_loop()
        coro = _within(spec.func(*spec.arguments(job)), timeout)
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio

        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="stratix-queue-async", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
