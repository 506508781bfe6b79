"""The change watcher (SQLite, MariaDB) wakes its worker when a task becomes claimable elsewhere,
and reads nothing while the worker is not hungry (its last claim got all it asked for)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stratix_queue import QueueService, listener
from stratix_queue.listener import ChangeWatcher, grew
from tests import dbs
from tests.conftest import only

QUIET = 0.3  # many watch intervals (5 and 10 ms)
SOON = 5.0


def _started(queue: QueueService, caplog: pytest.LogCaptureFixture) -> ChangeWatcher:
    """A watcher that has read its first marker; the worker is not hungry yet."""
    watcher = ChangeWatcher(queue.backend, threading.Event(), threading.Event())
    with caplog.at_level("INFO", logger="stratix_queue.worker"):
        watcher.start()
        deadline = time.monotonic() + 10
        while "watching for new tasks" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.01)
    assert watcher.wakeup.wait(SOON)  # once connected: one claim for what came meanwhile
    watcher.wakeup.clear()
    return watcher


@only("sqlite", "mysql")
def test_a_new_task_wakes_only_a_hungry_worker(
    backend: str, queue: QueueService, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = _started(queue, caplog)
    try:
        queue.add_task(name="t1", executor="e")  # on a pooled connection, not the watcher's
        assert not watcher.wakeup.wait(QUIET)  # the worker is busy: not read, not woken
        watcher.hungry.set()
        assert watcher.wakeup.wait(SOON)  # the next read sees the task
        watcher.wakeup.clear()
        assert not watcher.wakeup.wait(QUIET)  # nothing new since
        queue.add_task(name="t2", executor="e")
        assert watcher.wakeup.wait(SOON)
    finally:
        watcher.stop()


@only("mysql")
def test_tasks_claimable_without_a_newer_id_wake_a_hungry_worker(
    backend: str, queue: QueueService, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An insert that commits after a newer one, and a delayed task promoted by someone else,
    leave the newest id where it was: the count of waiting tasks tells."""
    queue.add_task(name="later", executor="e", delay=0.3)
    watcher = _started(queue, caplog)
    watcher.hungry.set()
    conn = dbs.connect(db_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "INSERT INTO queue_jobs (job_name, executor, payload) VALUES ('old', 'e', '{}')"
            )
            queue.add_task(name="new", executor="e")  # a higher id, committed first
            assert watcher.wakeup.wait(SOON)
            watcher.wakeup.clear()
            assert not watcher.wakeup.wait(QUIET)
            cursor.execute("COMMIT")  # the lower id: MAX(id) does not move
        assert watcher.wakeup.wait(SOON)
        watcher.wakeup.clear()
        time.sleep(0.3)
        assert queue.backend.promote_due() == 1  # as another worker would
        assert watcher.wakeup.wait(SOON)
    finally:
        conn.close()
        watcher.stop()


def test_a_marker_grew_when_any_counter_went_up() -> None:
    assert grew({"marker": 3}, {"marker": 4})
    assert not grew({"marker": 4}, {"marker": 4})
    assert grew({"newest": None, "waiting": 0}, {"newest": 1, "waiting": 1})  # a first task
    assert grew({"newest": 9, "waiting": 2}, {"newest": 9, "waiting": 3})
    assert not grew({"newest": 9, "waiting": 3}, {"newest": 8, "waiting": 2})  # tasks left
    assert not grew({"newest": 9, "waiting": 0}, {"newest": None, "waiting": 0})  # table emptied


@only("sqlite")
def test_a_failing_watcher_logs_it_and_watches_again(
    backend: str,
    queue: QueueService,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any error, not only a lost connection, is logged and followed by a new connection after
    a short pause, which then starts from the shortest pause again."""
    monkeypatch.setattr(listener, "RECONNECT_FIRST", 0.05)
    failures = [RuntimeError("a bug in the watcher")]

    def grew_once_failing(before: dict[str, Any], after: dict[str, Any]) -> bool:
        if failures:
            raise failures.pop()
        return grew(before, after)

    monkeypatch.setattr(listener, "grew", grew_once_failing)
    watcher = _started(queue, caplog)
    try:
        with caplog.at_level("INFO", logger="stratix_queue.worker"):
            watcher.hungry.set()
            queue.add_task(name="t", executor="e")
            deadline = time.monotonic() + 10
            while caplog.text.count("watching for new tasks") < 2:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.01)
        assert "stratix-queue-watch failed; polling until it is back" in caplog.text
        assert "a bug in the watcher" in caplog.text  # with its traceback
        assert watcher._delay == listener.RECONNECT_FIRST  # reset once watching again
        assert watcher.wakeup.wait(SOON)
    finally:
        watcher.stop()
