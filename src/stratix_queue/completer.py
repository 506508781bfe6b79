"""Records a worker's successes in batches: what finished while one batch was being written goes
into the next, so under load one transaction moves many tasks, and when idle it moves one at once
(no added latency). Under load (the last batch had more than one task) it lingers
``LINGER_SECONDS`` to gather a fuller batch. A task waiting here still has its lease renewed by
the heartbeat.

Only the first success after an idle spell wakes the completer thread: the ones that follow are
appended to the list it will take, without a signal. A wake-up per task would hand Python's GIL
back and forth between the slot that finished and the completer, for every task (measured: about
ten futex calls a task, half of all the worker's)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from stratix_queue.job import Job

log = logging.getLogger("stratix_queue.worker")
MAX_BATCH = 200
LINGER_SECONDS = 0.002
Done = tuple[Job, int]


class Completer:
    def __init__(
        self,
        record: Callable[[Sequence[Done]], set[int]],
        on_result: Callable[[Sequence[Job], set[int]], None],
    ) -> None:
        """``record`` writes a batch and returns the ids moved; ``on_result`` hears of each."""
        self._record = record
        self._on_result = on_result
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
            target=self._run, name="stratix-queue-completer", daemon=True
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
            moved = self._record(batch)
        except Exception:  # a bug: the tasks' leases expire and they run again
            log.exception("could not record %d successes", len(batch))
            moved = set()
        finally:
            self._writing_since = 0.0
        with self._lock:
            for job, _ in batch:
                self._pending.pop(job.id, None)
            self._written.notify_all()
        self._on_result([job for job, _ in batch], moved)
