"""Issue 3, tests 2-5: killed workers, fencing of a paused worker, long tasks kept alive by
heartbeats, and a poison pill that kills its own process. Real worker processes, short leases."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from stratix_queue import JobStatus, QueueService
from stratix_queue.urls import parse_url
from tests import dbs
from tests.reliability import app
from tests.reliability.harness import Run, Workers, no_overlap, wait_until

pytestmark = pytest.mark.slow

LEASE, HEARTBEAT, RESCUE = 1.0, 0.25, 0.25
TASK = 1.5  # seconds the killed and the paused worker's task takes: longer than the lease
FAST = (
    "--lease",
    str(LEASE),
    "--heartbeat",
    str(HEARTBEAT),
    "--rescue-interval",
    str(RESCUE),
    "--poll",
    "0.2",
)
LOST_LINE = "is no longer held by this worker"


def _starts(workers: Workers, task_id: int) -> list[Run]:
    runs = [r for r in workers.runs() if r.task_id == task_id and r.phase == "start"]
    return sorted(runs, key=lambda r: r.started)


def _success_rows(db_url: str, task_id: int) -> list[tuple[int]]:
    rows = dbs.query(db_url, "SELECT attempts FROM queue_success WHERE id = %s", [task_id])
    return [(int(row[0]),) for row in rows]


def _start_registered(
    queue: QueueService, workers: Workers, count: int, *args: str
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` single-process workers and wait until each is in the registry."""
    procs = [workers.start(*args) for _ in range(count)]

    def registered() -> bool:
        return {p.pid for p in procs} <= {w.pid for w in queue.list_workers()}

    assert wait_until(registered, 20), [workers.log(i) for i in range(len(procs))]
    return procs


