"""The success ledger's arithmetic: run-time buckets, and throughput read from ``queue_rollups``.

Every success adds to one row of ``queue_rollups`` per (UTC minute, executor, group, bucket):
how many succeeded, their total and longest run time. The bucket is the run time's place among
fixed, log-spaced upper bounds (``BUCKET_BOUNDS_MS``); the last bucket has no bound. Bucket -1
is the other outcomes' (failed, retried, rescued, cancelled), which carry no run time.

Percentiles are estimates: the bucket holding the wanted rank is found from the counts, and the
value is interpolated linearly between that bucket's lower and upper bound (capped by the
longest run time seen; the unbounded bucket answers the longest run time). Their error is at
most the width of one bucket.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Upper bounds of the success buckets, ms (a run time equal to a bound falls in that bucket):
# 1-2-5 steps up to a second, then 2 s, 5 s, 10 s, 30 s, 1 min, 5 min; past that, unbounded.
BUCKET_BOUNDS_MS: tuple[int, ...] = (
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000,
)  # fmt: skip
OPEN_BUCKET = len(BUCKET_BOUNDS_MS)  # run times above the last bound
OTHER_OUTCOMES = -1  # the bucket of failed, retried, rescued and cancelled counts
GROUPINGS = ("executor", "group")
PERCENTILE_METHOD = "estimated: interpolated within fixed run-time buckets"


def bucket_of(ms: int) -> int:
    """The bucket of a run time in ms (0 for 1 ms or less, OPEN_BUCKET above 5 minutes)."""
    return bisect_left(BUCKET_BOUNDS_MS, ms)


def rollup_rows(successes: Iterable[tuple[str, str | None, int]]) -> str:
    """(executor, group, ms) of successes summed per key and bucket, as JSON [[executor, group
    ('' for none), bucket, count, total ms, max ms], ...] in key order: one upsert row each."""
    return json.dumps(rollup_sums(successes))


def rollup_sums(successes: Iterable[tuple[str, str | None, int]]) -> list[list[Any]]:
    """The rows of ``rollup_rows``, as lists."""
    sums: dict[tuple[str, str, int], list[int]] = {}
    for executor, group, ms in successes:
        key = (executor, group or "", bucket_of(ms))
        found = sums.get(key)
        if found is None:
            sums[key] = [1, ms, ms]
        else:
            found[0] += 1
            found[1] += ms
            if ms > found[2]:
                found[2] = ms
    return [[*key, *sums[key]] for key in sorted(sums)]


def bucket_range(bucket: int) -> tuple[int, int | None]:
    """(lower, upper) bound of a bucket in ms; upper None for the unbounded last bucket."""
    lower = 0 if bucket == 0 else BUCKET_BOUNDS_MS[bucket - 1]
    upper = BUCKET_BOUNDS_MS[bucket] if bucket < OPEN_BUCKET else None
    return lower, upper


def estimate_percentile(counts: Mapping[int, int], fraction: float, max_ms: int) -> float | None:
    """The run time under which ``fraction`` of the successes fall, from the bucket counts
    (bucket -> successes); None when there are none."""
    total = sum(n for bucket, n in counts.items() if bucket >= 0)
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for bucket in sorted(b for b in counts if b >= 0):
        n = counts[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            lower, upper = bucket_range(bucket)
            if upper is None:
                return float(max_ms)
            upper = min(upper, max_ms) if max_ms >= lower else upper
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
    return float(max_ms)


@dataclass(frozen=True, slots=True)
class ThroughputRow:
    """Outcomes over a time window for one key (an executor, a group, or all: None).

    ``p50_ms``/``p95_ms``/``p99_ms`` are estimates (see ``percentiles``); ``avg_ms`` and
    ``max_ms`` are exact. ``failure_rate``: failed / (succeeded + failed), None if neither."""

    key: str | None
    succeeded: int
    failed: int
    retried: int
    rescued: int
    cancelled: int
    failure_rate: float | None
    avg_ms: float | None
    max_ms: int | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    percentiles: str = PERCENTILE_METHOD


@dataclass(slots=True)
class _Tally:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("succeeded", "failed", "retried", "rescued", "cancelled"), 0
        )
    )
    buckets: dict[int, int] = field(default_factory=dict)
    run_ms_total: int = 0
    run_ms_max: int = 0

    def add(self, row: Mapping[str, Any]) -> None:
        for name in self.counts:
            self.counts[name] += int(row[name] or 0)
        bucket = int(row["bucket"])
        if bucket >= 0:
            self.buckets[bucket] = self.buckets.get(bucket, 0) + int(row["succeeded"] or 0)
        self.run_ms_total += int(row["run_ms_total"] or 0)
        self.run_ms_max = max(self.run_ms_max, int(row["run_ms_max"] or 0))

    def row(self, key: str | None) -> ThroughputRow:
        succeeded, failed = self.counts["succeeded"], self.counts["failed"]
        ended = succeeded + failed
        ran = succeeded > 0
        pct = {q: estimate_percentile(self.buckets, q / 100, self.run_ms_max) for q in (50, 95, 99)}
        return ThroughputRow(
            key=key,
            succeeded=succeeded,
            failed=failed,
            retried=self.counts["retried"],
            rescued=self.counts["rescued"],
            cancelled=self.counts["cancelled"],
            failure_rate=failed / ended if ended else None,
            avg_ms=self.run_ms_total / succeeded if ran else None,
            max_ms=self.run_ms_max if ran else None,
            p50_ms=pct[50],
            p95_ms=pct[95],
            p99_ms=pct[99],
        )


def throughput(rows: Iterable[Mapping[str, Any]], by: str | None) -> list[ThroughputRow]:
    """Rollup rows (executor, group_name, bucket and the counters summed over the window)
    combined per key: the executor, the group (None: no group), or one row for all (by None).
    Sorted by key, no group last."""
    tallies: dict[str | None, _Tally] = {}
    for row in rows:
        if by == "executor":
            key: str | None = str(row["executor"])
        elif by == "group":
            key = str(row["group_name"]) or None
        else:
            key = None
        tallies.setdefault(key, _Tally()).add(row)
    ordered = sorted(tallies, key=lambda k: (k is None, k or ""))
    return [tallies[key].row(key) for key in ordered]
