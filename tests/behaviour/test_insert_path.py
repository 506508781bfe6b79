"""The insert path (issue 5): the Job that add_task / add_tasks return is the row get_task reads
back, field by field; a batch is all-or-nothing and keeps its order; one task on a warm
connection is one statement (no BEGIN/COMMIT); a stale pooled connection is still retried; a
waiting task wakes listening PostgreSQL workers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stratix_queue import DatabaseError, Job, JobStatus, QueueService
from stratix_queue.backends import insert_path
from stratix_queue.backends import session as session_module
from stratix_queue.backends.session import Session
from tests import dbs
from tests.conftest import only

TOKYO = timezone(timedelta(hours=9))


def _specs() -> list[dict[str, Any]]:
    """One task of each kind the database decides something about."""
    return [
        {"name": "plain", "executor": "e"},
        {"name": "payload", "executor": "e", "payload": {"text": '数据 ünï 😀 \\ " \x00 é'}},
        {"name": "surrogate", "executor": "e", "payload": ["caf\udce9"]},
        {"name": "delayed", "executor": "e", "delay": 90.5, "priority": -7},
        {"name": "run_at", "executor": "e", "run_at": datetime(2031, 5, 6, 7, 8, 9, 123456, TOKYO)},
        {"name": "past", "executor": "e", "run_at": datetime(2020, 1, 1, tzinfo=UTC)},
        {"name": "timeout", "executor": "e", "timeout": 2.75, "max_attempts": 4},
        {"name": "tiny timeout", "executor": "e", "timeout": 1e-05},
        {"name": "paused", "executor": "e", "group": "Frozen 组"},
        {"name": "paused later", "executor": "e", "group": "Frozen 组", "delay": 30},
        {"name": "case", "executor": "e", "group": "frozen 组"},  # another group: not paused
        {"name": "grouped", "executor": "e", "group": "reports", "priority": 2**31 - 1},
    ]


def _expected_status(spec: dict[str, Any]) -> JobStatus:
    if spec.get("group") == "Frozen 组":
        return JobStatus.PAUSED
    if spec.get("delay") or spec.get("run_at"):  # a run_at in the past too, until promoted
        return JobStatus.DELAYED
    return JobStatus.WAITING


def _same_as_stored(queue: QueueService, jobs: list[Job]) -> None:
    for job in jobs:
        stored = queue.get_task(job.id)
        assert stored is not None, job
        for field in dataclasses.fields(Job):
            assert getattr(job, field.name) == getattr(stored, field.name), (
                job.name,
                field.name,
                getattr(job, field.name),
                getattr(stored, field.name),
            )
        assert job == stored


def test_add_task_returns_what_get_task_reads(queue: QueueService) -> None:
    queue.pause_group("Frozen 组")
    jobs = [queue.add_task(**spec) for spec in _specs()]
    assert [job.status for job in jobs] == [_expected_status(spec) for spec in _specs()]
    _same_as_stored(queue, jobs)
    assert jobs[1].payload == {"text": '数据 ünï 😀 \\ " \x00 é'}
    assert jobs[2].payload == ["caf\udce9"]
    assert jobs[4].run_at is not None and jobs[4].run_at.tzinfo is not None
    assert jobs[6].timeout == 2.75 and jobs[7].timeout == 1e-05


def test_add_tasks_returns_what_get_task_reads(queue: QueueService) -> None:
    queue.pause_group("Frozen 组")
    specs = _specs() * 3
    jobs = queue.add_tasks(specs)
    assert [job.name for job in jobs] == [spec["name"] for spec in specs]
    assert [job.status for job in jobs] == [_expected_status(spec) for spec in specs]
    ids = [job.id for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    _same_as_stored(queue, jobs)


def test_the_database_clock_decides_the_times(queue: QueueService) -> None:
    [now, later] = queue.add_tasks(
        [{"name": "a", "executor": "e"}, {"name": "b", "executor": "e", "delay": 60}]
    )
    single = queue.add_task(name="c", executor="e", delay=60)
    for job in (now, later, single):
        assert job.created_at is not None and job.created_at == job.updated_at
    assert now.run_at == now.created_at
    for job in (later, single):
        assert job.run_at is not None and job.created_at is not None
        assert timedelta(seconds=59.9) <= job.run_at - job.created_at <= timedelta(seconds=60.1)


def test_a_failing_chunk_rolls_the_whole_batch_back(
    queue: QueueService, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,200 tasks are three statements in one transaction: the third fails, nothing stays."""
    backend = queue.backend
    original = backend._insert_statement
    calls = []

    def third_breaks(chunk: Any) -> tuple[str, dict[str, Any]]:
        sql, params = original(chunk)
        calls.append(len(chunk))
        return (
            (sql.replace("queue_jobs", "no_such_table"), params)
            if len(calls) == 3
            else (sql, params)
        )

    monkeypatch.setattr(backend, "_insert_statement", third_breaks)
    with pytest.raises(DatabaseError):
        queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(1200)])
    assert calls == [500, 500, 200]
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0
    monkeypatch.undo()
    assert len(queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(1200)])) == 1200


