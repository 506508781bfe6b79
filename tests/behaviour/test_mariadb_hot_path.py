"""MariaDB's hot path: a claim, a batch of successes and a heartbeat are one round trip each
(a whole transaction sent at once with CLIENT.MULTI_STATEMENTS); an error part-way through
leaves nothing changed; the claim skips what earlier claims left in the index; successes and
heartbeats are fenced by each task's own (id, lease_token) pair."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from stratix_queue import DatabaseError, Job, QueueService, TransientDatabaseError
from stratix_queue.backends.arguments import ClaimParams
from tests import dbs
from tests.conftest import only

if TYPE_CHECKING:  # PyMySQL is imported where it is used: unit tests run without it
    from stratix_queue.backends.mariadb.driver import MariadbDriver

BATCH = 16


def _backend(queue: QueueService) -> MariadbDriver:
    from stratix_queue.backends.mariadb.driver import MariadbDriver

    backend = queue.backend
    assert isinstance(backend, MariadbDriver)
    return backend


def _bound(
    backend: MariadbDriver, names: Sequence[str], params: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The statements as the driver sends them in one round trip, and their values."""
    statements, values = [], {}
    for name in names:
        bound = backend._bind(name, params)
        assert bound is not None
        statements.append(bound[0])
        values.update(bound[1])
    return statements, values


