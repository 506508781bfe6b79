"""Prefetch: a worker holds claimed tasks beyond its running ones, within bounds, and gives the
unstarted ones back when it stops."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.errors import InvalidInputError
from stratix_queue.slot_threads import (
    BUFFER_WAIT_SECONDS,
    MAX_AUTO_PREFETCH,
    PREFETCH_WINDOW,
    Slots,
)
from tests import dbs


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _finish(queue: QueueService, url: str, thread: threading.Thread) -> None:
    _wait_for(lambda: not dbs.scalar(url, "SELECT COUNT(*) FROM queue_jobs"))
    queue.stop_workers()
    thread.join(10)


def _executing(url: str) -> int:
    return int(dbs.scalar(url, "SELECT COUNT(*) FROM queue_jobs WHERE status = 'executing'"))


def _start_blocked_worker(
    queue: QueueService, tasks: int, concurrency: int, prefetch: int
) -> tuple[threading.Event, threading.Thread, dict[str, Any], list[int]]:
    release = threading.Event()
    started: list[int] = []

    @queue.executor("block")
    def block(payload: dict[str, int]) -> None:
        started.append(payload["i"])
        release.wait(30)

    queue.add_tasks(
        [{"name": f"t{i}", "executor": "block", "payload": {"i": i}} for i in range(tasks)]
    )
    result: dict[str, Any] = {}

    def run() -> None:
        result["stats"] = queue.run_worker(
            concurrency=concurrency, prefetch=prefetch, poll_interval=0.05
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return release, thread, result, started


def test_a_worker_holds_at_most_concurrency_plus_prefetch(queue: QueueService, db_url: str) -> None:
    release, thread, result, started = _start_blocked_worker(queue, 12, concurrency=2, prefetch=3)
    try:
        _wait_for(lambda: len(started) == 2 and _executing(db_url) == 5)
        seen = [_executing(db_url) for _ in range(10)]  # no further claim while it holds five
        assert max(seen) <= 5 and len(started) == 2, seen
    finally:
        release.set()
    _finish(queue, db_url, thread)
    assert result["stats"].succeeded == 12


def test_tasks_waiting_behind_busy_slots_are_handed_back(queue: QueueService, db_url: str) -> None:
    """Every slot stays inside a long task: the tasks waiting in the worker's buffer go back to
    the queue, uncounted, within BUFFER_WAIT_SECONDS (for any worker with a free slot), and
    this worker claims no more until one of its slots is free."""
    release, thread, result, started = _start_blocked_worker(queue, 12, concurrency=2, prefetch=3)
    try:
        _wait_for(lambda: len(started) == 2 and _executing(db_url) == 5)
        handed_at = time.monotonic()
        _wait_for(lambda: _executing(db_url) == 2, timeout=BUFFER_WAIT_SECONDS + 2)
        assert time.monotonic() - handed_at <= BUFFER_WAIT_SECONDS + 1
        waiting = dbs.query(db_url, "SELECT attempts FROM queue_jobs WHERE status = 'waiting'")
        assert waiting == [(0,)] * 10
        seen = [_executing(db_url) for _ in range(10)]
        time.sleep(BUFFER_WAIT_SECONDS)
        assert max([*seen, _executing(db_url)]) == 2, seen  # it holds off
    finally:
        release.set()
    _finish(queue, db_url, thread)
    assert result["stats"].succeeded == 12 and result["stats"].given_back >= 3


def test_stopping_gives_back_the_prefetched_tasks_at_once(queue: QueueService, db_url: str) -> None:
    release, thread, result, started = _start_blocked_worker(queue, 10, concurrency=2, prefetch=3)
    _wait_for(lambda: len(started) == 2 and _executing(db_url) == 5)
    queue.stop_workers()
    # The three that never started go back to waiting, uncounted, while two still run.
    _wait_for(lambda: _executing(db_url) == 2)
    waiting = dbs.query(
        db_url, "SELECT attempts, locked_by FROM queue_jobs WHERE status = 'waiting'"
    )
    assert len(waiting) == 8 and all(row == (0, None) for row in waiting)
    release.set()
    thread.join(10)
    stats = result["stats"]
    assert (stats.succeeded, stats.given_back) == (2, 3)
    assert len(started) == 2  # the given-back ones never ran here


def test_prefetch_zero_claims_only_for_free_slots(queue: QueueService, db_url: str) -> None:
    release, thread, result, started = _start_blocked_worker(queue, 6, concurrency=2, prefetch=0)
    try:
        _wait_for(lambda: len(started) == 2)
        time.sleep(0.3)
        assert _executing(db_url) == 2
    finally:
        release.set()
    _finish(queue, db_url, thread)
    assert result["stats"].succeeded == 6


@pytest.mark.parametrize("prefetch", [-1, 1.5, "3", True])
def test_bad_prefetch(queue: QueueService, prefetch: Any) -> None:
    with pytest.raises(InvalidInputError, match="prefetch"):
        queue.run_worker(burst=True, prefetch=prefetch)


def _settle(slots: Slots, wall: float, cpu: float) -> None:
    """Feed the slots enough runs of one kind for the moving averages to reach them."""
    for _ in range(300):
        slots._measure(wall, cpu)


def test_adaptive_prefetch_follows_the_pace_of_tasks() -> None:
    slots = Slots(4, None, start=lambda job: True, run=lambda job: None, on_room=lambda: None)
    _settle(slots, 2.0, 0.0)  # tasks of two seconds: nothing is held beyond the slots
    assert slots.capacity == 4
    _settle(slots, PREFETCH_WINDOW / 2, 0.0)  # each slot starts two tasks per window
    assert slots.capacity in (4 + 7, 4 + 8)  # the average nears the pace from above
    _settle(slots, 1e-5, 1e-5)  # near-instant tasks: a large batch, but bounded
    assert slots.capacity == 4 + MAX_AUTO_PREFETCH
    assert (
        Slots(4, 7, start=lambda job: True, run=lambda job: None, on_room=lambda: None).capacity
        == 11
    )
