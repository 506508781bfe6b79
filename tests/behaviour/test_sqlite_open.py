"""Opening SQLite files: many connections opening one new file at once each switch it to WAL,
and the switch must wait for the others instead of failing with "database is locked"; a file
the backend creates gets its small page size, an existing one keeps its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stratix_queue import QueueService
from stratix_queue.backends.sqlite.driver import NEW_FILE_PAGE_SIZE
from tests.migrations.helpers import migrate_together

ROUNDS = 40
OPENERS = 4


def test_new_file_opened_by_many_at_once(tmp_path: Path) -> None:
    for round_no in range(ROUNDS):
        url = f"sqlite:///{tmp_path}/race{round_no}.db"
        migrate_together(url, workers=OPENERS)  # fails the test on any migrator's error
        with QueueService(url) as queue:
            assert queue.migration_status().pending == []


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_file_gets_the_small_page_size(tmp_path: Path) -> None:
    with QueueService(f"sqlite:///{tmp_path}/new.db") as queue:
        queue.migrate()
        queue.add_task(name="t", executor="e")
    assert NEW_FILE_PAGE_SIZE != 4096  # SQLite's default, which the next test keeps
    assert _page_size(tmp_path / "new.db") == NEW_FILE_PAGE_SIZE


def test_an_existing_file_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE app_data (x INTEGER)")  # the application's, before ours
    conn.close()
    with QueueService(f"sqlite:///{path}") as queue:
        queue.migrate()
        queue.add_task(name="t", executor="e")
        assert queue.count_by_status()["waiting"] == 1
    assert _page_size(path) == 4096
