"""The tasks a worker holds and the threads that run them.

A worker holds up to ``concurrency + prefetch`` claimed tasks: ``concurrency`` run, one per slot
thread, and the rest wait in a local inbox, in claim order, so the next batch is already here
when a slot frees up (one claim round trip feeds many tasks; the claim overlaps the running).

By default the prefetch adapts to how long tasks take: the worker holds no more waiting tasks
than its slots start within ``PREFETCH_WINDOW`` seconds at the measured pace (at most
``MAX_AUTO_PREFETCH``). Short tasks are claimed in large batches; long tasks are not hoarded
away from other workers (a task of a second or more gets no prefetch at all). Every held task
is leased to the worker and renewed by its heartbeat; at shutdown the ones that never started
are given back at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from stratix_queue.job import Job

log = logging.getLogger("stratix_queue.worker")
PREFETCH_WINDOW = 0.1  # seconds of work a worker may hold beyond its running tasks
MAX_AUTO_PREFETCH = 500


class Slots:
    """``concurrency`` threads fed from an inbox of claimed tasks."""

    def __init__(
        self,
        concurrency: int,
        prefetch: int | None,
        run: Callable[[Job], None],
        on_room: Callable[[], None],
    ) -> None:
        self.concurrency = concurrency
        self._prefetch = prefetch  # None: adaptive
        self._pace = PREFETCH_WINDOW  # moving average of a task's run time (s); long at first
        self._run = run
        self._on_room = on_room
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._held: dict[int, Job] = {}
        self._room_told = False
        self._changed = threading.Condition(threading.Lock())
        self._threads = [
            threading.Thread(target=self._work, name=f"stratix-queue-{i}", daemon=True)
            for i in range(concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def capacity(self) -> int:
        """How many tasks the worker may hold now: the slots plus the prefetch."""
        if self._prefetch is not None:
            return self.concurrency + self._prefetch
        ahead = int(self.concurrency * PREFETCH_WINDOW / max(self._pace, 1e-6))
        return self.concurrency + min(ahead, MAX_AUTO_PREFETCH)

    @property
    def room_at(self) -> int:
        return _room_at(self.capacity)

    def free(self) -> int:
        return self.capacity - len(self._held)

    def held(self) -> list[Job]:
        with self._changed:
            return list(self._held.values())

    def put(self, jobs: list[Job]) -> None:
        with self._changed:
            self._room_told = False  # the worker looked for work: tell it again when room frees
            for job in jobs:
                self._held[job.id] = job
        for job in jobs:
            self._inbox.put(job)

    def take_unstarted(self) -> list[Job]:
        """Take back the tasks no slot has started (the inbox is emptied)."""
        taken: list[Job] = []
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                taken.append(job)
        with self._changed:
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
        for _ in self._threads:
            self._inbox.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _work(self) -> None:
        get = self._inbox.get
        clock = time.perf_counter
        while (job := get()) is not None:
            started = clock()
            try:
                self._run(job)
            except Exception:
                log.exception("unexpected error while running task %s (%s)", job.id, job.name)
            finally:
                self._pace += (clock() - started - self._pace) * 0.1
                self._finished(job)

    def _finished(self, job: Job) -> None:
        with self._changed:
            self._held.pop(job.id, None)
            left = len(self._held)
            if not left:
                self._changed.notify_all()
            capacity = self.capacity
            tell = not self._room_told and capacity - left >= _room_at(capacity)
            if tell or not left:
                self._room_told = True
        if tell or not left:  # once per claim, not once per finished task
            self._on_room()


def _room_at(capacity: int) -> int:
    """Claim again once half the capacity is free: a round trip brings a batch, not one."""
    return max(1, capacity // 2)