def _claim(
    queue: QueueService, token: str, limit: int = BATCH, groups: tuple[str, ...] | None = None
) -> list[Job]:
    return queue.backend.claim(
        ClaimParams(
            worker_id="w",
            lease_token=token,
            limit=limit,
            lease_seconds=60.0,
            groups=groups,
            executors=("e",),
        )
    )


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command PyMySQL sends (one round trip each), as the text it sends."""
    import pymysql

    sent: list[str] = []
    original = getattr(pymysql.connections.Connection, "_execute_command")  # noqa: B009

    def counting(self: Any, command: int, sql: Any) -> Any:
        sent.append(sql.decode() if isinstance(sql, bytes) else str(sql))
        return original(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", counting)
    return sent


@only("mysql")
def test_claim_success_batch_and_heartbeat_are_one_round_trip_each(
    backend: str, queue: QueueService, db_url: str, round_trips: list[str]
) -> None:
    queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(40)])
    _claim(queue, "warm-up", limit=1)  # the pool has opened its connection
    round_trips.clear()

    jobs = _claim(queue, "tok", limit=BATCH)
    assert len(round_trips) == 1, round_trips
    assert len(jobs) == BATCH
    assert all(job.status.value == "executing" and job.lease_token == "tok" for job in jobs)

    round_trips.clear()
    assert queue.backend.heartbeat(60.0, [(job.id, "tok") for job in jobs]) == BATCH
    assert len(round_trips) == 1, round_trips

    round_trips.clear()
    moved = queue.backend.move_many_to_success([(job, 5) for job in jobs])
    assert len(round_trips) == 1, round_trips
    assert moved == {job.id for job in jobs}
    ids = ", ".join(str(job.id) for job in jobs)
    assert dbs.scalar(db_url, f"SELECT COUNT(*) FROM queue_success WHERE id IN ({ids})") == BATCH
    assert dbs.scalar(db_url, f"SELECT COUNT(*) FROM queue_jobs WHERE id IN ({ids})") == 0


@only("mysql")
def test_an_error_part_way_through_changes_nothing(backend: str, queue: QueueService) -> None:
    import pymysql

    from stratix_queue.backends.mariadb.driver import MysqlSession

    job = queue.add_task(name="n", executor="e")
    with _backend(queue).dedicated_session() as session:  # errors come out of it untranslated
        assert isinstance(session, MysqlSession)
        with pytest.raises(pymysql.Error, match="chk_queue_jobs_status"):
            session.run_together(
                [
                    f"UPDATE queue_jobs SET priority = 7 WHERE id = {job.id}",
                    f"UPDATE queue_jobs SET status = 'bogus' WHERE id = {job.id}",  # fails here
                    f"UPDATE queue_jobs SET priority = 8 WHERE id = {job.id}",
                ]
            )
        # the same connection is usable, outside any transaction, and nothing changed
        assert session.run("SELECT @@in_transaction AS open").rows == [{"open": 0}]
        assert session.run(f"SELECT priority FROM queue_jobs WHERE id = {job.id}").rows == [
            {"priority": 0}
        ]


@only("mysql")
def test_a_lock_wait_timeout_part_way_through_changes_nothing(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """MariaDB rolls back only the statement that timed out, not its transaction: the session
    rolls the rest back, and the backend reports a transient error."""
    import pymysql

    from stratix_queue.backends.mariadb.driver import MysqlSession

    first, second = queue.add_tasks([{"name": "a", "executor": "e"}] * 2)
    holder = dbs.connect(db_url)
    statements = [
        f"UPDATE queue_jobs SET priority = 7 WHERE id = {first.id}",
        f"UPDATE queue_jobs SET priority = 7 WHERE id = {second.id}",  # waits, then times out
    ]
    try:
        holder.begin()
        holder.cursor().execute(f"SELECT id FROM queue_jobs WHERE id = {second.id} FOR UPDATE")
        with _backend(queue)._session() as session:
            assert isinstance(session, MysqlSession)
            session.run("SET SESSION innodb_lock_wait_timeout = 1")
            with pytest.raises(pymysql.err.OperationalError) as raised:
                session.run_together(statements)
            assert session.run("SELECT @@in_transaction AS open").rows == [{"open": 0}]
        holder.rollback()
    finally:
        holder.close()
    assert isinstance(queue.backend.translate_error(raised.value), TransientDatabaseError)
    assert dbs.query(db_url, "SELECT priority FROM queue_jobs ORDER BY id") == [(0,), (0,)]


@only("mysql")
def test_a_pooled_connection_dropped_while_idle_is_replaced_before_a_claim(
    backend: str, queue: QueueService, db_url: str, round_trips: list[str]
) -> None:
    from stratix_queue.backends.mariadb.driver import MysqlSession

    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(3)])
    with _backend(queue)._session() as session:
        assert isinstance(session, MysqlSession)
        [row] = session.run("SELECT CONNECTION_ID() AS id").rows
        session.answered_at -= 60  # as if it had sat in the pool for a minute
    dbs.query(db_url, f"KILL CONNECTION {int(row['id'])}")  # e.g. wait_timeout, a restart
    round_trips.clear()
    assert len(_claim(queue, "after")) == 3  # no error: the dead connection was left out
    assert round_trips[0] == ""  # COM_PING, on the connection idle for "a minute": no answer
    claims = [sql for sql in round_trips if sql.startswith("BEGIN")]
    assert len(claims) == 1 and round_trips[-1] == claims[0]  # sent once, on a new connection


@only("mysql")
def test_the_claim_starts_at_the_head_of_the_queue(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """Claimed rows leave delete-marked entries at the start of the claim index until purge
    removes them; a locking scan would visit each one. The claim reads the head without locks
    and locks from there: a range scan that reads the batch and not much more."""
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(3000)])
    for i in range(100):
        assert len(_claim(queue, f"earlier-{i}")) == BATCH
    backend_ = _backend(queue)
    claim = backend_.claim_statements(ClaimParams("w", "t", BATCH, 60.0, None, ("e",)))
    (head, head_values), (pick, values) = claim[0], claim[1]
    assert "SKIP LOCKED" in pick and "SKIP LOCKED" not in head
    with backend_._session() as session:
        session.begin()
        session.run(head, head_values)
        [row] = session.run("ANALYZE FORMAT=JSON " + pick, values).rows
        session.rollback()
    plan = json.loads(next(iter(row.values())))
    [table] = [t for t in _tables(plan) if t.get("table_name") == "queue_jobs"]
    assert table["key"] == "idx_queue_jobs_claim", plan
    assert table["access_type"] == "range", plan
    assert table["r_rows"] <= BATCH, plan
    pages = table.get("r_engine_stats", {}).get("pages_accessed")
    assert pages is None or pages < 10 * BATCH, plan  # not one per claimed row before it


def _tables(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, dict):
        if isinstance(plan.get("table"), dict):
            yield plan["table"]
        for value in plan.values():
            yield from _tables(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _tables(value)


@only("mysql")
def test_a_task_runnable_ahead_of_the_head_is_claimed_first(
    backend: str, queue: QueueService, db_url: str
) -> None:
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(100)])
    for i in range(3):
        _claim(queue, f"earlier-{i}")  # the head has moved on
    urgent = queue.add_task(name="urgent", executor="e", priority=5)
    [claimed] = _claim(queue, "next", limit=1)
    assert claimed.id == urgent.id
    overdue = queue.add_task(name="overdue", executor="e", delay=3600)
    dbs.query(
        db_url,
        "UPDATE queue_jobs SET status = 'waiting', run_at = %s WHERE id = %s",
        (datetime.datetime(2000, 1, 1), overdue.id),
    )
    [claimed] = _claim(queue, "then", limit=1)
    assert claimed.id == overdue.id


@only("mysql")
def test_an_empty_queue_claims_nothing_and_forgets_the_last_head(
    backend: str, queue: QueueService
) -> None:
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(3)])
    assert len(_claim(queue, "all")) == 3
    assert _claim(queue, "none") == []
    low = queue.add_task(name="low", executor="e", priority=-5)  # sorts before the old head
    assert [job.id for job in _claim(queue, "low")] == [low.id]


@only("mysql")
def test_a_group_restricted_claim_reads_its_own_head(backend: str, queue: QueueService) -> None:
    queue.add_tasks(
        [{"name": "t", "executor": "e", "group": "abc"[i % 3]} for i in range(60)]
        + [{"name": "t", "executor": "e"} for _ in range(10)]
    )
    seen: set[int] = set()
    for i in range(10):
        jobs = _claim(queue, f"g{i}", limit=7, groups=("a", "c"))
        assert all(job.group in ("a", "c") for job in jobs)
        assert not seen & {job.id for job in jobs}
        seen |= {job.id for job in jobs}
    assert len(seen) == 40
    assert _claim(queue, "empty", groups=()) == []


@only("mysql")
def test_parallel_claims_never_share_a_task(
    backend: str, queue: QueueService, make_queue: Callable[[], QueueService]
) -> None:
    total = 1200
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(total)])
    claimed: list[list[int]] = [[] for _ in range(4)]

    def claimer(slot: int) -> None:
        other = make_queue()
        n = 0
        while jobs := _claim(other, f"c{slot}-{n}", limit=7):
            claimed[slot].extend(job.id for job in jobs)
            n += 1

    threads = [threading.Thread(target=claimer, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    ids = [job_id for ids in claimed for job_id in ids]
    assert len(ids) == len(set(ids)) == total


@only("mysql")
def test_successes_and_heartbeats_are_fenced_by_each_tasks_own_token(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """Two tasks held under two tokens, reported with the tokens swapped: the id and the token
    each belong to this worker, but not together, so nothing moves and nothing is renewed."""
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(2)])
    [first] = _claim(queue, "token-a", limit=1)
    [second] = _claim(queue, "token-b", limit=1)
    swapped = [
        (Job.from_row({**_row(db_url, first.id), "lease_token": "token-b"}), 1),
        (Job.from_row({**_row(db_url, second.id), "lease_token": "token-a"}), 1),
    ]
    assert queue.backend.heartbeat(60.0, [(first.id, "token-b"), (second.id, "token-a")]) == 0
    assert queue.backend.move_many_to_success(swapped) == set()
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 0
    assert queue.backend.move_many_to_success([(first, 1), (second, 1), (first, 1)]) == {
        first.id,
        second.id,
    }
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 2


def _row(db_url: str, job_id: int) -> dict[str, Any]:
    import pymysql.cursors

    conn = dbs.connect(db_url)
    try:
        cursor = conn.cursor(pymysql.cursors.DictCursor)
        cursor.execute("SELECT * FROM queue_jobs WHERE id = %s", (job_id,))
        row: dict[str, Any] = cursor.fetchone()
        return row
    finally:
        conn.close()


@only("mysql")
def test_batched_success_looks_rows_up_by_primary_key(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """Whatever else is executing, each statement of a batch of successes reads its rows by
    primary key (EXPLAIN on the statements as the backend sends them)."""
    queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(3000)])
    jobs = _claim(queue, "tok", limit=3000)
    batch = sorted(jobs, key=lambda job: job.id)[:50]
    backend_ = _backend(queue)
    statements, values = _bound(
        backend_,
        ("success_copy", "success_delete"),
        {
            "items": json.dumps([[job.id, job.lease_token, 1] for job in batch]),
            "pairs": [(job.id, job.lease_token) for job in batch],
        },
    )
    with backend_._session() as session:
        session.run("ANALYZE TABLE queue_jobs")
        plans = [
            json.dumps(session.run("EXPLAIN FORMAT=JSON " + sql, values).rows) for sql in statements
        ]
    for plan in plans:
        tables = list(_tables(json.loads(json.loads(plan)[0]["EXPLAIN"])))
        on_jobs = [t for t in tables if t.get("table_name") in ("j", "queue_jobs")]
        assert on_jobs and all(t["key"] == "PRIMARY" for t in on_jobs), plan
        assert all(t["access_type"] in ("eq_ref", "range") for t in on_jobs), plan


@only("mysql")
def test_a_batch_whose_delete_fails_moves_nothing(backend: str, fresh_url: str) -> None:
    """The INSERT into queue_success runs, then the DELETE fails: the whole batch rolls back."""
    with QueueService(fresh_url) as queue:
        queue.migrate()
        queue.add_tasks([{"name": "t", "executor": "e"} for _ in range(3)])
        jobs = _claim(queue, "tok")
        dbs.query(
            fresh_url,
            "CREATE TRIGGER refuse_delete BEFORE DELETE ON queue_jobs FOR EACH ROW "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
        )
        with pytest.raises(DatabaseError, match="refused"):
            queue.backend.move_many_to_success([(job, 1) for job in jobs])
        assert dbs.scalar(fresh_url, "SELECT COUNT(*) FROM queue_success") == 0
        assert dbs.query(fresh_url, "SELECT DISTINCT status FROM queue_jobs") == [("executing",)]
        dbs.query(fresh_url, "DROP TRIGGER refuse_delete")
        assert queue.backend.move_many_to_success([(job, 1) for job in jobs]) == {
            job.id for job in jobs
        }
