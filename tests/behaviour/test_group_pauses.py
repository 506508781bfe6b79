"""Pausing a group with a reason and an end: list_groups shows them, maintenance resumes the
group once the end passes (once, however many workers look), and bad ends write nothing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stratix_queue import QueueService
from stratix_queue.errors import InvalidInputError
from stratix_queue.group_watch import GroupWatch
from tests import dbs


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def group_row(url: str, group: str) -> tuple[object, ...] | None:
    rows = dbs.query(
        url,
        "SELECT status, pause_reason, paused_until FROM queue_groups WHERE group_name = %s",
        [group],
    )
    return rows[0] if rows else None


def test_pause_until_is_listed_and_resumes_by_itself(queue: QueueService, db_url: str) -> None:
    ids = [queue.add_task(name=f"r{i}", executor="e", group="reports").id for i in range(2)]
    later = queue.add_task(name="later", executor="e", group="reports", delay=3600).id
    before = datetime.now(UTC)
    assert queue.pause_group("reports", until=0.6, reason="upstream down") == 3

    [info] = queue.list_groups()
    assert (info.name, info.paused, info.reason) == ("reports", True, "upstream down")
    assert info.until is not None
    assert before < info.until < before + timedelta(seconds=5)
    assert info.counts["paused"] == 3

    watch = GroupWatch(queue.backend)
    assert watch.step() == []  # not yet
    assert queue.list_groups()[0].paused
    time.sleep(0.7)
    assert watch.step() == [("reports", "resume_due")]
    [info] = queue.list_groups()
    assert (info.paused, info.reason, info.until) == (False, None, None)
    assert [queue.get_task(i).status.value for i in [*ids, later]] == [  # type: ignore[union-attr]
        "waiting",
        "waiting",
        "delayed",
    ]
    assert watch.step() == []


def test_until_forms(queue: QueueService) -> None:
    hour = datetime.now(UTC) + timedelta(hours=1)
    forms: list[object] = [
        "30m",
        timedelta(minutes=5),
        120,
        hour,
        hour.replace(tzinfo=None),  # naive: UTC
        hour.astimezone(timezone(timedelta(hours=-5))),
        hour.isoformat(),
    ]
    for until in forms:
        queue.pause_group("g", until=until)  # type: ignore[arg-type]
        [info] = queue.list_groups()
        assert info.until is not None
        ahead = info.until - datetime.now(UTC)
        assert timedelta(minutes=1) < ahead < timedelta(hours=1, minutes=1), until
    queue.pause_group("g", until=hour)
    stored = queue.list_groups()[0].until
    assert stored is not None
    assert abs(stored - hour) < timedelta(milliseconds=1)  # the time given, as given (SQLite: ms)


def test_bad_until_writes_nothing(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="r", executor="e", group="reports")
    forms: list[object] = [
        -5,
        0,
        "garbage",
        "-1m",
        datetime.now(UTC) - timedelta(minutes=1),
        "2001-01-01T00:00:00",
        "2200-01-01T00:00:00",
        float("nan"),
        True,
        [1],
    ]
    for until in forms:
        with pytest.raises(InvalidInputError, match="until"):
            queue.pause_group("reports", until=until)  # type: ignore[arg-type]
    assert group_row(db_url, "reports") is None
    assert queue.get_task(job.id).status.value == "waiting"  # type: ignore[union-attr]


def test_plain_pause_keeps_reason_and_resume_clears(queue: QueueService, db_url: str) -> None:
    queue.pause_group("g", reason="maintenance window")
    assert group_row(db_url, "g") == ("paused", "maintenance window", None)
    time.sleep(0.05)
    assert GroupWatch(queue.backend).step() == []  # no end: stays paused
    queue.pause_group("g", until="1h", reason="longer")
    queue.resume_group("g")
    assert group_row(db_url, "g") == ("active", None, None)
    assert queue.list_groups() == []  # no task, no pause, no setting: not listed


def test_two_watchers_resume_once(
    make_queue: Callable[[], QueueService], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make_queue(), make_queue()
    for i in range(5):
        first.add_task(name=f"t{i}", executor="e", group="g")
    first.pause_group("g", until=0.3)
    time.sleep(0.4)
    watches = [GroupWatch(first.backend), GroupWatch(second.backend)]
    start = threading.Barrier(2)
    made: list[list[tuple[str, str]]] = [[], []]

    def run(index: int) -> None:
        start.wait()
        made[index] = watches[index].step()

    caplog.set_level(logging.INFO, logger="stratix_queue.groups")
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(made, key=len) == [[], [("g", "resume_due")]]
    assert [r.getMessage() for r in caplog.records if r.name == "stratix_queue.groups"] == [
        "group g resumed: its timed pause is over"
    ]
    assert first.count_by_status()["waiting"] == 5


def test_a_worker_resumes_a_timed_pause_and_runs_the_tasks(queue: QueueService) -> None:
    ran: list[int] = []
    queue.register_executor("e", lambda payload, job: ran.append(job.id))
    ids = [queue.add_task(name=f"t{i}", executor="e", group="g").id for i in range(3)]
    queue.pause_group("g", until=1)
    started = time.monotonic()
    thread = threading.Thread(
        target=lambda: queue.run_worker(concurrency=2, poll_interval=0.05), daemon=True
    )
    thread.start()
    try:
        time.sleep(0.5)
        assert ran == []  # paused
        wait_for(lambda: len(ran) == 3)
        assert time.monotonic() - started >= 0.9
        assert sorted(ran) == ids
        wait_for(lambda: queue.list_groups() == [])  # resumed, no task left: not listed
    finally:
        queue.stop_workers()
        thread.join(30)
