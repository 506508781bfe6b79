"""Per-session limits on the database servers (issue 13, point 2): a statement that runs too long
is cancelled by the server, a lock wait fails before that, a session left idle inside a
transaction is ended (its locks released), and the migration runner's sessions have none."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.backends.session import Session
from stratix_queue.errors import DatabaseUnavailableError, TransientDatabaseError
from tests import dbs
from tests.conftest import only

SETTINGS = {
    "postgres": "SELECT current_setting('statement_timeout') AS statement_limit, "
    "current_setting('lock_timeout') AS lock_limit, "
    "current_setting('idle_in_transaction_session_timeout') AS idle_limit",
    "mysql": "SELECT @@max_statement_time AS statement_limit, "
    "@@innodb_lock_wait_timeout AS lock_limit, @@idle_transaction_timeout AS idle_limit",
}
SLEEP = {"postgres": "SELECT pg_sleep(3) AS slept", "mysql": "SELECT SLEEP(3) AS slept"}


def _settings(backend: str, session: Session) -> tuple[Any, ...]:
    row = session.run(SETTINGS[backend]).rows[0]
    return tuple(str(row[f"{key}_limit"]) for key in ("statement", "lock", "idle"))


@only("postgres", "mysql")
def test_sessions_carry_the_limits_and_migrations_have_none(backend: str, server_dbs: Any) -> None:
    with QueueService(server_dbs.migrated(backend), statement_timeout=4) as queue:
        with queue.backend._session() as session:
            limited = _settings(backend, session)
        with queue.backend.migration_session() as session:
            unlimited = _settings(backend, session)
    if backend == "postgres":
        assert limited == ("4s", "2s", "8s")
        assert unlimited == ("0", "0", "0")
    else:
        assert limited == ("4.0", "2", "8")
        assert unlimited == ("0.0", "100000000", "0")


@only("postgres", "mysql")
def test_a_statement_over_the_timeout_is_cancelled_by_the_server(
    backend: str, server_dbs: Any
) -> None:
    with QueueService(server_dbs.migrated(backend), statement_timeout=1) as queue:
        started = time.monotonic()
        with pytest.raises(TransientDatabaseError), queue.backend._session() as session:
            session.run(SLEEP[backend])
        assert time.monotonic() - started < 2.5  # the server's cancel, not the client's deadline
        assert queue.count_by_status()["waiting"] >= 0  # the connection is usable again


def _write_after_a_silence(queue: QueueService, job_id: int) -> None:
    """Begin, update the task, go silent for 3 s (its client between two statements), update."""
    update = "UPDATE queue_jobs SET priority = %(p)s WHERE id = %(id)s"
    with queue.backend.dedicated_session() as session:
        session.begin()
        session.run(update, {"p": 5, "id": job_id})
        time.sleep(3)
        session.run(update, {"p": 6, "id": job_id})


@only("postgres", "mysql")
def test_a_session_left_idle_in_a_transaction_is_ended_and_its_locks_released(
    backend: str, queue: QueueService, db_url: str
) -> None:
    job = queue.add_task(name="locked", executor="e")
    limited = QueueService(db_url, statement_timeout=1)  # idle in a transaction: 2 s at most
    try:
        with pytest.raises(DatabaseUnavailableError):
            _write_after_a_silence(limited, job.id)
    finally:
        limited.close()
    started = time.monotonic()
    dbs.query(db_url, "UPDATE queue_jobs SET priority = 7 WHERE id = %s", [job.id])  # no wait
    assert time.monotonic() - started < 1
    assert dbs.scalar(db_url, "SELECT priority FROM queue_jobs WHERE id = %s", [job.id]) == 7
