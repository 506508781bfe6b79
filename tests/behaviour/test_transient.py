"""Deadlocks, lock wait timeouts and a busy SQLite file are retried inside the backend."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService, TransientDatabaseError
from stratix_queue.backends.session import Session
from tests.conftest import only


@only("mysql")
@pytest.mark.parametrize("code", [1213, 1205])
def test_mariadb_deadlock_and_lock_wait_timeout_are_transient(
    queue: QueueService, code: int
) -> None:
    import pymysql

    error = pymysql.err.OperationalError(code, "Deadlock found when trying to get lock")
    assert isinstance(queue.backend.translate_error(error), TransientDatabaseError)


def test_a_transient_failure_is_retried_and_then_commits(queue: QueueService) -> None:
    job = queue.add_task(name="n", executor="e")
    calls: list[int] = []
    sql = "UPDATE queue_jobs SET priority = priority + 1 WHERE id = " + queue.backend.placeholder(
        "id"
    )

    def body(session: Session) -> int:
        calls.append(1)
        session.run(sql, {"id": job.id})
        if len(calls) < 3:  # as a deadlock victim would: this transaction is rolled back
            raise TransientDatabaseError("deadlock (simulated victim)")
        return len(calls)

    assert queue.backend._transaction(body) == 3
    stored = queue.get_task(job.id)
    assert stored is not None and stored.priority == 1  # the two failed tries rolled back


def test_a_transient_failure_that_persists_is_raised(queue: QueueService) -> None:
    def body(session: Session) -> None:
        raise TransientDatabaseError("always")

    with pytest.raises(TransientDatabaseError):
        queue.backend._transaction(body)
