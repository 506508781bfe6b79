"""Group limits and executor routing across worker processes, measured by the executors
themselves (each appends its own start and end times to a shared log; tests/flowproc.py)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratix_queue import QueueService
from tests import dbs, flowproc

CTX = multiprocessing.get_context("spawn")


class Workers:
    """Worker processes started together (each waits for the same start event)."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, str(log)
        self.start = CTX.Event()
        self.procs: list[Any] = []

    def add(
        self, executors: tuple[str, ...], concurrency: int, burst: bool = True, seconds: float = 0
    ) -> Any:
        args = (self.url, executors, concurrency, burst, self.log, seconds, self.start)
        proc = CTX.Process(target=flowproc.run, args=args)
        proc.start()
        self.procs.append(proc)
        return proc

    def go(self) -> float:
        time.sleep(0.5)  # let the children import and connect
        began = time.time()
        self.start.set()
        return began

    def join(self, timeout: float = 120) -> None:
        for proc in self.procs:
            proc.join(timeout)
        assert [proc.exitcode for proc in self.procs] == [0] * len(self.procs)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(db_url, tmp_path / "runs.log")
    yield started
    started.kill()


@pytest.mark.slow
def test_a_concurrency_limit_holds_across_processes(queue: QueueService, workers: Workers) -> None:
    """4 processes x 8 slots on a group limited to 3: never more than 3 of its tasks at once,
    while tasks of other groups run beside them."""
    queue.set_group_limits("g", concurrency=3)
    queue.add_tasks(
        [{"name": "g", "executor": "sleep", "group": "g"} for _ in range(48)]
        + [{"name": "free", "executor": "sleep", "group": "other"} for _ in range(48)]
    )
    for _ in range(4):
        workers.add(("sleep",), concurrency=8, seconds=0.05)
    workers.go()
    workers.join()
    runs = flowproc.read_log(workers.log)
    limited = [(start, end) for _, _, group, _, start, end in runs if group == "g"]
    free = [(start, end) for _, _, group, _, start, end in runs if group == "other"]
    assert len(limited) == 48 and len(free) == 48  # each ran once
    assert flowproc.most_at_once(limited) == 3  # the limit, reached and never passed
    assert flowproc.most_at_once(free) > 3  # the other group was not held to it
    assert len({pid for *_, pid, _, _ in runs}) > 1  # several processes took part


@pytest.mark.slow
def test_a_rate_limit_holds_in_every_window(queue: QueueService, workers: Workers) -> None:
    """20/s over 10 s, 2 processes x 4 slots: at most 20 starts in any 1-second window, and the
    tasks of other groups do not wait behind the limited ones."""
    queue.set_group_limits("api", rate="20/s")
    queue.add_tasks(
        [{"name": "call", "executor": "sleep", "group": "api"} for _ in range(200)]
        + [{"name": "free", "executor": "sleep"} for _ in range(100)]
    )
    workers.add(("sleep",), concurrency=4)
    workers.add(("sleep",), concurrency=4)
    began = workers.go()
    workers.join()
    runs = flowproc.read_log(workers.log)
    starts = [start for _, _, group, _, start, _ in runs if group == "api"]
    assert len(starts) == 200
    assert flowproc.most_in_window(starts, 1.0) <= 20
    assert max(starts) - min(starts) >= 9.0  # 200 at 20 a second: the limit held them back
    free = [start for _, _, group, _, start, _ in runs if group == "-"]
    assert max(free) - began < 3.0  # the open lane ran at once


@pytest.mark.slow
def test_workers_claim_only_the_executors_they_have(
    queue: QueueService, workers: Workers, db_url: str
) -> None:
    """A long-running worker with `slow` and a burst worker with `fast`: each runs only its own
    executor's tasks; the burst worker fails the tasks of an executor no live worker has, and
    never the slow ones a live worker has."""
    slow = queue.add_tasks([{"name": "s", "executor": "slow"} for _ in range(6)])
    fast = queue.add_tasks([{"name": "f", "executor": "fast"} for _ in range(40)])
    orphans = queue.add_tasks([{"name": "o", "executor": "nobody"} for _ in range(3)])
    keeper = workers.add(("slow",), concurrency=1, burst=False, seconds=0.3)
    burst = workers.add(("fast",), concurrency=4)
    workers.go()
    burst.join(60)
    assert burst.exitcode == 0
    left = "SELECT COUNT(*) FROM queue_jobs WHERE executor = 'slow'"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and dbs.scalar(db_url, left):
        time.sleep(0.1)
    keeper.terminate()  # a graceful stop
    keeper.join(30)
    runs = flowproc.read_log(workers.log)
    ran_by = {task: (executor, pid) for task, executor, _, pid, _, _ in runs}
    assert {ran_by[job.id][1] for job in slow} == {keeper.pid}
    assert {ran_by[job.id][1] for job in fast} == {burst.pid}
    for job in orphans:
        found = queue.get_task(job.id)
        assert found is not None and found.status.value == "failed"
        assert found.error_code == "EXECUTOR_NOT_FOUND"
    assert dbs.scalar(db_url, left) == 0  # every slow task succeeded: none was failed
