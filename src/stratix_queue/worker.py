"""The worker: claims runnable tasks under a lease and runs their executors in threads.

Around the claim loop run the slot threads (slot_threads.py), a maintenance thread (heartbeats,
rescue, registry; maintenance.py), the outcome writer with its thread that records successes in
batches (outcomes.py), a wake-up thread (LISTEN on PostgreSQL, a change watcher elsewhere;
listener.py), and the executors themselves (attempt_runner.py).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import FrameType

from stratix_queue.attempt_runner import Execution
from stratix_queue.backends.arguments import ClaimParams, ErrorData
from stratix_queue.backends.driver import WakeUp
from stratix_queue.backends.limits import Limits
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    ExecutorNotFoundError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.executors import ExecutorRegistry, ExecutorSpec
from stratix_queue.job import Job, Unreadable
from stratix_queue.listener import ChangeWatcher, Listener, WakeThread
from stratix_queue.maintenance import Maintenance
from stratix_queue.outcomes import OutcomeWriter
from stratix_queue.outcomes import WorkerStats as WorkerStats  # the package imports it from here
from stratix_queue.repository import JobRepository
from stratix_queue.slot_threads import BUFFER_WAIT_SECONDS, Slots
from stratix_queue.validation import error_data
from stratix_queue.worker_options import WorkerOptions as WorkerOptions  # re-exported

log = logging.getLogger("stratix_queue.worker")
RETRY_GRACE_SECONDS = 5.0
# How often a worker looks for waiting tasks of executors no live worker has (_claim_orphans).
ORPHAN_CHECK_SECONDS = 5.0
# Nor before it has run this long: workers started at the same moment register a moment apart.
ORPHAN_GRACE_SECONDS = 1.0
# The longest wait before a worker looks again at a limited group that had no room.
GATE_RECHECK_SECONDS = 0.1
MAX_OUTAGE_BACKOFF = 10.0
SIGNAL_DEBOUNCE_SECONDS = 1.0
HARD_EXIT_SECONDS = 5.0  # after a signal, the process ends by grace + this, whatever hangs
# A task's start is written once it has run this long (a task that dies sooner, with its
# worker, is given back uncounted), or before it runs if it was held by a lost worker.
MARK_STARTED_AFTER_SECONDS = 0.05
LOST_CODE = "WORKER_LOST"
SUSPECT_FLUSH_SECONDS = 1.0  # how long a task that runs alone waits for successes to be written


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
        self._marked: set[tuple[int, str | None]] = set()  # running tasks whose start is written
        self._hard_exit: threading.Timer | None = None
        self._next_promote = 0.0
        self._poll = options.poll_interval  # idle at first; shortened once work is found
        self._outage = False
        self._unknown_claims: set[str] = set()
        self._free_since = 0.0
        self._tick = options.min_poll_interval
        self._deferred = False
        self._executor_names = executors.names()
        self._gates_checked_at = -math.inf  # the last gated claim that found no limited group
        self._gates_full = False
        self._gates_active = False  # the last gated claim found a limited group's tasks waiting
        self._orphans_checked_at = -math.inf
        self._orphans_judged_from = math.inf  # set at start
        self._maintenance = Maintenance(
            self.backend,
            self.worker_id,
            options.concurrency,
            options.groups,
            options.leases,
            held=self._held_leases,
            mark_starts=self._mark_starts,
            retention=options.retention,
            executors=self._executor_names,
            schedules=options.schedules,
        )
        self._outcomes = OutcomeWriter(repository, self.stats, self._successes_written)

    def _held_leases(self) -> list[tuple[int, str]]:
        """The leases to renew: every task held, but one whose outcome has waited to be written
        for too long (a stuck outcome path, not just a silent connection, which is replaced
        sooner, nor an outage, which the heartbeat meets too): its lease runs out and another
        worker rescues it, instead of this one holding it for as long as it is stuck."""
        health = self.backend.health
        stuck_before = time.monotonic() - self.options.leases.stuck_outcome_seconds
        if health.down or health.recovered_at >= stuck_before:
            stuck_before = 0.0
        held = self._outcomes.unstuck(self._slots.held(), stuck_before)
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
        self._orphans_judged_from = time.monotonic() + ORPHAN_GRACE_SECONDS
        self._outcomes.start()
        self._start_listener()
        self._slots.start()
        try:
            self._loop()
            self._drain()
        finally:
            self._stop.set()
            self._slots.close()
            self._outcomes.close()
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
        wake_up = self.backend.capabilities.wake_up
        if self.options.burst or not self.options.listen or wake_up is WakeUp.IN_PROCESS:
            return  # a burst worker stops once idle; in-process adds set the event themselves
        if wake_up is WakeUp.NOTIFY:
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
        self._outcomes.give_up_at(self._deadline)
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
            self._outcomes.give_back(job)
        timeout = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        if not self._slots.wait_idle(timeout):
            self._give_back_and_exit(self._slots.held())

    def _hand_back_stale(self) -> None:
        """Return the tasks that waited in this worker's buffer while every slot stayed busy
        (slot_threads.py), so that a worker with a free slot runs them."""
        stale = self._slots.take_stale()
        if stale:
            given = sum(self._outcomes.give_back(job) for job in stale)
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
        self._outcomes.close()  # bounded by the deadline: give_up_at
        self._execution.kill_processes()
        self._shutdown()
        self._hand_back_stale()
        for job in jobs:
            self._outcomes.give_back(job)
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
        params = ClaimParams(
            worker_id=self.worker_id,
            lease_token=token,
            limit=free,
            lease_seconds=self.options.leases.lease_seconds,
            groups=self.options.groups,
            executors=self._executor_names,
        )
        jobs = self._claim_gated(params) + self._claim_orphans(params, free)
        if len(jobs) < free:
            jobs += self.backend.claim(replace(params, limit=free - len(jobs)))
        if jobs:
            with self._retry_lock:
                for job in jobs:
                    self._retry_due.pop(job.id, None)
        return jobs

    def _claim_gated(self, params: ClaimParams) -> list[Job]:
        """Tasks of limited groups, claimed first (their limits, not the open lane's backlog,
        hold them back), for idle slots only: a buffered task would hold a group's slot, or
        start later than its claim, which its rate counts. While no limited group has a task
        of ours waiting, this is asked once a poll interval."""
        now = time.monotonic()
        idle = min(params.limit, self._slots.idle())
        if now < self._gates_checked_at + self.options.poll_interval or idle <= 0:
            return []
        jobs = self.backend.claim_gated(replace(params, limit=idle))
        self._gates_full = jobs == []  # tasks wait at a gate with no room: look again soon
        self._gates_active = jobs is not None
        if jobs is None:
            self._gates_checked_at = now
        return jobs or []

    def _successes_written(self) -> None:
        """Successes just committed free room in limited groups: claim again now."""
        if self._gates_active:
            self._wakeup.set()

    def _claim_orphans(self, params: ClaimParams, free: int) -> list[Job]:
        """Now and then, the waiting tasks of executors that no live worker has registered:
        this worker claims them to fail them EXECUTOR_NOT_FOUND (_execute). Never one whose
        executor a live worker has: it waits for that worker."""
        now = time.monotonic()
        too_soon = now < self._orphans_checked_at + ORPHAN_CHECK_SECONDS
        if too_soon or now < self._orphans_judged_from or free <= 0:
            return []
        self._orphans_checked_at = now
        orphans = self._orphans()
        if not orphans:
            return []
        return self.backend.claim(replace(params, executors=orphans, limit=free))

    def _orphans(self) -> tuple[str, ...]:
        """The executors of waiting tasks that neither this worker nor a live one has."""
        orphans = self.backend.waiting_executors() - set(self._executor_names)
        if orphans:
            live = self.backend.live_executors(self.options.leases.stale_worker_seconds)
            orphans = set() if live is None else orphans - live
        return tuple(sorted(orphans))

    def _promote_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_promote:
            self._next_promote = now + self.options.poll_interval
            self.backend.promote_due()

    def _idle_timeout(self, found: bool) -> float:
        """Adaptive polling: short right after work was found, doubling up to poll_interval."""
        if found:
            self._poll = self.options.min_poll_interval
        elif not self._outage:
            self._poll = min(self._poll * 2, self.options.poll_interval)
        timeout = min(self._poll, self._tick) if self._deferred else self._poll
        if self._gates_full:
            timeout = min(timeout, GATE_RECHECK_SECONDS)
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
            if self._orphans():
                self._orphans_checked_at = -math.inf  # claimed at once, to be failed
                return False
            if self.backend.any_waiting(self.options.groups, self._executor_names):
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
            self._outcomes.outcome_due(job)
            self._record_failure(job, spec, error)
            return
        self._outcomes.succeeded(job, round((time.perf_counter() - started) * 1000))

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
        self._outcomes.wait_idle(SUSPECT_FLUSH_SECONDS)
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
        self._outcomes.lost(job)
        return False

    def _fail_unreadable(self, job: Job, problem: Unreadable) -> None:
        """A row another client wrote that cannot be read as a task: failed, never run."""
        self._outcomes.unreadable(job, error_data(problem.message, None, problem.code))

    def _record_failure(self, job: Job, spec: ExecutorSpec | None, error: ErrorData) -> None:
        """Write a failed attempt (synchronously: it is durable before the slot moves on)."""
        if job.attempts >= job.max_attempts:
            self._outcomes.failed(job, error)
            return
        delay = spec.delay_after(job.attempts) if spec else 1.0
        if self._outcomes.retry(job, error, delay):
            with self._retry_lock:
                self._retry_due[job.id] = time.monotonic() + delay
