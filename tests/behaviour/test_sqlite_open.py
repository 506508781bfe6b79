"""Many connections opening one new SQLite file at once: each switches it to WAL, and the
switch must wait for the others instead of failing with "database is locked"."""

from __future__ import annotations

from pathlib import Path

from stratix_queue import QueueService
from tests.migrations.helpers import migrate_together

ROUNDS = 40
OPENERS = 4


def test_new_file_opened_by_many_at_once(tmp_path: Path) -> None:
    for round_no in range(ROUNDS):
        url = f"sqlite:///{tmp_path}/race{round_no}.db"
        migrate_together(url, workers=OPENERS)  # fails the test on any migrator's error
        with QueueService(url) as queue:
            assert queue.migration_status().pending == []
