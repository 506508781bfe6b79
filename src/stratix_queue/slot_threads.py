"""The tasks a worker holds and the threads that run them.

A worker holds up to ``concurrency + prefetch`` claimed tasks: up to ``concurrency`` run, one per
slot thread, and the rest wait in a local ready queue, in claim order, so the next batch is
already here when a slot frees up (one claim round trip feeds many tasks; the claim overlaps the
running).

By default the prefetch adapts to how long tasks take: the worker holds no more waiting tasks
than its slots start within ``PREFETCH_WINDOW`` seconds at the measured pace (at most
``MAX_AUTO_PREFETCH``). Short tasks are claimed in large batches; long tasks are not hoarded
away from other workers (a task of a second or more gets no prefetch at all). Every held task
is leased to the worker and renewed by its heartbeat; at shutdown the ones that never started
are given back at once.

The pace is an estimate: slow tasks claimed together with fast ones (or after them) can still
fill every slot while others wait here. Once no task has been taken from here for
``BUFFER_WAIT_SECONDS`` (every slot inside a long task, or a task running alone, see below),
the waiting ones are handed back (``take_stale``; the worker returns them to the queue,
uncounted) for any worker with a free slot, and this one claims no more than its slots until
one of them is free again.

A task for which ``alone`` holds (one that a lost worker held: it may be what killed it) runs
with every other slot idle: it waits for the busy ones to finish, the others wait for it, and
the worker claims nothing more meanwhile.

Slot threads are woken only as far as they help. Python runs one thread at a time (the GIL), so
extra threads speed up tasks that wait (I/O, sleeps, locks, async executors) and only slow down
tasks that compute: sixteen threads trading the GIL over tasks of a few microseconds run them
at about half the rate of two. Each slot measures the share of its task's time spent off the CPU
(``blocked``: wall time minus the thread's CPU time); the worker keeps ``1 / (1 - blocked)``
threads awake, the number that keeps one CPU busy, never fewer than one nor more than
``concurrency``. A task that is still running after ``STUCK_AFTER`` counts as waiting: when
every awake slot is inside such a task and tasks are ready, the pacer thread wakes twice as many
(so sixteen tasks that each sleep a second all run within a few ticks, and a long task never
holds up the ones behind it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from stratix_queue.job import Job

log = logging.getLogger("stratix_queue.worker")
PREFETCH_WINDOW = 0.1  # seconds of work a worker may hold beyond its running tasks
MAX_AUTO_PREFETCH = 500
TICK = 0.005  # how often the pacer looks at the slots while tasks wait for one (s)
STUCK_AFTER = 4 * TICK  # a task running this long (s) counts as waiting, whatever it measured
SMOOTHING = 0.1  # weight of the newest task in the moving averages
BUFFER_WAIT_SECONDS = 0.5  # every slot busy this long: the tasks waiting here are handed back


class Slots:
    """Up to ``concurrency`` threads fed from a ready queue of claimed tasks."""

    def __init__(
        self,
        concurrency: int,
        prefetch: int | None,
        start: Callable[[Job], bool],
        run: Callable[[Job], None],
        on_room: Callable[[], None],
        alone: Callable[[Job], bool] = lambda _job: False,
    ) -> None:
        """In a slot thread, ``start`` prepares a task (False: it is not to run) and ``run`` runs
        it (only this is timed for the pace); ``on_room`` tells the worker it may claim again,
        or has stale tasks to hand back (``take_stale``). A task for which ``alone`` is true
        waits until no other slot is busy and runs with the others idle."""
        self.concurrency = concurrency
        self._prefetch = prefetch  # None: adaptive
        self._pace = PREFETCH_WINDOW  # moving average of a task's run time (s); long at first
        self._blocked = 0.0  # moving average of the share of a task's run time off the CPU
        self._want = 1  # slot threads worth keeping awake (from _blocked)
        # at the first pace (PREFETCH_WINDOW) a slot starts one task per window
        self._capacity = concurrency + (concurrency if prefetch is None else prefetch)
        self._start = start
        self._run = run
        self._on_room = on_room
        self._alone = alone
        self._busy = 0  # slots between taking a task and finishing it
        self._alone_since = 0.0  # perf_counter() when a task that runs alone was taken; 0: none
        self._alone_ready = 0  # tasks in the ready queue that must run alone (rarely any)
        self._progress_at = 0.0  # perf_counter() of the last take, or of tasks arriving to none
        self._ready: deque[Job] = deque()
        self._held: dict[int, Job] = {}
        self._stale: list[Job] = []  # taken from the ready queue, to be handed back
        self._holding_off = False  # no prefetch until a slot is free again (after a hand-back)
        self._room_told = False
        self._closing = False
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # the held tasks changed
        self._wake = threading.Condition(lock)  # parked slot threads wait here
        self._tick = threading.Condition(lock)  # the pacer waits here
        self._awake = concurrency  # slot threads not parked (each parks when it starts)
        self._started = [0.0] * concurrency  # when each slot's task started; 0: none
        self._running: list[Job | None] = [None] * concurrency  # each slot's task
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"stratix-queue-{i}", daemon=True)
            for i in range(concurrency)
        ]
        self._pacer = threading.Thread(target=self._pace_loop, name="stratix-queue-pacer")
        self._pacer.daemon = True

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self._pacer.start()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def capacity(self) -> int:
        """How many tasks the worker may hold now: the slots plus the prefetch."""
        return self.concurrency if self._holding_off else self._capacity

    @property
    def pace(self) -> float:
        """The moving average of a task's run time (seconds)."""
        return self._pace

    @property
    def room_at(self) -> int:
        return _room_at(self.capacity)

    def free(self) -> int:
        """How many more tasks to claim: none while a task runs alone or waits to."""
        if self._alone_since or self._head_alone():
            return 0
        return self.capacity - len(self._held)

    def idle(self) -> int:
        """How many claimed tasks would start at once: slots with no task held for them."""
        if self._alone_since or self._head_alone():
            return 0
        return max(self.concurrency - len(self._held), 0)

    def _head_alone(self) -> bool:
        ready = self._ready
        return self._alone_ready > 0 and bool(ready) and self._alone(ready[0])

    def held(self) -> list[Job]:
        with self._changed:
            return list(self._held.values())

    def running(self, longer_than: float = 0.0) -> list[Job]:
        """The tasks the slots run now, each for ``longer_than`` seconds at least."""
        since = time.perf_counter() - longer_than
        jobs = zip(self._running, self._started, strict=True)
        return [job for job, started in jobs if job is not None and started <= since]

    def take_stale(self) -> list[Job]:
        """The tasks taken out of the ready queue because every slot stayed busy (to hand back)."""
        with self._changed:
            stale, self._stale = self._stale, []
        return stale

    def put(self, jobs: list[Job]) -> None:
        with self._changed:
            self._room_told = False  # the worker looked for work: tell it again when room frees
            for job in jobs:
                self._held[job.id] = job
            if jobs and not self._ready:
                self._progress_at = time.perf_counter()
            self._ready.extend(jobs)
            self._alone_ready += sum(1 for job in jobs if self._alone(job))
            self._wake_up_to(min(self._awake + len(self._ready), self._want))
            if self._ready:  # the pacer wakes more slots, or hands the tasks back if all stay busy
                self._tick.notify()

    def take_unstarted(self) -> list[Job]:
        """Take back the tasks no slot has started (the ready queue is emptied)."""
        with self._changed:
            taken = list(self._ready)
            self._ready.clear()
            self._alone_ready = 0
            for job in taken:
                self._held.pop(job.id, None)
            if not self._held:
                self._changed.notify_all()
        return taken

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no held task is left; False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._held:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Stop the slot threads once they are idle (call after ``wait_idle``)."""
        with self._changed:
            self._closing = True
            self._wake.notify_all()
            self._tick.notify_all()
        for thread in [*self._threads, self._pacer]:
            if thread.is_alive():
                thread.join()

    # -- the slot threads ---------------------------------------------------------------------

    def _work(self, slot: int) -> None:
        clock = time.perf_counter
        cpu = time.thread_time
        job = self._next(None)
        while job is not None:
            started = self._started[slot] = clock()
            try:
                if self._start(job):
                    self._running[slot] = job
                    cpu_started = cpu()
                    self._run(job)
                    self._measure(clock() - started, cpu() - cpu_started)
            except Exception:
                log.exception("unexpected error while running task %s (%s)", job.id, job.name)
            self._running[slot] = None
            self._started[slot] = 0.0
            job = self._next(job)

    def _measure(self, wall: float, cpu: float) -> None:
        """Fold one task's run into the averages and what follows from them (per task, so
        without locks: a lost update between two slots only delays the averages)."""
        self._pace = pace = self._pace + (wall - self._pace) * SMOOTHING
        if wall > 0:
            off_cpu = max(0.0, 1.0 - cpu / wall)
            self._blocked += (off_cpu - self._blocked) * SMOOTHING
        self._want = _threads_wanted(self._blocked, self.concurrency)
        if self._prefetch is None:
            ahead = int(self.concurrency * PREFETCH_WINDOW / max(pace, 1e-6))
            self._capacity = self.concurrency + min(ahead, MAX_AUTO_PREFETCH)

    def _next(self, finished: Job | None) -> Job | None:
        """Record ``finished`` and take the next ready task, parking while there is none (or
        while more threads are awake than help); None once the slots close."""
        with self._changed:
            tell = finished is not None and self._finished(finished)
            job = self._take()
        if tell:  # once per claim, not once per finished task
            self._on_room()
        if job is not None:
            return job
        with self._changed:
            while (job := self._take()) is None and not self._closing:
                self._awake -= 1
                if self._ready:  # parked to make room for fewer threads: the pacer watches
                    self._tick.notify()
                self._wake.wait()  # whoever wakes a slot counts it awake again
            return job

    def _take(self) -> Job | None:
        """The next ready task, or None: none is ready, a task runs alone, the next one must
        run alone and another slot is busy, or more threads than help are awake (measured on
        short tasks only: while a slot is inside a long task, no thread parks)."""
        if not self._ready or self._alone_since:
            return None
        if self._alone_ready and self._alone(self._ready[0]):
            if self._busy:
                return None
            self._alone_since = time.perf_counter()
            self._alone_ready -= 1
        else:
            awake = self._awake
            if awake > 1 and awake > self._want and not self._stuck():
                return None
        self._busy += 1
        self._progress_at = time.perf_counter()
        return self._ready.popleft()

    def _stuck(self) -> int:
        """How many slots are inside a task that started more than STUCK_AFTER ago."""
        since = time.perf_counter() - STUCK_AFTER
        return sum(1 for started in self._started if started and started < since)

    def _finished(self, job: Job) -> bool:
        """Forget a finished task; True if the worker should be told there is room to claim."""
        self._held.pop(job.id, None)
        self._busy -= 1
        if self._alone_since and self._alone(job):  # the others may run again
            self._alone_since = 0.0
            self._wake_up_to(min(self._awake + len(self._ready), self._want))
        self._holding_off = False  # a slot is free: claiming ahead is fine again
        left = len(self._held)
        if not left:
            self._changed.notify_all()
        capacity = self.capacity
        tell = not self._room_told and capacity - left >= _room_at(capacity)
        if tell or not left:
            self._room_told = True
            return True
        return False

    # -- how many slots are awake ---------------------------------------------------------------

    def _wake_up_to(self, awake: int) -> None:
        """Wake parked slots until ``awake`` are awake (at most ``concurrency``)."""
        more = min(awake, self.concurrency) - self._awake
        if more > 0:
            self._awake += more
            self._wake.notify(more)

    def _pace_loop(self) -> None:
        while not self._closing:
            with self._changed:
                if not self._ready:
                    self._tick.wait()
                    continue
                blocked = self._alone_since or (self._head_alone() and self._busy)
                if self._awake >= self.concurrency or blocked:  # only look for staleness
                    self._tick.wait(BUFFER_WAIT_SECONDS / 5)
                else:
                    self._tick.wait(TICK)
                if not self._ready or self._closing:
                    continue
                if self._hand_back_stale():
                    self._on_room()  # the worker hands them back (from its own thread)
                    continue
                if not (self._alone_since or (self._head_alone() and self._busy)):
                    self._wake_up_to(min(self._awake + len(self._ready), self._pacer_wants()))

    def _hand_back_stale(self) -> bool:
        """Take the ready tasks out if none has been taken for BUFFER_WAIT_SECONDS (every slot
        inside a long task, or a task running alone or waiting to); True if it did. Slots all
        inside their tasks prove the pace too short: it is raised to what they have run so
        far. No more is claimed ahead until a slot is free."""
        now = time.perf_counter()
        if now - self._progress_at < BUFFER_WAIT_SECONDS:
            return False
        started = self._started
        if all(started):
            self._pace = max(self._pace, now - max(started))
        self._holding_off = True
        stale = list(self._ready)
        self._ready.clear()
        self._alone_ready = 0
        for job in stale:
            self._held.pop(job.id, None)
        self._stale.extend(stale)
        return True

    def _pacer_wants(self) -> int:
        stuck = self._stuck()
        wanted = self._want + stuck
        if stuck >= self._awake:  # every awake slot waits inside a task: tasks are left waiting
            wanted = max(wanted, 2 * self._awake)
        return wanted


def _threads_wanted(blocked: float, concurrency: int) -> int:
    """Threads that keep one CPU busy when each task spends ``blocked`` of its time off it."""
    blocked = min(blocked, 1.0 - 1.0 / concurrency)
    return min(concurrency, max(1, math.ceil(1.0 / (1.0 - blocked) - 1e-9)))


def _room_at(capacity: int) -> int:
    """Claim again once half the capacity is free: a round trip brings a batch, not one."""
    return max(1, capacity // 2)
