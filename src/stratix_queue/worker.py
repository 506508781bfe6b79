"""The worker: claims runnable tasks under a lease and runs their executors in threads.

Around the claim loop run the slot threads (slots.py), a maintenance thread (heartbeats, rescue,
registry; maintenance.py), a completer that records successes in batches (completer.py), a
wake-up thread (LISTEN on PostgreSQL, a change watcher elsewhere; listener.py), and the executors
themselves (execution.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

from stratix_queue.backends.driver import WakeUp
from stratix_queue.backends.limits import Limits
from stratix_queue.completer import Completer
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    ExecutorNotFoundError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.execution import Execution
from stratix_queue.executors import ExecutorRegistry, ExecutorSpec
from stratix_queue.job import Job, Unreadable
from stratix_queue.listener import ChangeWatcher, Listener, WakeThread
from stratix_queue.maintenance import Maintenance
from stratix_queue.params import ClaimParams, ErrorData
from stratix_queue.repository import JobRepository
from stratix_queue.slots import BUFFER_WAIT_SECONDS, Slots
from stratix_queue.validation import error_data
from stratix_queue.worker_options import WorkerOptions as WorkerOptions  # re-exported

log = logging.getLogger("stratix_queue.worker")
T = TypeVar("T")
RETRY_GRACE_SECONDS = 5.0
MAX_OUTAGE_BACKOFF = 10.0
SIGNAL_DEBOUNCE_SECONDS = 1.0
HARD_EXIT_SECONDS = 5.0  # after a signal, the process ends by grace + this, whatever hangs
# A task's start is written once it has run this long (a task that dies sooner, with its
# worker, is given back uncounted), or before it runs if it was held by a lost worker.
MARK_STARTED_AFTER_SECONDS = 0.05
LOST_CODE = "WORKER_LOST"
SUSPECT_FLUSH_SECONDS = 1.0  # how long a task that runs alone waits for successes to be written
SUCCESS_NOT_RECORDED = "SUCCESS_NOT_RECORDED"


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


def _lease(job: Job) -> tuple[int, str | None]:
    return job.id, job.lease_token


def _was_lost(job: Job) -> bool:
    """Whether the task was held by a worker that was lost (it may be what killed it)."""
    return job.error_code == LOST_CODE


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


class Worker:
    """Holds up to ``concurrency + prefetch`` claimed tasks and runs ``concurrency`` at a time."""

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
        self.listener: WakeThread | None = None
        self._wakeup = wakeup
        self._hungry = threading.Event()  # the last claim came back short (listener.py)
        self._hungry.set()
        self._stop = threading.Event()
        self._deadline: float | None = None  # set by a signal: the end of the grace period
        self._signalled = False
        self._signalled_at = 0.0
        self._slots = Slots(
            options.concurrency,
            options.prefetch,
            self._start,
            self._execute,
            wakeup.set,
            alone=_was_lost,
        )
        self._execution = Execution()
        self._retry_due: dict[int, float] = {}  # burst mode waits for its own retries
        self._retry_lock = threading.Lock()
        # Keyed by (id, lease token): a task may be claimed again, under another lease.
        # a failure being written: when its executor returned (successes: the completer's)
        self._finishing: dict[tuple[int, str | None], float] = {}
        self._marked: set[tuple[int, str | None]] = set()  # running tasks whose start is written
        self._settled: set[int] = set()  # successes that could not be written, failed instead
        self._hard_exit: threading.Timer | None = None
        self._next_promote = 0.0
        self._poll = options.poll_interval  # idle at first; shortened once work is found
        self._outage = False
        self._unknown_claims: set[str] = set()
        self._free_since = 0.0
        self._tick = options.min_poll_interval
        self._deferred = False
        self._maintenance = Maintenance(
            self.backend,
            self.worker_id,
            options.concurrency,
            options.groups,
            options.leases,
            held=self._held_leases,
            mark_starts=self._mark_starts,
        )
        self._completer = Completer(self._record_successes, self._on_success_recorded)

    def _held_leases(self) -> list[tuple[int, str]]:
        """The leases to renew: every task held, but one whose outcome has waited to be written
        for too long (a stuck outcome path, not just a silent connection, which is replaced
        sooner, nor an outage, which the heartbeat meets too): its lease runs out and another
        worker rescues it, instead of this one holding it for as long as it is stuck."""
        health = self.backend.health
        stuck_before = time.monotonic() - self.options.leases.stuck_outcome_seconds
        if health.down or health.recovered_at >= stuck_before:
            stuck_before = 0.0
        finishing = self._finishing
        held = [
            job
            for job in self._slots.held()
            if finishing.get(_lease(job), stuck_before) >= stuck_before
        ]
        if self._completer.busy_since() >= stuck_before:  # its current write is not stuck
            held += self._completer.pending()
        return [(job.id, job.lease_token) for job in held if job.lease_token]

    def _mark_starts(self) -> bool:
        """Write the starts of the tasks that have run for MARK_STARTED_AFTER_SECONDS (the
        maintenance thread, every tick): a lost worker's rescue then counts their attempt. False
        if there was none to write."""
        running = {_lease(job): job for job in self._slots.running(MARK_STARTED_AFTER_SECONDS)}
        fresh = [job for lease, job in running.items() if lease not in self._marked]
        if not fresh:
            self._marked &= set(running)  # forget what finished meanwhile
            return False
        self.backend.mark_started([(job.id, str(job.lease_token)) for job in fresh])
        self._marked = (self._marked | set(running)) & {_lease(j) for j in self._slots.running()}
        return True

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once the running tasks have finished."""
        self._stop.set()
        self._wakeup.set()

    # -- life cycle -----------------------------------------------------------------------------

    def run(self) -> WorkerStats:
        restore = self._install_signal_handlers()
        log.info(
            "worker %s started: concurrency=%s burst=%s groups=%s",
            self.worker_id,
            self.options.concurrency,
            self.options.burst,
            self.options.groups,
        )
        previous_limits = self.backend.limits
        self.backend.use_limits(Limits(self.options.leases.statement_seconds))
        self._maintenance.start()
        self._completer.start()
        self._start_listener()
        self._slots.start()
        try:
            self._loop()
            self._drain()
        finally:
            self._stop.set()
            self._slots.close()
            self._completer.close()
            self._shutdown()
            restore()
            self.backend.use_limits(previous_limits)
            if self._hard_exit is not None:  # stopped in time
                self._hard_exit.cancel()
        log.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats

    def _shutdown(self) -> None:
        try:
            self._release_unknown_claims()
        except StratixQueueError as exc:
            log.error(
                "could not release claims lost with the connection (%s): their leases "
                "will expire and they will be rescued",
                exc,
            )
        if self.listener is not None:
            self.listener.stop()
        self._maintenance.stop()
        self._execution.close()

    def _start_listener(self) -> None:
        if self.options.burst or not self.options.listen:
            return  # a burst worker stops once idle: nothing to be woken for
        if self.backend.capabilities.wake_up is WakeUp.NOTIFY:
            self.listener = Listener(self.backend, self._wakeup, self._hungry)
        else:
            self.listener = ChangeWatcher(self.backend, self._wakeup, self._hungry)
        self.listener.start()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if (
            not self.options.handle_signals
            or threading.current_thread() is not threading.main_thread()
        ):
            return lambda: None
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._signalled:
            # A second signal leaves at once (the leases do the rest), unless it is the same
            # shutdown arriving twice: systemd signals every process of the unit and the
            # supervisor forwards its own signal too.
            if time.monotonic() - self._signalled_at >= SIGNAL_DEBOUNCE_SECONDS:
                os._exit(1)
            return
        self._signalled = True
        self._signalled_at = time.monotonic()
        self._deadline = time.monotonic() + self.options.grace_seconds
        log.warning(
            "worker %s got %s: no new tasks; %d running get %.0f s to finish",
            self.worker_id,
            signal.Signals(signum).name,
            len(self._slots),
            self.options.grace_seconds,
        )
        # Whatever hangs (a database call on a silent connection, a stuck executor), the
        # process ends this long after the signal; leases and the rescue handle what is left.
        timer = threading.Timer(self.options.grace_seconds + HARD_EXIT_SECONDS, self._exit_now)
        timer.daemon = True
        timer.start()
        self._hard_exit = timer
        self.stop()

    def _exit_now(self) -> None:
        log.error(
            "worker %s did not stop within its grace period and %.0f s more; exiting now (the "
            "tasks it still holds will be rescued when their leases expire)",
            self.worker_id,
            HARD_EXIT_SECONDS,
        )
        logging.shutdown()
        os._exit(1)

    def _drain(self) -> None:
        """Give back the tasks no slot started, then wait for the running ones (until the grace
        period ends, after a signal)."""
        self._hand_back_stale()
        for job in self._slots.take_unstarted():
            self._give_back(job)
        timeout = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        if not self._slots.wait_idle(timeout):
            self._give_back_and_exit(self._slots.held())

    def _give_back(self, job: Job) -> bool:
        try:
            if self.repository.backend.give_back(job):
                self.stats.count("given_back")
                return True
        except StratixQueueError as exc:
            log.error(
                "could not give back task %s (%s): %s; its lease will expire", job.id, job.name, exc
            )
        return False

    def _hand_back_stale(self) -> None:
        """Return the tasks that waited in this worker's buffer while every slot stayed busy
        (slots.py), so that a worker with a free slot runs them."""
        stale = self._slots.take_stale()
        if stale:
            given = sum(self._give_back(job) for job in stale)
            log.info(
                "worker %s: every slot busy for %.1f s; %d waiting task(s) handed back",
                self.worker_id,
                BUFFER_WAIT_SECONDS,
                given,
            )

    def _give_back_and_exit(self, jobs: list[Job]) -> None:
        """Grace period over: record what finished, stop everything else, then return the
        unfinished tasks and end the process at once. The give-back is the very last write, so
        no other worker can claim a task while this process still runs it for long."""
        self._completer.close()  # bounded by the deadline through _persist
        self._execution.kill_processes()
        self._shutdown()
        self._hand_back_stale()
        for job in jobs:
            self._give_back(job)
        log.warning(
            "worker %s stopped after the grace period; %d unfinished task(s) back to waiting: %s",
            self.worker_id,
            self.stats.given_back,
            self.stats,
        )
        logging.shutdown()
        sys.stdout.flush()
        # Threads cannot be stopped, and a given-back task must not run on here: end the process.
        os._exit(0)

    # -- the claim loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._hand_back_stale()
            wanted = self._claimable()
            claimed = self._claim_safely(wanted)
            if wanted and len(claimed) < wanted:
                self._hungry.set()  # nothing more waits for now: a new task is news
            else:
                self._hungry.clear()  # full, or more may wait: it claims as slots free
            self._slots.put(claimed)
            if not claimed and not len(self._slots) and self._burst_done():
                break
            self._wakeup.wait(self._idle_timeout(found=bool(claimed)))
            self._wakeup.clear()

    def _claimable(self) -> int:
        """How many tasks to claim now. A busy worker waits until half its capacity is free (or
        room has been free for a poll tick) so one round trip claims many tasks, not one."""
        free = self._slots.free()
        now = time.monotonic()
        if free <= 0:
            return 0
        self._deferred = False
        if free < self._slots.room_at and len(self._slots) and now < self._free_since + self._tick:
            self._deferred = True  # come back within a tick, even if nothing completes
            return 0
        self._free_since = now
        return free

    def _claim_safely(self, free: int) -> list[Job]:
        if free <= 0:
            return []
        token = os.urandom(16).hex()  # 128 random bits (uuid4 has 122; it imports platform)
        try:
            self._release_unknown_claims()
            jobs = self._claim(free, token)
        except SchemaNotReadyError:
            raise
        except TransientDatabaseError as exc:
            # A deadlock victim, a lock or statement timeout (after the backend's own retries):
            # the server rolled it back, so nothing was claimed; claim again after a poll.
            log.debug("worker %s: claim contended (%s); trying again", self.worker_id, exc)
            return []
        except DatabaseError as exc:
            self._unknown_claims.add(token)  # it may have committed before the reply was lost
            self._on_outage(exc)
            return []
        self._outage = False
        self.backend.health.ok()
        return jobs

    def _release_unknown_claims(self) -> None:
        for token in list(self._unknown_claims):
            released = self.backend.release_claim(token)
            self._unknown_claims.discard(token)
            if released:
                log.warning("released %d task(s) claimed while the connection was lost", released)

    def _on_outage(self, exc: DatabaseError) -> None:
        self.backend.health.failed("claim tasks", exc)  # logged once per outage
        self._outage = True
        self._poll = min(max(self._poll * 2, 0.5), MAX_OUTAGE_BACKOFF)

    def _claim(self, free: int, token: str) -> list[Job]:
        self._promote_due()
        jobs = self.backend.claim(
            ClaimParams(
                worker_id=self.worker_id,
                lease_token=token,
                limit=free,
                lease_seconds=self.options.leases.lease_seconds,
                groups=self.options.groups,
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

    def _idle_timeout(self, found: bool) -> float:
        """Adaptive polling: short right after work was found, doubling up to poll_interval."""
        if found:
            self._poll = self.options.min_poll_interval
        elif not self._outage:
            self._poll = min(self._poll * 2, self.options.poll_interval)
        timeout = min(self._poll, self._tick) if self._deferred else self._poll
        with self._retry_lock:
            if self._retry_due:
                until = min(self._retry_due.values()) - time.monotonic()
                timeout = min(timeout, max(until, 0.0) + 0.01)
        return timeout

    def _burst_done(self) -> bool:
        if not self.options.burst or self._unknown_claims:  # release those first, then claim
            return False
        try:
            if self.backend.promote_due():  # a delayed task fell due meanwhile: run it first
                return False
            if self.backend.any_waiting(self.options.groups):
                # The claim came back empty while a task waits: SKIP LOCKED passed over a row
                # another transaction held for a moment. Claim again rather than stop early.
                return False
            wait = BUFFER_WAIT_SECONDS * 4
            if self.backend.recently_prefetched(wait, self.options.groups, self.worker_id):
                # In another worker's buffer: it starts soon, or is handed back; look often.
                self._poll = self.options.min_poll_interval
                return False
        except TransientDatabaseError:
            return False  # contended, rolled back: look again on the next turn
        except DatabaseError as exc:
            self._on_outage(exc)
            return False
        with self._retry_lock:
            horizon = time.monotonic() - RETRY_GRACE_SECONDS
            self._retry_due = {k: v for k, v in self._retry_due.items() if v > horizon}
            return not self._retry_due

    # -- running one task -----------------------------------------------------------------------

    def _execute(self, job: Job) -> None:
        spec = self.executors.get(job.executor)
        started = time.perf_counter()
        if spec is None:
            missing = ExecutorNotFoundError(
                f"no executor named {job.executor!r} is registered in worker {self.worker_id}"
            )
            error: ErrorData | None = error_data(str(missing), None, missing.code)
        else:
            error = self._execution.run(spec, job)
        if self._marked:
            self._marked.discard(_lease(job))
        if error is not None:
            self._finishing[_lease(job)] = time.monotonic()  # its outcome is due from now on
            self._record_failure(job, spec, error)
            return
        self._completer.submit(job, round((time.perf_counter() - started) * 1000))

    def _start(self, job: Job) -> bool:
        """Before a slot runs the task. A task held by a worker that was lost may be what killed
        it: it runs alone (the slots see to that), after the successes waiting to be written,
        and its start is written before it runs, so that each of its starts counts and no other
        task pays for it. Other tasks' starts are written once they have run for a while
        (_mark_starts): a crash never makes a task pay that had not started, or had only just
        begun. False if the task is not to run: it cannot be read (it is failed), or it is no
        longer held (the fenced write found nothing)."""
        if type(job.payload) is Unreadable:
            self._fail_unreadable(job, job.payload)
            return False
        if job.error_code != LOST_CODE:
            return True
        self._completer.wait_idle(SUSPECT_FLUSH_SECONDS)
        try:
            if self.backend.mark_started([(job.id, str(job.lease_token))]):
                self._marked.add(_lease(job))
                return True
        except (DatabaseUnavailableError, TransientDatabaseError) as exc:
            self.backend.health.failed("record that a task starts", exc)
            return True  # run it anyway: its outcome is written once the database is back
        except DatabaseError as exc:
            log.error("could not record that task %s starts: %s; running it anyway", job.id, exc)
            return True
        self._lost(job)
        return False

    def _fail_unreadable(self, job: Job, problem: Unreadable) -> None:
        """A row another client wrote that cannot be read as a task: failed, never run."""
        self.stats.count("unreadable")
        error = error_data(problem.message, None, problem.code)
        self._write_outcome(job, lambda: self.repository.mark_as_failed(job, error), "failed")

    def _on_success_recorded(self, jobs: Sequence[Job], moved: set[int]) -> None:
        self.stats.count("succeeded", len(moved))
        for job in jobs:
            if job.id in self._settled:  # failed with SUCCESS_NOT_RECORDED, or given up
                self._settled.discard(job.id)
            elif job.id not in moved:
                self._lost(job)

    def _record_failure(self, job: Job, spec: ExecutorSpec | None, error: ErrorData) -> None:
        if job.attempts < job.max_attempts:
            delay = spec.delay_after(job.attempts) if spec else 1.0
            if self._write_outcome(
                job, lambda: self.repository.retry_later(job, error, delay), "retried"
            ):
                with self._retry_lock:
                    self._retry_due[job.id] = time.monotonic() + delay
        else:
            self._write_outcome(job, lambda: self.repository.mark_as_failed(job, error), "failed")

    def _write_outcome(self, job: Job, write: Callable[[], bool], counter: str) -> bool:
        """Write one task's failure or retry (fenced); True if it applied. A write the database
        refuses for good is logged and given up: the lease then expires and the rescue decides."""
        try:
            written = self._persist(write, "record a task's failure")
        except DatabaseError as exc:
            self._not_recorded(job, exc)
            return False
        finally:
            self._finishing.pop(_lease(job), None)
        if written:
            self.stats.count(counter)
        else:
            self._lost(job)
        return written

    def _record_successes(self, batch: Sequence[tuple[Job, int]]) -> set[int]:
        """Write a batch of successes (the completer's thread); the ids moved. A write the
        database refuses for good is split up, so that one bad task does not sink the others;
        a success that cannot be written alone fails its task with SUCCESS_NOT_RECORDED."""
        try:
            return self._persist(
                lambda: self.repository.move_many_to_success(batch), "record successes"
            )
        except (DatabaseUnavailableError, TransientDatabaseError) as exc:
            for job, _ in batch:  # the grace period ended while the database was away
                self._not_recorded(job, exc)
                self._settled.add(job.id)
            return set()
        except DatabaseError as exc:
            if len(batch) > 1:
                return {moved for one in batch for moved in self._record_successes([one])}
            [(job, ms)] = batch
            self._settled.add(job.id)
            message = f"the task succeeded in {ms} ms but its success could not be recorded: {exc}"
            error = error_data(message, None, SUCCESS_NOT_RECORDED)
            self._write_outcome(job, lambda: self.repository.mark_as_failed(job, error), "failed")
            return set()

    def _persist(self, write: Callable[[], T], doing: str) -> T:
        """Record an outcome, retrying while the database is unreachable or contended, until it
        is written (fenced: a late write after the lease was lost changes nothing) or the grace
        period of a shutdown ends. Any other database error is raised at once: retrying a write
        that breaks a constraint or names a missing column would only hang the worker."""
        delay = 0.2
        tries = 0
        while True:
            try:
                written = write()
            except (DatabaseUnavailableError, TransientDatabaseError) as exc:
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    raise  # shutting down: the lease and the rescue take it from here
                tries += 1
                # An outage is logged at once; contention (the backend retried it already) when
                # it persists: a write that keeps timing out is not silent either.
                if isinstance(exc, DatabaseUnavailableError) or tries > 1:
                    self.backend.health.failed(doing, exc)  # logged once per outage
                time.sleep(delay)
                delay = min(delay * 2, MAX_OUTAGE_BACKOFF)
                continue
            self.backend.health.ok()
            return written

    def _not_recorded(self, job: Job, exc: Exception) -> None:
        log.error(
            "could not record the outcome of task %s (%s, executor %s): %s; its lease will "
            "expire and the rescue will take it back",
            job.id,
            job.name,
            job.executor,
            exc,
        )

    def _lost(self, job: Job) -> None:
        self.stats.count("lost")
        log.warning(
            "task %s (%s) is no longer held by this worker; its outcome was not recorded",
            job.id,
            job.name,
        )
