"""The circuit breaker per group, driven by real workers' outcomes: it opens on failures
(not below min_tasks), lets exactly one probe through after the cool-down whatever the slots,
and the probe's outcome closes it or opens it again; a manual resume closes it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from stratix_queue import Job, QueueService
from stratix_queue.group_watch import GroupWatch
from tests import dbs

COOLDOWN = 0.3


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def statuses(url: str, group: str = "g") -> dict[int, str]:
    rows = dbs.query(url, "SELECT id, status FROM queue_jobs WHERE group_name = %s", [group])
    return {int(i): str(s) for i, s in rows}


def breaker(queue: QueueService, group: str = "g") -> tuple[bool, str | None, str | None]:
    [info] = [g for g in queue.list_groups() if g.name == group]
    return info.paused, info.reason, info.breaker_state


def fail_some(queue: QueueService, count: int, group: str = "g") -> None:
    """``count`` tasks of ``group`` failed by a burst worker (the failures in the rollups)."""

    def broken(payload: Any) -> None:
        raise ConnectionError("upstream down")

    queue.register_executor("broken", broken)
    for i in range(count):
        queue.add_task(name=f"b{i}", executor="broken", group=group)
    stats = queue.run_worker(concurrency=2, burst=True, poll_interval=0.05)
    assert stats.failed == count


def open_breaker(queue: QueueService) -> GroupWatch:
    """Failures, then a breaker (set after the burst worker: its maintenance does not race
    the test's), opened by a watch step."""
    fail_some(queue, 4)
    queue.set_group_breaker("g", threshold=0.5, min_tasks=4, window=60, cooldown=COOLDOWN)
    watch = GroupWatch(queue.backend)
    assert watch.step() == [("g", "open")]
    return watch


@contextmanager
def workers(queues: list[QueueService], concurrency: int) -> Iterator[None]:
    threads = [
        threading.Thread(
            target=lambda q=q: q.run_worker(concurrency=concurrency, poll_interval=0.05),
            daemon=True,
        )
        for q in queues
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for q in queues:
            q.stop_workers()
        for thread in threads:
            thread.join(30)


def test_failures_open_it_and_pause_the_group(
    queue: QueueService, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue.register_executor("ok", lambda payload: None)
    queue.add_task(name="fine", executor="ok", group="g")
    queue.run_worker(concurrency=1, burst=True)
    fail_some(queue, 3)  # 3 of 4 failed: over the threshold
    queue.set_group_breaker("g", threshold=0.5, min_tasks=4, window="1m", cooldown=60)
    waiting = [queue.add_task(name=f"w{i}", executor="ok", group="g").id for i in range(2)]
    caplog.set_level(logging.INFO, logger="stratix_queue.groups")

    assert GroupWatch(queue.backend).step() == [("g", "open")]
    assert breaker(queue) == (True, "breaker", "open")
    [info] = queue.list_groups()
    assert info.until is not None
    assert {statuses(db_url)[i] for i in waiting} == {"paused"}
    [line] = [r for r in caplog.records if r.name == "stratix_queue.groups"]
    assert line.levelno == logging.WARNING
    assert "3 of 4 outcomes failed (75%, threshold 50%)" in line.getMessage()
    assert GroupWatch(queue.backend).step() == []  # open stays open until the cool-down


def test_below_min_tasks_or_threshold_it_stays_closed(queue: QueueService) -> None:
    fail_some(queue, 4)
    queue.register_executor("ok", lambda payload: None)
    queue.add_task(name="fine", executor="ok", group="g")
    queue.run_worker(concurrency=1, burst=True)  # 4 of 5 outcomes failed: 80%
    watch = GroupWatch(queue.backend)
    queue.set_group_breaker("g", threshold=0.5, min_tasks=6, window=60, cooldown=60)
    assert watch.step() == []  # too few outcomes
    assert breaker(queue) == (False, None, "closed")
    queue.set_group_breaker("g", threshold=0.9, min_tasks=5, window=60, cooldown=60)
    assert watch.step() == []  # under the threshold
    assert breaker(queue) == (False, None, "closed")
    queue.set_group_breaker("g", threshold=0.8, min_tasks=5, window=60, cooldown=60)
    assert watch.step() == [("g", "open")]  # 80% >= 80%, 5 outcomes


def test_one_probe_then_success_closes_it(
    make_queue: Callable[[], QueueService], queue: QueueService, db_url: str
) -> None:
    watch = open_breaker(queue)
    release = threading.Event()
    ran: list[int] = []

    def slow(payload: Any, job: Job) -> None:
        ran.append(job.id)
        assert release.wait(20)

    ids = [queue.add_task(name=f"s{i}", executor="slow", group="g").id for i in range(4)]
    assert set(statuses(db_url).values()) == {"failed", "paused"}
    time.sleep(COOLDOWN + 0.1)
    assert watch.step() == [("g", "probe")]
    assert breaker(queue) == (False, None, "probing")
    others = [make_queue(), make_queue()]
    for service in others:
        service.register_executor("slow", slow)
    with workers(others, concurrency=3):
        wait_for(lambda: len(ran) == 1)
        time.sleep(0.5)  # room for more claims, which must not come
        assert len(ran) == 1
        now = statuses(db_url)
        assert sorted(now[i] for i in ids) == ["executing", "waiting", "waiting", "waiting"]
        [info] = queue.list_groups()
        assert info.probe_task_id == ran[0]
        release.set()
        wait_for(lambda: len(ran) == 4)  # the workers' maintenance closed it
    assert sorted(ran) == ids
    wait_for(lambda: breaker(queue) == (False, None, "closed"))


def test_probe_failure_opens_it_again(
    queue: QueueService, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    watch = open_breaker(queue)
    ids = [queue.add_task(name=f"b{i}", executor="broken", group="g").id for i in range(3)]
    time.sleep(COOLDOWN + 0.1)
    assert watch.step() == [("g", "probe")]
    caplog.set_level(logging.INFO, logger="stratix_queue.groups")
    # A burst worker runs the probe (it fails); its maintenance opens the breaker again, which
    # pauses the rest, and the worker stops.
    stats = queue.run_worker(concurrency=3, burst=True, poll_interval=0.05)
    assert stats.failed == 1
    assert breaker(queue) == (True, "breaker", "open")
    assert sorted(statuses(db_url)[i] for i in ids) == ["failed", "paused", "paused"]
    assert any("failed, circuit breaker open again" in r.getMessage() for r in caplog.records)
    time.sleep(COOLDOWN + 0.1)
    assert watch.step() == [("g", "probe")]  # another cool-down, another probe


def test_a_removed_probe_lets_another_go(queue: QueueService, db_url: str) -> None:
    watch = open_breaker(queue)
    first, second = (queue.add_task(name=f"p{i}", executor="x", group="g").id for i in range(2))
    time.sleep(COOLDOWN + 0.1)
    assert watch.step() == [("g", "probe")]
    [probe] = queue.backend.claim_gated(_params()) or []
    assert probe.id == first
    assert queue.backend.claim_gated(_params("t2")) == []  # one probe only
    queue.backend.give_back(probe)  # back to waiting: it will not tell
    assert watch.step() == [("g", "forget_probe")]
    assert [job.id for job in queue.backend.claim_gated(_params("t3")) or []] == [first]
    assert statuses(db_url)[second] == "waiting"


def _params(token: str = "t1") -> Any:
    from stratix_queue.backends.arguments import ClaimParams

    return ClaimParams(
        worker_id="w", lease_token=token, limit=10, lease_seconds=30, executors=("x",)
    )


def test_manual_resume_closes_it(queue: QueueService, db_url: str) -> None:
    open_breaker(queue)
    job = queue.add_task(name="p", executor="broken", group="g")
    assert queue.resume_group("g") == 1
    assert breaker(queue) == (False, None, "closed")
    assert statuses(db_url)[job.id] == "waiting"
    # The failures that opened it came before it closed: they do not open it again.
    assert GroupWatch(queue.backend).step() == []


def test_clearing_an_open_breaker_resumes_the_group(queue: QueueService, db_url: str) -> None:
    open_breaker(queue)
    job = queue.add_task(name="p", executor="broken", group="g")
    assert queue.clear_group_breaker("g") == 1
    [info] = queue.list_groups()
    assert (info.paused, info.reason, info.until, info.breaker_state) == (False, None, None, None)
    assert info.breaker_threshold is None
    assert statuses(db_url)[job.id] == "waiting"
    assert GroupWatch(queue.backend).step() == []


def test_two_watchers_open_it_once(
    make_queue: Callable[[], QueueService],
    queue: QueueService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fail_some(queue, 4)
    queue.set_group_breaker("g", threshold=0.5, min_tasks=4, window=60, cooldown=COOLDOWN)
    caplog.set_level(logging.INFO, logger="stratix_queue.groups")
    for transition in ("open", "probe"):
        made = race([GroupWatch(make_queue().backend) for _ in range(3)])
        assert sorted(made, key=len) == [[], [], [("g", transition)]]
        time.sleep(COOLDOWN + 0.1)
    lines = [r.getMessage() for r in caplog.records if r.name == "stratix_queue.groups"]
    assert len(lines) == 2, lines


def race(watches: list[GroupWatch]) -> list[list[tuple[str, str]]]:
    """A step of each watch, all at once in threads; what each made."""
    start = threading.Barrier(len(watches))
    made: list[list[tuple[str, str]]] = []

    def run(watch: GroupWatch) -> None:
        start.wait()
        made.append(watch.step())

    threads = [threading.Thread(target=run, args=(watch,)) for watch in watches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return made
