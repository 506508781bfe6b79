"""Issue 3, test 8, on both servers: connections killed mid-drain lose nothing. A kill can land
between the statements of a claim or of a batch of successes (the server rolls the transaction
back) or after their COMMIT with the reply lost (the claim is released by its lease token, the
success batch is found already done)."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.reliability.harness import Workers, no_overlap, wait_until

pytestmark = pytest.mark.slow


def _kill_other_connections(backend: str, url: str) -> int:
    if backend == "postgres":
        rows = dbs.query(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        return len(rows)
    rows = dbs.query(
        url,
        "SELECT id FROM information_schema.processlist "
        "WHERE db = DATABASE() AND id <> CONNECTION_ID()",
    )
    for (connection_id,) in rows:
        try:
            dbs.query(url, f"KILL CONNECTION {int(connection_id)}")
        except Exception as exc:  # it may have gone by itself meanwhile
            if "Unknown thread id" not in str(exc):
                raise
    return len(rows)


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_connections_killed_mid_drain_lose_nothing(
    backend: str, queue: QueueService, db_url: str, workers: Workers
) -> None:
    tasks = 2000
    # Tasks of 5 ms and a small prefetch: the drain lasts seconds, so the kills land mid-drain.
    jobs = queue.add_tasks(
        [
            {"name": f"t{i}", "executor": "sleep", "payload": {"seconds": 0.005}}
            for i in range(tasks)
        ]
    )
    proc = workers.start(
        "--processes", "2", "--concurrency", "4", "--prefetch", "8", "--burst", "--lease", "5",
        "--poll", "0.2",
    )  # fmt: skip
    killed = 0
    for threshold in (400, 1000, 1600):
        assert wait_until(lambda t=threshold: len(workers.ends_by_task()) >= t, 60), workers.log()
        killed += _kill_other_connections(backend, db_url)
    assert killed >= 2
    assert proc.wait(240) == 0, workers.log()
    # A claim whose reply died with its connection is released by the worker that made it
    # (by its lease token) once the database is back: nothing is left behind or failed.
    assert dbs.query(db_url, "SELECT status, COUNT(*) FROM queue_jobs GROUP BY status") == []
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == tasks
    assert set(workers.ends_by_task()) == {job.id for job in jobs}
    assert no_overlap(workers.runs())
    assert "reaches the database again" in workers.log(0) or "retrying" in workers.log(0)
