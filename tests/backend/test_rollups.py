"""The success ledger on each driver: the success statements add exactly the rows they moved to
queue_rollups (a batch written twice counts once, a task whose lease was lost not at all),
rollup_totals reads a time window, retention prunes one batch of old rows at a time, and a task
that left queue_jobs is found in queue_success or queue_removed."""

from __future__ import annotations

from typing import Any

from stratix_queue.backends.driver import Driver
from stratix_queue.retention import Prunable
from stratix_queue.rollups import bucket_of
from tests.backend.conftest import OLD, RawSql, claim, count, new_job, stale

ROLLUP_COLUMNS = "executor, group_name, bucket, succeeded, run_ms_total, run_ms_max"


def rollups(raw: RawSql) -> list[tuple[Any, ...]]:
    """(executor, group, bucket, succeeded, total ms, max ms), summed over the minutes."""
    rows = raw.query(
        "SELECT executor, group_name, bucket, SUM(succeeded), SUM(run_ms_total), MAX(run_ms_max) "
        "FROM queue_rollups GROUP BY executor, group_name, bucket ORDER BY 1, 2, 3"
    )
    return [(e, g, int(b), int(n), int(t), int(m)) for e, g, b, n, t, m in rows]


def test_a_batch_adds_the_rows_it_moved(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs(
        [
            new_job("a", executor="x", group="g"),
            new_job("b", executor="x", group="g"),
            new_job("c", executor="x"),
            new_job("d", executor="y", group="g"),
            new_job("e", executor="y", group="g"),
        ]
    )
    a, b, c, d, e = claim(driver, limit=5)
    lost = stale(e, lease_token="another-lease")  # its lease was lost: must not count
    moved = driver.move_many_to_success([(a, 3), (b, 4), (c, 700), (d, 40_000), (lost, 5)])
    assert moved == {a.id, b.id, c.id, d.id}
    assert rollups(raw) == [
        ("x", "", bucket_of(700), 1, 700, 700),
        ("x", "g", bucket_of(3), 2, 7, 4),  # 3 and 4 ms share the (2, 5] bucket
        ("y", "g", bucket_of(40_000), 1, 40_000, 40_000),
    ]
    assert count(raw, "queue_rollups", "failed + retried + rescued + cancelled > 0") == 0


def test_a_batch_written_twice_counts_once(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job(f"n{i}") for i in range(3)])
    jobs = claim(driver, limit=3)
    batch = [(job, 12) for job in jobs]
    assert driver.move_many_to_success(batch) == {job.id for job in jobs}
    # the reply was lost with the connection: the worker writes the same batch again
    assert driver.move_many_to_success(batch) == set()
    assert rollups(raw) == [("e", "", bucket_of(12), 3, 36, 12)]


def test_a_task_listed_twice_in_a_batch_counts_once(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("n")])
    [job] = claim(driver)
    assert driver.move_many_to_success([(job, 8), (job, 9)]) == {job.id}
    assert rollups(raw) == [("e", "", bucket_of(9), 1, 9, 9)]


