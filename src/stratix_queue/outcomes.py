"""The one road of a task's outcome: successes, failures, retries and give-backs are all written
by an :class:`OutcomeWriter`, through the repository, under one retry policy, and counted in the
worker's stats here.

Successes are batched by a :class:`SuccessBatcher`: what finished while one batch was being
written goes into the next, so under load one transaction moves many tasks, and when idle it
moves one at once (no added latency). Under load (the last batch had more than one task) it
lingers ``LINGER_SECONDS`` to gather a fuller batch. A task waiting there still has its lease
renewed by the heartbeat.

Only the first success after an idle spell wakes the batcher thread: the ones that follow are
appended to the list it will take, without a signal. A wake-up per task would hand Python's GIL
back and forth between the slot that finished and the batcher, for every task (measured: about
ten futex calls a task, half of all the worker's).

A failure or a retry is written at once on the slot's thread, and is durable before the slot
moves on."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from stratix_queue.backends.arguments import ErrorData
from stratix_queue.backends.limits import CONTENTION_RETRIES, Health, contention_pause
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import Job
from stratix_queue.repository import JobRepository
from stratix_queue.validation import error_data

log = logging.getLogger("stratix_queue.worker")
T = TypeVar("T")
MAX_BATCH = 200
LINGER_SECONDS = 0.002
FIRST_OUTAGE_WAIT = 0.2
MAX_OUTAGE_WAIT = 10.0
SUCCESS_NOT_RECORDED = "SUCCESS_NOT_RECORDED"
Done = tuple[Job, int]  # a task that succeeded, and its execution time in ms


@dataclass(slots=True)
class WorkerStats:
    """What one ``run_worker`` call did."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0  # finished after the lease was lost: the outcome was not recorded
    given_back: int = 0  # returned to waiting unfinished or unstarted (shutdown, a busy buffer)
    unreadable: int = 0  # rows that could not be read as tasks: marked failed, never run
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)


class RetryPolicy:
    """How an outcome write is retried. Contention (a deadlock victim, a lock wait, a busy SQLite
    file: the server rolled it back) is tried again after a short random backoff; once it
    persists, or while the database is unreachable, the waits grow (logged once per outage)
    until the write gets through or the shutdown deadline passes. Any other database error is
    raised at once: retrying a write that breaks a constraint or names a missing column would
    only hang the worker."""

    def __init__(self, health: Health) -> None:
        self.health = health
        self.deadline: float | None = None  # time.monotonic() when a shutdown stops waiting

    def run(self, write: Callable[[], T], doing: str, *, patient: bool = True) -> T:
        """``write()``, retried as above; not ``patient``: only contention is retried, briefly
        (an outage is raised at once)."""
        tries = 0
        wait = FIRST_OUTAGE_WAIT
        while True:
            try:
                result = write()
            except TransientDatabaseError as exc:
                if tries < CONTENTION_RETRIES:  # then it counts as an outage
                    time.sleep(contention_pause(tries))
                    tries += 1
                    continue
                error: DatabaseError = exc  # contention that persists: waited out as an outage
            except DatabaseUnavailableError as exc:
                error = exc
            else:
                self.health.ok()
                return result
            if not patient or self._past_deadline():
                raise error  # the lease and the rescue take it from here
            self.health.failed(doing, error)  # logged once per outage
            time.sleep(wait)
            wait = min(wait * 2, MAX_OUTAGE_WAIT)

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


