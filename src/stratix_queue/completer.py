"""Records a worker's successes in batches: what finished while one batch was being written goes
into the next, so under load one transaction moves many tasks, and when idle it moves one at once
(no added latency). Under load (the last batch had more than one task) it lingers up to
``LINGER_SECONDS`` to gather a fuller batch. A task waiting here still has its lease renewed by
the heartbeat."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from stratix_queue.job import Job
from stratix_queue.repository import JobRepository

log = logging.getLogger("stratix_queue.worker")
MAX_BATCH = 200
LINGER_SECONDS = 0.002
Done = tuple[Job, int]


class Completer:
    def __init__(
        self,
        repository: JobRepository,
        persist: Callable[[Callable[[], set[int]]], set[int]],
        on_result: Callable[[Sequence[Job], set[int]], None],
    ) -> None:
        self.repository = repository
        self._persist = persist
        self._on_result = on_result
        self._queue: queue.SimpleQueue[Done | None] = queue.SimpleQueue()
        self._pending: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._linger = 0.0
        self._thread = threading.Thread(
            target=self._run, name="stratix-queue-completer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, execution_time_ms: int) -> None:
        with self._lock:
            self._pending[job.id] = job
        self._queue.put((job, execution_time_ms))

    def pending(self) -> list[Job]:
        with self._lock:
            return list(self._pending.values())

    def close(self) -> None:
        """Write everything submitted so far, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._flush(batch)
            if stop:
                return

    def _gather(self, first: Done) -> tuple[list[Done], bool]:
        batch = [first]
        until = time.monotonic() + self._linger
        stop = False
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if item is None:
                stop = True
                break
            batch.append(item)
        self._linger = LINGER_SECONDS if len(batch) > 1 else 0.0
        return batch, stop

    def _flush(self, batch: list[Done]) -> None:
        try:
            moved = self._persist(lambda: self.repository.move_many_to_success(batch))
        except Exception:
            log.exception(
                "could not record %d successes; their leases will expire and the "
                "tasks will run again",
                len(batch),
            )
            moved = set()
        with self._lock:
            for job, _ in batch:
                self._pending.pop(job.id, None)
        self._on_result([job for job, _ in batch], moved)
