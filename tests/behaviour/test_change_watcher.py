"""The change watcher (SQLite, MariaDB) wakes its worker when a task is added elsewhere, and reads
nothing while the worker is not hungry (its last claim got all it asked for)."""

from __future__ import annotations

import threading
import time

import pytest

from stratix_queue import QueueService
from stratix_queue.backends.base import SqlBackend
from stratix_queue.listener import ChangeWatcher
from tests.conftest import only

QUIET = 0.3  # many watch intervals (5 and 10 ms)


def _started(queue: QueueService, caplog: pytest.LogCaptureFixture) -> ChangeWatcher:
    assert isinstance(queue.backend, SqlBackend)
    wakeup, hungry = threading.Event(), threading.Event()
    watcher = ChangeWatcher(queue.backend, wakeup, hungry)
    with caplog.at_level("INFO", logger="stratix_queue.worker"):
        watcher.start()
        deadline = time.monotonic() + 10
        while "watching for new tasks" not in caplog.text:  # it has read its first marker
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.01)
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
        assert watcher.wakeup.wait(5)  # the next read sees the task
        watcher.wakeup.clear()
        assert not watcher.wakeup.wait(QUIET)  # nothing new since
        queue.add_task(name="t2", executor="e")
        assert watcher.wakeup.wait(5)
    finally:
        watcher.stop()
