"""rollups.py and retention.py alone: bucket bounds, percentile estimates, rows combined per
key, the retention periods a worker and `prune` use, and the sweep's batches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stratix_queue import InvalidInputError
from stratix_queue.retention import Prunable, Retention, retention_of, sweep
from stratix_queue.rollups import (
    BUCKET_BOUNDS_MS,
    OPEN_BUCKET,
    bucket_of,
    bucket_range,
    estimate_percentile,
    throughput,
)
from stratix_queue.worker_options import WorkerOptions


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0, 0), (1, 0), (2, 1), (3, 2), (5, 2), (6, 3), (1_000, 9), (1_001, 10), (300_000, 15)],
)
def test_bucket_of_takes_the_upper_bound_inclusive(ms: int, bucket: int) -> None:
    assert bucket_of(ms) == bucket
    lower, upper = bucket_range(bucket)
    assert (upper is not None and lower < ms <= upper) or (ms == 0 and lower == 0)


def test_the_last_bucket_is_unbounded() -> None:
    assert bucket_of(300_001) == OPEN_BUCKET == len(BUCKET_BOUNDS_MS)
    assert bucket_range(OPEN_BUCKET) == (300_000, None)


def test_percentiles_interpolate_within_the_bucket() -> None:
    # 100 runs: 90 in (10, 20] ms, 10 in (200, 500] ms, the longest 450
    counts = {bucket_of(15): 90, bucket_of(300): 10}
    assert estimate_percentile(counts, 0.5, 450) == pytest.approx(10 + 10 * 50 / 90)
    assert estimate_percentile(counts, 0.95, 450) == pytest.approx(200 + 250 * 5 / 10)
    assert estimate_percentile(counts, 1.0, 450) == 450  # capped by the longest run
    assert estimate_percentile({OPEN_BUCKET: 3}, 0.5, 900_000) == 900_000
    assert estimate_percentile({-1: 5}, 0.5, 0) is None  # no success at all


def _row(executor: str, group: str, bucket: int, **counts: int) -> dict[str, object]:
    base = dict.fromkeys(("succeeded", "failed", "retried", "rescued", "cancelled"), 0)
    base.update(run_ms_total=0, run_ms_max=0)
    base.update(counts)
    return {"executor": executor, "group_name": group, "bucket": bucket, **base}


def test_throughput_combines_rows_per_key() -> None:
    rows = [
        _row("a", "g", bucket_of(4), succeeded=3, run_ms_total=12, run_ms_max=5),
        _row("a", "", bucket_of(40), succeeded=1, run_ms_total=40, run_ms_max=40),
        _row("a", "g", -1, failed=1, retried=2),
        _row("b", "", -1, cancelled=4),
    ]
    [everything] = throughput(rows, None)
    assert (everything.succeeded, everything.failed, everything.retried) == (4, 1, 2)
    assert everything.avg_ms == 13 and everything.max_ms == 40
    assert everything.failure_rate == pytest.approx(1 / 5)
    a, b = throughput(rows, "executor")
    assert (a.key, a.succeeded, b.key, b.cancelled) == ("a", 4, "b", 4)
    assert b.avg_ms is None and b.p50_ms is None and b.failure_rate is None
    groups = throughput(rows, "group")
    assert [(r.key, r.succeeded) for r in groups] == [("g", 3), (None, 1)]  # no group last


def test_worker_retention_zero_keeps_forever() -> None:
    options = WorkerOptions(keep_successes="0", keep_rollups="30d", keep_removed=None)
    assert options.retention == Retention(None, 30 * 86400.0, None)
    assert WorkerOptions().retention == Retention()
    assert [what for what, _ in Retention().periods()] == list(Prunable)
    with pytest.raises(InvalidInputError):
        WorkerOptions(keep_rollups="-1d")
    # the supervisor hands its children a copy (dataclasses.replace): the periods go along
    child = replace(options, handle_signals=True)
    assert child.retention == options.retention and child.keep_successes is None


def test_pruning_by_hand_takes_zero_as_everything() -> None:
    assert retention_of(0, None, "1h", zero_keeps=False) == Retention(0.0, None, 3600.0)


def test_the_sweep_stops_at_its_batch_limit_and_counts_every_row() -> None:
    left = {Prunable.SUCCESSES: 25, Prunable.ROLLUPS: 3}
    calls: list[tuple[Prunable, int]] = []

    def prune_batch(what: Prunable, older_than: float, limit: int) -> int:
        calls.append((what, limit))
        done = min(left[what], limit)
        left[what] -= done
        return done

    periods = [(Prunable.SUCCESSES, 1.0), (Prunable.ROLLUPS, 1.0)]
    report = sweep(prune_batch, periods, max_batches=2, batch=10)
    assert report.counts == {"successes": 20, "rollups": 3} and report.pending
    report = sweep(prune_batch, periods, max_batches=None, batch=10)
    assert report.counts == {"successes": 5, "rollups": 0} and not report.pending