def test_a_single_success_adds_to_the_same_rows(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a", group="g"), new_job("b", group="g")])
    a, b = claim(driver, limit=2)
    assert driver.move_to_success(a, 30)
    assert driver.move_many_to_success([(b, 50)]) == {b.id}
    assert rollups(raw) == [("e", "g", bucket_of(30), 2, 80, 50)]


def test_a_fenced_out_single_success_is_not_counted(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a")])
    [job] = claim(driver)
    assert not driver.move_to_success(stale(job, lease_token="another-lease"), 5)
    assert count(raw, "queue_rollups") == 0
    assert driver.move_to_success(job, 5)
    assert not driver.move_to_success(job, 5)  # written again: the row is gone
    assert rollups(raw) == [("e", "", bucket_of(5), 1, 5, 5)]


def test_rollup_totals_reads_the_window(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a"), new_job("b")])
    a, b = claim(driver, limit=2)
    driver.move_many_to_success([(a, 1), (b, 2_500)])
    raw.query(
        "INSERT INTO queue_rollups (minute, executor, group_name, bucket, failed) "
        "VALUES (%s, 'e', '', -1, 4)",
        (OLD,),
    )
    recent = {int(row["bucket"]): row for row in driver.rollup_totals(3600)}
    assert sorted(recent) == [bucket_of(1), bucket_of(2_500)]
    assert int(recent[bucket_of(2_500)]["run_ms_max"]) == 2_500
    everything = driver.rollup_totals(100 * 365 * 86400)
    assert sum(int(row["failed"]) for row in everything) == 4


def _removed(raw: RawSql, job_id: int, removed_at: str | None) -> None:
    raw.query(
        "INSERT INTO queue_removed (id, job_name, executor, group_name, payload, priority, "
        "attempts, max_attempts, status, outcome, error_message, error_code, created_at, "
        "failed_at, removed_at, removed_by, reason) VALUES (%s, 'gone', 'e', NULL, '{\"k\": 1}', "
        "0, 2, 2, 'failed', 'discarded', 'boom', 'E', %s, %s, %s, 'ops', 'bad data')",
        (job_id, OLD, OLD, removed_at or "2999-01-01 00:00:00"),
    )


def test_prune_batches_delete_only_old_rows(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job(f"n{i}") for i in range(3)])
    jobs = claim(driver, limit=3)
    driver.move_many_to_success([(job, 1) for job in jobs])
    raw.query("UPDATE queue_success SET completed_at = %s WHERE id <> %s", (OLD, jobs[2].id))
    raw.query(
        "INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded) "
        "VALUES (%s, 'e', '', 0, 1), (%s, 'f', '', 0, 1)",
        (OLD, OLD),
    )
    _removed(raw, 9001, OLD)
    _removed(raw, 9002, None)
    # history: of a pruned success (orphaned once it goes), of a kept one, of a removed one
    for job_id in (jobs[0].id, jobs[2].id, 9001, 9002):
        raw.query(
            "INSERT INTO queue_job_errors (job_id, attempt, error_message, failed_at) "
            "VALUES (%s, 1, 'x', %s)",
            (job_id, OLD),
        )
        raw.query(
            "INSERT INTO queue_payload_history (job_id, payload, replaced_at, replaced_by) "
            "VALUES (%s, '{}', %s, 'ops')",
            (job_id, OLD),
        )
    day = 86400.0
    assert driver.count_old(Prunable.SUCCESSES, day) == 2
    assert driver.count_old(Prunable.ROLLUPS, day) == 2
    assert driver.count_old(Prunable.REMOVED, day) == 1
    assert driver.count_old(Prunable.ATTEMPT_ERRORS, day) == 0  # every task is somewhere
    assert driver.prune_batch(Prunable.SUCCESSES, day, 1) == 1  # one batch of one
    assert driver.prune_batch(Prunable.SUCCESSES, day, 10) == 1
    assert driver.prune_batch(Prunable.SUCCESSES, day, 10) == 0
    assert driver.prune_batch(Prunable.ROLLUPS, day, 10) == 2
    assert driver.prune_batch(Prunable.REMOVED, day, 10) == 1
    # jobs[0] and 9001 are now nowhere: their history goes, the others' stays
    assert driver.count_old(Prunable.PAYLOAD_HISTORY, day) == 2
    assert driver.prune_batch(Prunable.ATTEMPT_ERRORS, day, 10) == 2
    assert driver.prune_batch(Prunable.PAYLOAD_HISTORY, day, 10) == 2
    kept = sorted(int(r[0]) for r in raw.query("SELECT job_id FROM queue_job_errors"))
    assert kept == sorted([jobs[2].id, 9002])
    assert [int(r[0]) for r in raw.query("SELECT id FROM queue_success")] == [jobs[2].id]
    assert count(raw, "queue_rollups") == 1  # this minute's, from the batch above
    assert [int(r[0]) for r in raw.query("SELECT id FROM queue_removed")] == [9002]


def test_find_success_and_removed(driver: Driver, raw: RawSql) -> None:
    driver.insert_jobs([new_job("a", group="g")])
    [job] = claim(driver)
    assert driver.find_success(job.id) is None
    driver.move_to_success(job, 77)
    found = driver.find_success(job.id)
    assert found is not None and int(found["execution_time"]) == 77
    assert found["group_name"] == "g"
    _removed(raw, 9001, None)
    removed = driver.removed_task(9001)
    assert removed is not None and removed["removed_by"] == "ops"
    assert driver.removed_task(job.id) is None
