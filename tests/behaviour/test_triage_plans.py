"""The triage reads stay on the failed-task indexes of migration 006 (EXPLAIN on the statement
exactly as the driver binds it): a page of failed tasks, plain and by each indexed filter, first
and after a cursor; the dry-run count; stats counted from the rows of a time window. The kept
stats read queue_failure_counts only, never queue_jobs. Seeded with failed tasks among many more
waiting ones, with statistics (ANALYZE) on the servers and on SQLite, as test_index_plans.py."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.failure_filter import FailureFilter
from tests import dbs
from tests.behaviour.test_index_plans import _mysql_plan, _pg_plan, _sqlite_plan
from tests.ledger import REFILL_COUNTS

TASKS, FAILED = 8000, 2000
KEYSET = (datetime(2024, 6, 1), 10**9)
FINGERPRINT = "00000000000000a7"
# filter -> the index each backend must use (None: any index, no full scan of queue_jobs)
PAGE_INDEXES: dict[str, dict[str, str | None]] = {
    "": dict.fromkeys(("sqlite", "postgres", "mysql"), "idx_queue_jobs_failed"),
    "executor": dict.fromkeys(("sqlite", "postgres", "mysql"), "idx_queue_jobs_failed_executor"),
    "group": {"sqlite": "idx_queue_jobs_failed_group", "postgres": "idx_queue_jobs_failed_group"}
    | {"mysql": None},  # no (group_name, failed_at) key on MariaDB: the failed_at one
    "code": dict.fromkeys(("sqlite", "postgres", "mysql"), "idx_queue_jobs_failed_code"),
    "fingerprint": dict.fromkeys(
        ("sqlite", "postgres", "mysql"), "idx_queue_jobs_failed_fingerprint"
    ),
}
FILTERS = {
    "": FailureFilter(),
    "executor": FailureFilter(executor="e7"),
    "group": FailureFilter(group="g3"),
    "code": FailureFilter(code="C5"),
    "fingerprint": FailureFilter(fingerprint=FINGERPRINT),
}


def _fill(url: str, backend: str) -> None:
    """FAILED failed tasks over 40 executors, 12 groups, 20 codes and 300 fingerprints, among
    TASKS tasks; failed_at spread over the first half of 2024; their kept counts."""
    with QueueService(url) as queue:
        queue.migrate()
        jobs = queue.add_tasks([{"name": "t", "executor": f"e{i % 40}"} for i in range(TASKS)])
    failed = [
        (
            f"2024-0{1 + i % 6}-{1 + i % 28:02d} 10:00:00.{i % 1000:03d}",
            f"C{i % 20}",
            f"g{i % 12}",
            f"{i % 300:016x}",
            f"no exchange rate for C{i % 150}",
            job.id,
        )
        for i, job in enumerate(jobs[:FAILED])
    ]
    mark = "?" if backend == "sqlite" else "%s"
    conn = dbs.connect(url)
    try:
        cursor = conn.cursor()
        cursor.executemany(
            f"UPDATE queue_jobs SET status = 'failed', failed_at = {mark}, error_code = {mark}, "
            f"group_name = {mark}, fingerprint = {mark}, error_message = {mark} WHERE id = {mark}",
            failed,
        )
        cursor.execute(REFILL_COUNTS)
    finally:
        conn.close()


@pytest.fixture
def seeded(fresh_url: str, backend: str) -> str:
    _fill(fresh_url, backend)
    analyze = {
        "postgres": "VACUUM ANALYZE",
        "mysql": "ANALYZE TABLE queue_jobs, queue_failure_counts",
        "sqlite": "ANALYZE",
    }
    dbs.query(fresh_url, analyze[backend])
    return fresh_url


def _explain(backend: str, url: str, queue: QueueService, name: str, params: dict[str, Any]) -> Any:
    """(indexes used on queue_jobs, whether it is scanned whole) for a query as bound."""
    bound = queue.backend._bind(name, params)  # type: ignore[attr-defined]
    assert bound is not None
    sql, values = bound
    explain = {"sqlite": _sqlite_plan, "postgres": _pg_plan, "mysql": _mysql_plan}[backend]
    conn = dbs.connect(url)
    try:
        return explain(conn, sql, values)
    finally:
        conn.close()


def _keyset(queue: QueueService, failures: FailureFilter) -> Any:
    """The page's {filter}: the filter's conditions and, after a cursor, the keyset's."""
    driver: Any = queue.backend
    fragment = driver._failed_filter(failures)
    return type(fragment)(
        f"{fragment.sql} AND {driver.queries['failed_before']}",
        {**fragment.params, "before_at": KEYSET[0], "before_id": KEYSET[1]},
    )


def test_pages_and_counts_use_the_failed_task_indexes(backend: str, seeded: str) -> None:
    problems = []
    with QueueService(seeded) as queue:
        driver: Any = queue.backend
        for key, failures in FILTERS.items():
            wanted = PAGE_INDEXES[key][backend]
            cases = {
                "first page": ("failed_page", {"filter": driver._failed_filter(failures)}),
                "after a cursor": ("failed_page", {"filter": _keyset(queue, failures)}),
                "count": ("count_failed", {"filter": driver._failed_filter(failures)}),
            }
            for case, (name, params) in cases.items():
                used, full = _explain(backend, seeded, queue, name, {**params, "limit": 51})
                what = f"{case} by {key or 'nothing'}"
                if full:
                    problems.append(f"{what}: full scan of queue_jobs")
                if not used:
                    problems.append(f"{what}: no index")
                elif wanted is not None and case != "count" and wanted not in used:
                    problems.append(f"{what}: {wanted} not used (used {used})")
    assert not problems, json.dumps(problems, indent=1)


def test_stats_read_the_kept_counts_or_the_failed_at_index(backend: str, seeded: str) -> None:
    with QueueService(seeded) as queue:
        driver: Any = queue.backend
        kept = driver.queries["kept_fingerprint_stats"]
        assert "queue_jobs" not in kept  # the kept counts only, whatever the filter
        window = FailureFilter.build(since=datetime(2024, 6, 20))
        used, full = _explain(
            backend, seeded, queue, "recount_failures", {"filter": driver._failed_filter(window)}
        )
        assert used and not full, used
        assert queue.get_failed_tasks_stats().total == FAILED
