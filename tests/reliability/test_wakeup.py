"""SQLite and MariaDB: an idle worker in another process is woken by its change watcher (SQLite's
PRAGMA data_version, the newest task id on MariaDB), not by its 30 s poll; it keeps watching after
its connection is killed. The PostgreSQL counterpart (NOTIFY) is in test_postgres.py."""

from __future__ import annotations

import time

import pytest

from stratix_queue import JobStatus, QueueService
from tests import dbs
from tests.conftest import only
from tests.reliability.harness import Workers, wait_until

pytestmark = pytest.mark.slow
WATCHING = "watching for new tasks"


def _idle_worker(workers: Workers, *options: str) -> None:
    workers.start("--concurrency", "1", "--poll", "30", *options)
    ready = WATCHING if "--no-listen" not in options else "started"
    assert wait_until(lambda: ready in workers.log(), 30), workers.log()
    time.sleep(0.5)  # past the first (empty) claim: the worker now sleeps on its 30 s poll


def _ran_within(queue: QueueService, seconds: float) -> tuple[bool, int]:
    job = queue.add_task(name="wake", executor="count")
    return wait_until(lambda: queue.get_task(job.id) is None, seconds, step=0.02), job.id


@only("sqlite", "mysql")
@pytest.mark.parametrize("listen", [True, False])
def test_a_new_task_wakes_an_idle_worker(
    queue: QueueService, workers: Workers, listen: bool
) -> None:
    _idle_worker(workers, *([] if listen else ["--no-listen"]))
    if listen:
        assert _ran_within(queue, 10)[0], workers.log()
    else:
        ran, job_id = _ran_within(queue, 3)
        assert not ran
        stored = queue.get_task(job_id)
        assert stored is not None and stored.status is JobStatus.WAITING


@only("mysql")
def test_the_watcher_comes_back_after_its_connection_is_killed(
    queue: QueueService, workers: Workers, db_url: str
) -> None:
    _idle_worker(workers)
    database = dbs.scalar(db_url, "SELECT DATABASE()")
    own = dbs.scalar(db_url, "SELECT CONNECTION_ID()")  # a connection of its own, not killed
    others = dbs.query(
        db_url,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
        (database,),
    )
    assert others and all(row[0] != own for row in others)
    for (connection_id,) in others:  # the worker's: the watcher's and its pool's
        dbs.query(db_url, f"KILL CONNECTION {int(connection_id)}")
    assert wait_until(lambda: "lost the database" in workers.log(), 10), workers.log()
    assert wait_until(lambda: workers.log().count(WATCHING) == 2, 10), workers.log()
    assert _ran_within(queue, 10)[0], workers.log()
