"""The supervisor of `stratix-queue worker --processes P`: shutdown during a restart, and
configuration errors that restarting cannot fix."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stratix_queue import QueueService, SchemaNotReadyError
from tests.conftest import only
from tests.reliability import app
from tests.reliability.harness import Workers, wait_until

pytestmark = pytest.mark.slow


@only("sqlite")
def test_sigterm_while_a_child_restart_is_pending_stops_everything(
    db_url: str, workers: Workers
) -> None:
    producer = app.queue.with_url(db_url)  # knows the poison executor's max_attempts
    producer.add_task(name="poison", executor="suicide")
    proc = workers.start(
        "--processes",
        "2",
        "--concurrency",
        "1",
        "--lease",
        "2",
        "--heartbeat",
        "0.5",
        "--poll",
        "0.2",
    )
    assert wait_until(lambda: "restarting in" in workers.log(), 60), workers.log()
    proc.send_signal(signal.SIGTERM)  # during the restart backoff
    assert proc.wait(20) == 0, workers.log()
    assert "started worker process" in workers.log()
    producer.close()


def test_an_unmigrated_database_fails_fast_instead_of_restarting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratix_queue",
            "--url",
            url,
            "worker",
            "--app",
            "tests.reliability.app:queue",
            "--processes",
            "2",
            "--burst",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1, done.stderr
    assert "migrate" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never-migrated.db").exists()  # and nothing was created


@only("sqlite")
def test_bad_worker_options_fail_fast_with_processes(db_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratix_queue",
            "--url",
            db_url,
            "worker",
            "--app",
            "tests.reliability.app:queue",
            "--processes",
            "2",
            "--lease",
            "1",
            "--heartbeat",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1, done.stderr
    assert "heartbeat" in done.stderr and "Traceback" not in done.stderr


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with QueueService(f"sqlite:///{path}") as queue:
        assert queue.migration_status().current == 0
        with pytest.raises(SchemaNotReadyError, match="does not exist yet"):
            queue.count_by_status()
    assert not path.exists()
