"""Many connections opening one new SQLite file at once: each switches it to WAL, and the
switch must wait for the others instead of failing with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

from stratix_queue import QueueService

ROUNDS = 40
OPENERS = 4


def _open_together(url: str) -> list[BaseException]:
    barrier = threading.Barrier(OPENERS)
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            with QueueService(url) as queue:
                barrier.wait(timeout=10)
                queue.migrate()
        except BaseException as exc:  # collected for the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_new_file_opened_by_many_at_once(tmp_path: Path) -> None:
    failed = []
    for round_no in range(ROUNDS):
        url = f"sqlite:///{tmp_path}/race{round_no}.db"
        failed += _open_together(url)
        with QueueService(url) as queue:
            assert queue.migration_status().pending == []
    assert failed == []