def test_a_failing_single_statement_writes_nothing(
    queue: QueueService, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue.add_task(name="warm", executor="e")  # the next insert runs in autocommit
    backend = queue.backend
    original = backend._insert_statement

    def broken(chunk: Any) -> tuple[str, dict[str, Any]]:
        sql, params = original(chunk)
        return sql.replace("'waiting'", "'not-a-status'"), params  # violates the CHECK

    monkeypatch.setattr(backend, "_insert_statement", broken)
    with pytest.raises(DatabaseError):
        queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(300)])
    with pytest.raises(DatabaseError):
        queue.add_task(name="one", executor="e")
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 1


@pytest.fixture
def statements(queue: QueueService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement and transaction control call the queue's sessions make."""
    seen: list[str] = []
    queue.add_task(name="warm", executor="e")
    session = _pooled_session(queue)
    kind = type(session)
    for method in ("begin", "commit"):
        original = getattr(kind, method)

        def spy(
            self: Session, _name: str = method, _original: Callable[..., Any] = original
        ) -> Any:
            seen.append(_name.upper())
            return _original(self)

        monkeypatch.setattr(kind, method, spy)
    original_run = kind.run

    def run(self: Session, sql: str, params: Any = None) -> Any:
        seen.append(sql.split()[0].upper())
        return original_run(self, sql, params)

    monkeypatch.setattr(kind, "run", run)
    if kind.rows is not Session.rows:  # a session's own rows() does not go through run()
        original_rows = kind.rows

        def rows(self: Session, sql: str, params: Any = None) -> Any:
            seen.append(sql.split()[0].upper())
            return original_rows(self, sql, params)

        monkeypatch.setattr(kind, "rows", rows)
    return seen


def _pooled_session(queue: QueueService) -> Session:
    with queue.backend._session() as session:
        assert isinstance(session, Session)
        return session


def test_one_task_on_a_warm_connection_is_one_statement(
    queue: QueueService, statements: list[str]
) -> None:
    queue.add_task(name="a", executor="e")
    queue.add_tasks([{"name": f"b{i}", "executor": "e"} for i in range(500)])
    assert len(statements) == 2 and "BEGIN" not in statements, statements


def test_a_connection_idle_for_a_while_inserts_in_a_transaction(
    backend: str, queue: QueueService, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "FRESH_SECONDS", 0.0)
    time.sleep(0.01)
    queue.add_task(name="a", executor="e")
    if backend == "sqlite":  # a file's connection cannot go stale: always the one statement
        assert len(statements) == 1 and statements[0].startswith("INSERT"), statements
    else:
        assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
    del statements[:]
    queue.add_tasks([{"name": f"b{i}", "executor": "e"} for i in range(501)])  # two chunks
    assert len(statements) == 4, statements
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements


def _kill_pooled_connection(queue: QueueService, db_url: str) -> None:
    with queue.backend._session() as session:
        if queue.backend.dialect == "postgres":
            pid = session.run("SELECT pg_backend_pid() AS pid").rows[0]["pid"]
            dbs.query(db_url, "SELECT pg_terminate_backend(%s)", [pid])
        else:
            cid = session.run("SELECT CONNECTION_ID() AS cid").rows[0]["cid"]
            dbs.query(db_url, f"KILL CONNECTION {int(cid)}")
    time.sleep(0.2)


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_a_stale_pooled_connection_is_replaced_once_it_has_been_idle(
    backend: str, queue: QueueService, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As before: the first statement on a connection idle for longer than FRESH_SECONDS is a
    BEGIN, which meets a dead connection before the insert is sent and is retried."""
    queue.add_task(name="before", executor="e")
    _kill_pooled_connection(queue, db_url)
    monkeypatch.setattr(session_module, "FRESH_SECONDS", 0.0)
    job = queue.add_task(name="after", executor="e")
    assert queue.get_task(job.id) == job
    _kill_pooled_connection(queue, db_url)
    jobs = queue.add_tasks([{"name": f"b{i}", "executor": "e"} for i in range(3)])
    names = [row[0] for row in dbs.query(db_url, "SELECT job_name FROM queue_jobs ORDER BY id")]
    assert names == ["before", "after", "b0", "b1", "b2"]
    assert [queue.get_task(job.id) for job in jobs] == jobs


def _listen(db_url: str) -> Any:
    conn = dbs.connect(db_url)
    conn.execute("LISTEN stratix_queue")
    return conn


def _notified(conn: Any, seconds: float) -> int:
    """Notifications received: up to ``seconds`` are waited for the first, then 0.5 s more for
    any other (those of one transaction are all delivered at its commit)."""
    first = list(conn.notifies(timeout=seconds, stop_after=1))  # more if they came together
    return len(first) + len(list(conn.notifies(timeout=0.5))) if first else 0


@only("postgres")
def test_a_waiting_task_notifies_listeners_and_a_delayed_one_does_not(
    backend: str, queue: QueueService, db_url: str
) -> None:
    queue.add_task(name="warm", executor="e", delay=60)
    listener = _listen(db_url)
    try:
        queue.add_task(name="later", executor="e", delay=60)
        queue.add_tasks([{"name": "later", "executor": "e", "delay": 60}] * 3)
        assert _notified(listener, 0.5) == 0
        queue.add_task(name="now", executor="e")
        assert _notified(listener, 2) == 1
        queue.add_tasks(
            [{"name": "later", "executor": "e", "delay": 60}, {"name": "now", "executor": "e"}]
        )
        assert _notified(listener, 2) == 1
        queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(1200)])  # 3 statements
        assert _notified(listener, 2) == 1  # one notification, at commit
    finally:
        listener.close()


def test_large_payloads_in_a_batch_are_statements_of_their_own(
    queue: QueueService, statements: list[str]
) -> None:
    big = {"blob": "x" * (insert_path.ALONE_PAYLOAD_CHARS + 1), "text": '数据 " \\'}
    specs = [
        {"name": "small-1", "executor": "e"},
        {"name": "big-1", "executor": "e", "payload": big},
        {"name": "small-2", "executor": "e", "payload": {"n": 2}},
        {"name": "small-3", "executor": "e", "delay": 5},
        {"name": "big-2", "executor": "e", "payload": big, "group": "g"},
    ]
    jobs = queue.add_tasks(specs)
    assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1, statements
    assert len(statements) == 2 + 4, statements  # small-1 | big-1 | small-2, small-3 | big-2
    assert [job.name for job in jobs] == [spec["name"] for spec in specs]
    assert [job.id for job in jobs] == sorted(job.id for job in jobs)
    assert jobs[1].payload == big and jobs[4].payload == big
    _same_as_stored(queue, jobs)
