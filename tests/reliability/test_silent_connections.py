"""Issue 13, point 2: a proxy between the workers and the database freezes every open connection
(they stop carrying data and stay open; new connections work), cuts them, or refuses new ones.
The workers notice within the watchdog's bound, reconnect and carry on: every task ends in
queue_success exactly once, no task runs twice at the same time, the outage is logged once and
its end once per process, and SIGTERM still ends the workers within the grace period."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.reliability.harness import Workers, no_overlap, wait_until
from tests.reliability.proxy import Proxy

pytestmark = pytest.mark.slow
LEASE = 10.0
# A worker gives a silent connection up after 3 s here (its statement limit, a quarter of its
# lease but at least 1 s, plus 2 s of grace) and the watchdog's tick; the 1,200 tasks of 50 ms
# take ~7.5 s on 2 x 4 slots, so ~900 are left when the freeze comes after 300: ~5.5 s of work
# that can only be claimed once the workers have given the frozen connections up. Bound: the
# drain, the detection and generous slack for this 2-core machine.
FROZEN_TASKS = 1200
DRAIN_BOUND_S = 90.0
GRACE = 3.0
SHORT_LEASE = 5.0  # the SIGTERM test waits for the leases to end, for the rescue
EXIT_BOUND_S = GRACE + 6.0  # grace + the worker's hard exit (5 s) + a second of slack
UNEXPIRED = {  # a lease not yet over: the rescue's condition (locked_until < now), negated
    "postgres": "locked_until >= timezone('UTC', now())",
    "mysql": "locked_until >= UTC_TIMESTAMP(6)",
}


@pytest.fixture
def proxy(db_url: str) -> Iterator[Proxy]:
    between = Proxy(db_url)
    yield between
    between.close()


@pytest.fixture
def proxied(proxy: Proxy, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(proxy.url, tmp_path)
    yield group
    group.stop_all()


def _sleepers(queue: QueueService, count: int, max_attempts: int = 1) -> set[int]:
    task = {"name": "t", "executor": "sleep", "payload": {"seconds": 0.05}}
    return {job.id for job in queue.add_tasks([{**task, "max_attempts": max_attempts}] * count)}


def _draining(proxied: Workers, *extra: str, lease: float = LEASE) -> subprocess.Popen[bytes]:
    """Two worker processes of four slots on the proxy, once they have run 300 tasks."""
    proc = proxied.start("--processes", "2", "--concurrency", "4", "--lease", f"{lease}s", *extra)
    assert wait_until(lambda: len(proxied.ends_by_task()) >= 300, 60), proxied.log()
    return proc


def _each_once_in_success(db_url: str, ids: set[int]) -> None:
    assert dbs.query(db_url, "SELECT status, COUNT(*) FROM queue_jobs GROUP BY status") == []
    succeeded = [row[0] for row in dbs.query(db_url, "SELECT id FROM queue_success")]
    assert len(succeeded) == len(ids) and set(succeeded) == ids


def _per_process(log: str, pattern: str) -> Counter[str]:
    return Counter(re.findall(rf"^\S+ \S+ (\d+) \w+ {pattern}", log, flags=re.MULTILINE))


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_a_read_on_a_frozen_connection_is_answered_on_a_new_one(
    backend: str, queue: QueueService, proxy: Proxy
) -> None:
    queue.add_task(name="t", executor="e")
    with QueueService(proxy.url, statement_timeout=1) as through:  # silent for 3 s: given up
        assert through.count_by_status()["waiting"] == 1  # a pooled connection, then frozen
        assert proxy.freeze() == 1
        started = time.monotonic()
        assert through.count_by_status()["waiting"] == 1
        took = time.monotonic() - started
        assert 3 <= took < 3 + 2, took  # the deadline, the watchdog's tick, some slack
        assert through.backend.health.down  # logged once; a worker's next success says so


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_frozen_connections_are_replaced_and_every_task_succeeds_once(
    backend: str, queue: QueueService, db_url: str, proxy: Proxy, proxied: Workers
) -> None:
    ids = _sleepers(queue, FROZEN_TASKS)
    proc = _draining(proxied, "--burst")
    frozen_at, frozen_wall = time.monotonic(), time.time()
    assert proxy.freeze() >= 4  # at least each process's claim and wake-up connections
    assert proc.wait(DRAIN_BOUND_S) == 0, proxied.log()
    took = time.monotonic() - frozen_at
    _each_once_in_success(db_url, ids)
    runs = proxied.runs()
    assert no_overlap(runs)
    # The freeze came mid-drain: most tasks started after it, claimed on the connections that
    # replaced the frozen ones (the buffers hold a dozen tasks per process at this pace).
    after = sum(1 for run in runs if run.phase == "end" and run.started > frozen_wall)
    assert after >= FROZEN_TASKS // 2, (after, frozen_wall)
    log = proxied.log()
    lost, back = _per_process(log, "lost the database"), _per_process(log, "the database at")
    assert len(lost) == 2 and set(lost.values()) == {1}, (lost, log[-5000:])
    assert back == lost, (back, log[-5000:])
    print(f"{backend}: {len(ids):,} tasks done {took:.1f} s after the freeze")  # the closing note's


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_cut_and_refused_connections_lose_no_task(
    backend: str, queue: QueueService, db_url: str, proxy: Proxy, proxied: Workers
) -> None:
    ids = _sleepers(queue, 500)
    proc = _draining(proxied, "--burst")
    proxy.refuse(True)
    assert proxy.cut() >= 4
    time.sleep(3)  # every attempt to reconnect is reset meanwhile
    proxy.refuse(False)
    assert proc.wait(DRAIN_BOUND_S) == 0, proxied.log()
    _each_once_in_success(db_url, ids)
    assert no_overlap(proxied.runs())


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_sigterm_ends_frozen_workers_within_the_grace_period(
    backend: str, queue: QueueService, db_url: str, proxy: Proxy, proxied: Workers
) -> None:
    # A task that finished while the database was silent and whose success could not be written
    # before the process ended counts as started: it runs again (max_attempts 3).
    ids = _sleepers(queue, 400, max_attempts=3)
    proc = _draining(proxied, "--grace", f"{GRACE}s", lease=SHORT_LEASE)
    proxy.freeze()
    time.sleep(0.5)  # claims, outcomes and heartbeats now wait on silent connections
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(EXIT_BOUND_S + 5)
    took = time.monotonic() - signalled
    assert took <= EXIT_BOUND_S, (took, proxied.log())
    # Nothing was lost: what the frozen workers held is rescued once its lease ends (at most
    # one lease after they exited: waited for on the database's clock), and a worker on a
    # direct connection finishes the rest.
    held = f"SELECT COUNT(*) FROM queue_jobs WHERE status = 'executing' AND {UNEXPIRED[backend]}"
    assert wait_until(lambda: dbs.scalar(db_url, held) == 0, SHORT_LEASE + 5, step=0.2)
    queue.register_executor("sleep", lambda payload, job: time.sleep(0.001))
    queue.run_worker(concurrency=8, burst=True, lease_seconds=SHORT_LEASE)
    _each_once_in_success(db_url, ids)
    assert no_overlap(proxied.runs())
