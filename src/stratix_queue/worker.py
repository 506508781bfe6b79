"""The in-process worker: claims runnable tasks and runs their executors in threads."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from stratix_queue.errors import ExecutorNotFoundError, StratixQueueError
from stratix_queue.executors import (
    AsyncRunner,
    ExecutorRegistry,
    ExecutorSpec,
    error_from_exception,
)
from stratix_queue.job import Job
from stratix_queue.params import ClaimParams, ErrorData
from stratix_queue.repository import JobRepository
from stratix_queue.validation import error_data

log = logging.getLogger("stratix_queue.worker")
DEFAULT_LEASE_SECONDS = 30.0
RETRY_GRACE_SECONDS = 5.0


@dataclass(slots=True)
class WorkerStats:
    """What one ``run_worker`` call did."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0  # finished after the lease was lost: the outcome was not recorded
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    concurrency: int = 4
    burst: bool = False
    poll_interval: float = 1.0
    lease_seconds: float = DEFAULT_LEASE_SECONDS


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims up to ``concurrency`` tasks at a time and runs each in a thread of its own."""

    def __init__(
        self,
        repository: JobRepository,
        executors: ExecutorRegistry,
        options: WorkerOptions,
        wakeup: threading.Event,
    ) -> None:
        self.repository = repository
        self.backend = repository.backend
        self.executors = executors
        self.options = options
        self.worker_id = new_worker_id()
        self.stats = WorkerStats()
        self._wakeup = wakeup
        self._stop = threading.Event()
        self._async = AsyncRunner()
        self._retry_due: dict[int, float] = {}  # burst mode waits for its own retries
        self._retry_lock = threading.Lock()
        self._next_promote = 0.0

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once the running tasks have finished."""
        self._stop.set()
        self._wakeup.set()

    def run(self) -> WorkerStats:
        slots = self.options.concurrency
        log.info(
            "worker %s started: concurrency=%s burst=%s", self.worker_id, slots, self.options.burst
        )
        running: set[Future[None]] = set()
        with ThreadPoolExecutor(slots, thread_name_prefix="stratix-queue") as pool:
            try:
                while not self._stop.is_set():
                    running = {f for f in running if not f.done()}
                    claimed = self._claim(slots - len(running))
                    running |= {pool.submit(self._execute, job) for job in claimed}
                    if not running and not claimed and self._burst_done():
                        break
                    self._wakeup.wait(self._idle_timeout())
                    self._wakeup.clear()
            finally:
                self._stop.set()
        self._async.close()
        log.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats

    def _claim(self, free: int) -> list[Job]:
        if free <= 0:
            return []
        self._promote_due()
        jobs = self.backend.claim(
            ClaimParams(
                worker_id=self.worker_id,
                lease_token=uuid.uuid4().hex,
                limit=free,
                lease_seconds=self.options.lease_seconds,
            )
        )
        if jobs:
            with self._retry_lock:
                for job in jobs:
                    self._retry_due.pop(job.id, None)
        return jobs

    def _promote_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._next_promote:
            self._next_promote = now + self.options.poll_interval
            self.backend.promote_due()

    def _idle_timeout(self) -> float:
        timeout = self.options.poll_interval
        with self._retry_lock:
            if self._retry_due:
                until = min(self._retry_due.values()) - time.monotonic()
                timeout = min(timeout, max(until, 0.0) + 0.01)
        return timeout

    def _burst_done(self) -> bool:
        if not self.options.burst:
            return False
        with self._retry_lock:
            horizon = time.monotonic() - RETRY_GRACE_SECONDS
            self._retry_due = {k: v for k, v in self._retry_due.items() if v > horizon}
            pending = bool(self._retry_due)
        if not pending:
            return True
        self._promote_due(force=True)
        return False

    # -- running one task ---------------------------------------------------------------------

    def _execute(self, job: Job) -> None:
        try:
            self._run_and_record(job)
        except StratixQueueError as exc:
            log.error("could not record the outcome of task %s (%s): %s", job.id, job.name, exc)
        except Exception:
            log.exception("unexpected error while running task %s (%s)", job.id, job.name)
        finally:
            self._wakeup.set()

    def _run_and_record(self, job: Job) -> None:
        spec = self.executors.get(job.executor)
        if spec is None:
            missing = ExecutorNotFoundError(
                f"no executor named {job.executor!r} is registered in worker {self.worker_id}"
            )
            self._record_failure(job, None, error_data(str(missing), "", missing.code))
            return
        started = time.perf_counter()
        try:
            self._call(spec, job)
        except (Exception, SystemExit) as exc:  # a task's failure, never the worker's
            self._record_failure(job, spec, error_from_exception(exc))
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.repository.move_to_success(job, round(elapsed_ms)):
            self.stats.count("succeeded")
        else:
            self._lost(job)

    def _call(self, spec: ExecutorSpec, job: Job) -> None:
        if spec.is_async:
            self._async.run(spec, job)
        else:
            spec.func(*spec.arguments(job))

    def _record_failure(self, job: Job, spec: ExecutorSpec | None, error: ErrorData) -> None:
        if job.attempts < job.max_attempts:
            delay = spec.backoff(job.attempts) if spec else 1.0
            if self.repository.retry_later(job, error, delay):
                self.stats.count("retried")
                with self._retry_lock:
                    self._retry_due[job.id] = time.monotonic() + delay
            else:
                self._lost(job)
        elif self.repository.mark_as_failed(job, error):
            self.stats.count("failed")
        else:
            self._lost(job)

    def _lost(self, job: Job) -> None:
        self.stats.count("lost")
        log.warning(
            "task %s (%s) is no longer held by this worker; its outcome was not recorded",
            job.id,
            job.name,
        )