class OutcomeWriter:
    """Writes a worker's outcomes (fenced: a late write after the lease was lost changes nothing)
    and counts them in ``stats``. A write that applied to nothing is counted lost and logged."""

    def __init__(
        self,
        repository: JobRepository,
        stats: WorkerStats,
        on_written: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_written`` is called after each batch of successes is written (a limited
        group's room is known only then)."""
        self.repository = repository
        self.stats = stats
        self.on_written = on_written
        self._retry = RetryPolicy(repository.backend.health)
        self._batcher = SuccessBatcher(self._write_successes)
        # A failure being written, keyed by (id, lease token) (a task may be claimed again,
        # under another lease): when its executor returned. Successes wait in the batcher.
        self._finishing: dict[tuple[int, str | None], float] = {}

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._batcher.start()

    def close(self) -> None:
        """Write every success submitted so far, then stop the batcher thread."""
        self._batcher.close()

    def give_up_at(self, deadline: float) -> None:
        """A shutdown's grace period ends then: a write still failing is given up (the lease
        expires and the rescue takes the task back)."""
        self._retry.deadline = deadline

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every success submitted so far is written (at most ``timeout`` s)."""
        return self._batcher.wait_idle(timeout)

    def unstuck(self, held: Sequence[Job], stuck_before: float) -> list[Job]:
        """The tasks whose leases are still worth renewing: those of ``held`` (the slots') not
        writing a failure since before ``stuck_before``, and the successes waiting to be
        written unless the write in progress began before then."""
        finishing = self._finishing
        jobs = [
            job
            for job in held
            if finishing.get((job.id, job.lease_token), stuck_before) >= stuck_before
        ]
        if self._batcher.busy_since() >= stuck_before:
            jobs += self._batcher.pending()
        return jobs

    # -- outcomes -------------------------------------------------------------------------------

    def succeeded(self, job: Job, execution_time_ms: int) -> None:
        """Queue the success for the next batch (the hot path: no write on this thread)."""
        self._batcher.submit(job, execution_time_ms)

    def outcome_due(self, job: Job) -> None:
        """The task's executor returned a failure, whose write follows: from now on the
        heartbeat stops renewing its lease if that write is stuck (``unstuck``)."""
        self._finishing[job.id, job.lease_token] = time.monotonic()

    def failed(self, job: Job, error: ErrorData) -> bool:
        """Mark the task failed, at once; True if it applied."""
        return self._write(job, lambda: self.repository.mark_as_failed(job, error), "failed")

    def retry(self, job: Job, error: ErrorData, delay: float) -> bool:
        """Send the task back for another attempt in ``delay`` s, at once; True if it applied."""
        return self._write(job, lambda: self.repository.retry_later(job, error, delay), "retried")

    def unreadable(self, job: Job, error: ErrorData) -> None:
        """A row that cannot be read as a task: failed, never run."""
        self.stats.count("unreadable")
        self.failed(job, error)

    def give_back(self, job: Job) -> bool:
        """Return a held task to waiting, its attempt uncounted; True if it applied. Not worth
        waiting out an outage for: the lease expires and the rescue does the same."""
        try:
            given = self._retry.run(
                lambda: self.repository.give_back(job), "give back a task", patient=False
            )
        except StratixQueueError as exc:
            log.error(
                "could not give back task %s (%s): %s; its lease will expire", job.id, job.name, exc
            )
            return False
        if given:
            self.stats.count("given_back")
        return given

    def lost(self, job: Job) -> None:
        """A fenced write found the task no longer held by this worker."""
        self.stats.count("lost")
        log.warning(
            "task %s (%s) is no longer held by this worker; its outcome was not recorded",
            job.id,
            job.name,
        )

    # -- writing --------------------------------------------------------------------------------

    def _write(self, job: Job, write: Callable[[], bool], counter: str) -> bool:
        """Write one task's failure or retry (fenced); True if it applied. A write the database
        refuses for good is logged and given up: the lease then expires and the rescue decides."""
        try:
            written = self._retry.run(write, "record a task's failure")
        except DatabaseError as exc:
            self._not_recorded(job, exc)
            return False
        finally:
            self._finishing.pop((job.id, job.lease_token), None)
        if written:
            self.stats.count(counter)
        else:
            self.lost(job)
        return written

    def _write_successes(self, batch: Sequence[Done]) -> None:
        """Write a batch of successes (the batcher's thread) and count what became of each."""
        settled: set[int] = set()  # not moved, but accounted for: failed instead, or given up
        try:
            moved = self._move(batch, settled)
        except Exception:  # a bug: the tasks' leases expire and they run again
            log.exception("could not record %d successes", len(batch))
            moved = set()
        self.stats.count("succeeded", len(moved))
        for job, _ in batch:
            if job.id not in moved and job.id not in settled:
                self.lost(job)
        self.on_written()

    def _move(self, batch: Sequence[Done], settled: set[int]) -> set[int]:
        """The ids moved to success. A batch the database refuses for good is split up, so that
        one bad task does not sink the others; a success that cannot be written alone fails its
        task with SUCCESS_NOT_RECORDED."""
        try:
            return self._retry.run(
                lambda: self.repository.move_many_to_success(batch), "record successes"
            )
        except (DatabaseUnavailableError, TransientDatabaseError) as exc:
            for job, _ in batch:  # the grace period ended while the database was away
                self._not_recorded(job, exc)
                settled.add(job.id)
            return set()
        except DatabaseError as exc:
            if len(batch) > 1:
                return {moved for one in batch for moved in self._move([one], settled)}
            [(job, ms)] = batch
            settled.add(job.id)
            message = f"the task succeeded in {ms} ms but its success could not be recorded: {exc}"
            self.failed(job, error_data(message, None, SUCCESS_NOT_RECORDED))
            return set()

    def _not_recorded(self, job: Job, exc: Exception) -> None:
        log.error(
            "could not record the outcome of task %s (%s, executor %s): %s; its lease will "
            "expire and the rescue will take it back",
            job.id,
            job.name,
            job.executor,
            exc,
        )


class SuccessBatcher:
    """The thread that writes successes in batches (the module's docstring says how and why)."""

    def __init__(self, write: Callable[[list[Done]], None]) -> None:
        """``write`` writes one batch and accounts for it; it is not called concurrently."""
        self._write = write
        self._done: list[Done] = []  # submitted, not yet taken into a batch
        self._pending: dict[int, Job] = {}  # submitted, not yet written
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._written = threading.Condition(self._lock)  # a batch left _pending
        self._asleep = False  # the thread waits for a first success
        self._writing_since = 0.0  # time.monotonic() when the write in progress began; 0: none
        self._closing = False
        self._linger = 0.0
        self._thread = threading.Thread(
            target=self._run, name="stratix-queue-successes", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, execution_time_ms: int) -> None:
        with self._lock:
            self._pending[job.id] = job
            self._done.append((job, execution_time_ms))
            if self._asleep:
                self._asleep = False
                self._arrived.notify()

    def pending(self) -> list[Job]:
        with self._lock:
            return list(self._pending.values())

    def busy_since(self) -> float:
        """When the write in progress began (time.monotonic()); infinity if none is: every
        success waiting here waits at most for the write in progress, then its own."""
        return self._writing_since or math.inf

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every success submitted so far is written (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._written.wait(left)
        return True

    def close(self) -> None:
        """Write everything submitted so far, then stop."""
        with self._lock:
            self._closing = True
            self._arrived.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while (batch := self._gather()) is not None:
            try:
                self._flush(batch)
            except Exception:  # the thread must live on: later successes still need writing
                log.exception("unexpected error after recording %d successes", len(batch))
            self._linger = LINGER_SECONDS if len(batch) > 1 else 0.0

    def _gather(self) -> list[Done] | None:
        """The next batch, once one success waits (and the linger passed); None once closed
        with nothing left."""
        with self._lock:
            while not self._done and not self._closing:
                self._asleep = True
                self._arrived.wait()
            if not self._done:
                return None
            linger = 0.0 if self._closing or len(self._done) >= MAX_BATCH else self._linger
        if linger:
            time.sleep(linger)
        with self._lock:
            batch = self._done[:MAX_BATCH]
            del self._done[:MAX_BATCH]
        return batch

    def _flush(self, batch: list[Done]) -> None:
        self._writing_since = time.monotonic()
        try:
            self._write(batch)
        finally:
            self._writing_since = 0.0
            with self._lock:
                for job, _ in batch:
                    self._pending.pop(job.id, None)
                self._written.notify_all()
