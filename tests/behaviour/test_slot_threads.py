"""How many slot threads a worker keeps awake: as many as its tasks can use. Tasks that wait
(sleeps, I/O) all run at once, up to ``concurrency``; tasks that only compute run on few
threads, since Python runs one thread at a time and more would only trade the GIL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.slot_threads import _threads_wanted


class Peak:
    """The most tasks that were inside their executor at the same time."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def test_waiting_tasks_all_run_at_once(queue: QueueService) -> None:
    peak = Peak()

    @queue.executor("wait")
    def wait(payload: Any) -> None:
        with peak:
            time.sleep(0.3)

    queue.add_tasks([{"name": f"w{i}", "executor": "wait"} for i in range(16)])
    started = time.monotonic()
    stats = queue.run_worker(concurrency=16, burst=True)
    assert stats.succeeded == 16
    assert peak.most == 16
    assert time.monotonic() - started < 0.3 * 4  # in one wave, not one after another


def _compute(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_computing_tasks_run_on_few_threads(queue: QueueService) -> None:
    peak = Peak()

    @queue.executor("compute")
    def compute(payload: Any) -> None:
        with peak:
            _compute(0.00025)
            time.sleep(0)  # lets any other awake slot thread start its task here
            _compute(0.00025)

    queue.add_tasks([{"name": f"c{i}", "executor": "compute"} for i in range(400)])
    stats = queue.run_worker(concurrency=16, burst=True)
    assert stats.succeeded == 400
    assert peak.most <= 8  # sixteen awake threads all start a task at each pause (measured)


@pytest.mark.parametrize(
    ("blocked", "threads"),
    [(0.0, 1), (0.3, 2), (0.5, 2), (0.75, 4), (0.9, 10), (0.99, 16), (1.0, 16)],
)
def test_threads_wanted_keep_one_cpu_busy(blocked: float, threads: int) -> None:
    assert _threads_wanted(blocked, 16) == threads