def _open_transactions(db_url: str) -> set[object]:
    """Transactions open on the database right now, other than this connection's."""
    parsed = parse_url(db_url)
    if parsed.dialect == "sqlite":
        conn = sqlite3.connect(parsed.path, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return {"write lock"}
        finally:
            conn.close()
        return set()
    if parsed.dialect == "postgres":
        sql = (
            "SELECT pid, xact_start FROM pg_stat_activity WHERE datname = current_database() "
            "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
        )
    else:
        sql = (
            "SELECT trx_id FROM information_schema.innodb_trx "
            "WHERE trx_mysql_thread_id <> CONNECTION_ID()"
        )
    return set(dbs.query(db_url, sql))


def _pause(proc: subprocess.Popen[bytes], db_url: str) -> None:
    """SIGSTOP a worker, at a moment it holds no transaction open (else the worker that is meant
    to rescue its task would wait on its locks, which is not what this test is about)."""
    for _ in range(50):
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.1)
        before = _open_transactions(db_url)
        if not before:
            return
        time.sleep(0.2)
        if not before & _open_transactions(db_url):  # only others' short transactions
            return
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.03)
    pytest.fail("could not stop the worker outside a transaction")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_worker_task_is_rescued_and_completes_once(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    procs = _start_registered(queue, workers, 2, "--concurrency", "1", *FAST)
    job = queue.add_task(name="crash", executor="sleep", payload={"seconds": TASK}, max_attempts=3)
    assert wait_until(lambda: bool(_starts(workers, job.id)), 20), workers.log(0)
    time.sleep(0.2)  # a task that had only just begun (< 50 ms) would come back uncounted
    first = _starts(workers, job.id)[0]
    victim = next(p for p in procs if p.pid == first.pid)
    survivor = next(p for p in procs if p is not victim)
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.wait(5)

    # claimed again (so it was back to waiting) within lease + rescue interval + 5 s
    assert wait_until(lambda: len(_starts(workers, job.id)) >= 2, LEASE + RESCUE + 5, step=0.05)
    assert time.monotonic() - killed <= LEASE + RESCUE + 5
    first_run, rerun = _starts(workers, job.id)
    assert (first_run.attempt, rerun.attempt) == (1, 2)
    assert rerun.pid == survivor.pid

    assert wait_until(lambda: bool(_success_rows(db_url, job.id)), TASK + 10), workers.log(1)
    assert _success_rows(db_url, job.id) == [(2,)]
    assert workers.ends_by_task() == {job.id: 1}
    assert queue.get_task(job.id) is None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0
    errors = queue.get_task_errors(job.id)
    assert [(e.attempt, e.code) for e in errors] == [(1, "WORKER_LOST")]
    assert errors[0].worker_id is not None and f":{victim.pid}:" in errors[0].worker_id
    assert no_overlap(workers.runs())
    assert survivor.poll() is None


def test_a_paused_worker_that_lost_its_lease_changes_nothing(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    procs = _start_registered(queue, workers, 2, "--concurrency", "1", *FAST)
    job = queue.add_task(name="fence", executor="sleep", payload={"seconds": TASK}, max_attempts=3)
    assert wait_until(lambda: bool(_starts(workers, job.id)), 20), workers.log(0)
    # Stopped within its first 50 ms, the task would come back uncounted: wait for its start.
    assert wait_until(lambda: getattr(queue.get_task(job.id), "started_at", None) is not None, 5)
    holder = _starts(workers, job.id)[0].pid
    index = next(i for i, p in enumerate(procs) if p.pid == holder)
    paused, other = procs[index], procs[1 - index]
    # SIGSTOP stops the whole process, its heartbeat thread included: no renewal can happen.
    _pause(paused, db_url)

    # the other worker rescues the task and completes it
    assert wait_until(lambda: bool(_success_rows(db_url, job.id)), LEASE + RESCUE + TASK + 10), (
        workers.log(1 - index)
    )
    assert _success_rows(db_url, job.id) == [(2,)]
    first_run, rerun = _starts(workers, job.id)
    assert (first_run.pid, first_run.attempt) == (paused.pid, 1)
    assert (rerun.pid, rerun.attempt) == (other.pid, 2)
    errors = queue.get_task_errors(job.id)
    assert [(e.attempt, e.code) for e in errors] == [(1, "WORKER_LOST")]

    # the paused worker wakes up, its executor finishes, its late writes are fenced off
    os.kill(paused.pid, signal.SIGCONT)

    def paused_run_ended() -> bool:
        return any(
            r.pid == paused.pid and r.task_id == job.id and r.phase == "end" for r in workers.runs()
        )

    assert wait_until(paused_run_ended, 10), workers.log(index)
    assert wait_until(lambda: LOST_LINE in workers.log(index), 10), workers.log(index)
    lost = [line for line in workers.log(index).splitlines() if LOST_LINE in line]
    assert len(lost) == 1 and f"task {job.id} (" in lost[0]
    assert _success_rows(db_url, job.id) == [(2,)]
    assert queue.get_task(job.id) is None
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0
    assert [(e.attempt, e.code) for e in queue.get_task_errors(job.id)] == [(1, "WORKER_LOST")]
    assert workers.ends_by_task() == {job.id: 2}  # two executions ran, one outcome counted
    assert paused.poll() is None and other.poll() is None


def test_a_heartbeating_task_longer_than_its_lease_is_never_rescued(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    args = ("--lease", "1", "--heartbeat", "0.25", "--rescue-interval", "0.25", "--poll", "0.2")
    procs = _start_registered(queue, workers, 2, "--concurrency", "1", *args)
    job = queue.add_task(name="long", executor="sleep", payload={"seconds": 3.5}, max_attempts=3)
    assert wait_until(lambda: bool(_success_rows(db_url, job.id)), 3.5 + 15), workers.log(0)
    assert _success_rows(db_url, job.id) == [(1,)]
    (start,) = _starts(workers, job.id)
    assert start.attempt == 1
    assert workers.ends_by_task() == {job.id: 1}
    assert queue.get_task_errors(job.id) == []
    assert queue.get_task(job.id) is None
    for i in range(len(procs)):
        assert "lease expired" not in workers.log(i)
        assert "WORKER_LOST" not in workers.log(i)
    assert all(p.poll() is None for p in procs)


def test_poison_pill_fails_after_max_attempts_and_other_tasks_keep_flowing(
    queue: QueueService, db_url: str, workers: Workers
) -> None:
    supervisor = workers.start("--processes", "2", "--concurrency", "2", *FAST)
    # added through the application's QueueService: max_attempts=2 comes from its executor
    with app.queue.with_url(db_url) as producer:
        poison = producer.add_task(name="poison", executor="suicide")
    assert poison.max_attempts == 2

    def counts(first: int) -> list[int]:
        specs = [
            {"name": f"c{i}", "executor": "count", "max_attempts": 3}
            for i in range(first, first + 100)
        ]
        return [job.id for job in queue.add_tasks(specs)]

    count_ids = counts(0)
    assert wait_until(lambda: bool(_starts(workers, poison.id)), 20), workers.log()
    count_ids += counts(100)  # a second wave while a worker process lies dead

    def poison_failed() -> bool:
        stored = queue.get_task(poison.id)
        return stored is not None and stored.status is JobStatus.FAILED

    assert wait_until(poison_failed, 3 * (LEASE + RESCUE) + 20), workers.log()
    stored = queue.get_task(poison.id)
    assert stored is not None
    assert (stored.status, stored.error_code, stored.attempts) == (
        JobStatus.FAILED,
        "WORKER_LOST",
        2,
    )
    errors = queue.get_task_errors(poison.id)
    assert [(e.attempt, e.code) for e in errors] == [(1, "WORKER_LOST"), (2, "WORKER_LOST")]
    # Its first run died at once, before its start was written: it came back uncounted, marked
    # WORKER_LOST, and from then on ran alone with its start written first.
    suicides = _starts(workers, poison.id)
    assert [r.attempt for r in suicides] == [1, 1, 2]
    assert len({r.pid for r in suicides}) == 3

    def all_counted() -> bool:
        return dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == len(count_ids)

    assert wait_until(all_counted, 20), workers.log()
    succeeded = dict(dbs.query(db_url, "SELECT id, attempts FROM queue_success"))
    assert set(succeeded) == set(count_ids)
    # Each count task has exactly one 'end' from the attempt that was recorded. A count task
    # claimed in the same batch as the poison may also have ended in the process it killed
    # before its success was written (at-least-once); that run then left no trace in the tables.
    dead = {r.pid for r in suicides}
    runs = workers.runs()
    for task_id in count_ids:
        ends = [r for r in runs if r.task_id == task_id and r.phase == "end"]
        recorded = [r for r in ends if r.attempt == succeeded[task_id]]
        assert len(recorded) == 1, ends
        assert all(r.pid in dead for r in ends if r not in recorded), ends
    assert no_overlap([r for r in runs if r.pid not in dead])
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 1  # only the poison

    assert supervisor.poll() is None, workers.log()
    assert workers.log().count("exited with -9; restarting") == 3
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0, workers.log()
    children = {r.pid for r in runs} - dead

    def children_gone() -> bool:
        return not any(_alive(pid) for pid in children)

    assert wait_until(children_gone, 5)
