"""Failure triage for QueueService: the filter given as a FailureFilter or as keywords, keyset
cursors for pages of failed tasks, and the grouped stats built from kept-count rows."""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from stratix_queue.clock import to_naive_utc, to_utc
from stratix_queue.errors import InvalidInputError
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.job import FailedTasksStats, FingerprintStats, Job

# The fields queue_failure_counts keeps per row: a filter of only these is answered from it.
KEPT_FIELDS = frozenset({"executor", "group", "code", "fingerprint"})
FILTER_KEYWORDS = frozenset(asdict(FailureFilter()))
CURSOR_PREFIX = "f1."  # a version, so that a later cursor form can be told apart
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class FailedPage:
    """A page of failed tasks, newest failure first. ``next_cursor``: give it back for the
    next page (None: this was the last). Tasks that fail meanwhile are newer than the cursor:
    the following pages neither repeat nor skip a task."""

    jobs: list[Job]
    next_cursor: str | None


def resolve_filter(given: FailureFilter | None, keywords: Mapping[str, Any]) -> FailureFilter:
    """The checked filter of a call that takes a FailureFilter or its fields as keywords
    (``executor="convert", since="2h"``), not both."""
    unknown = sorted(set(keywords) - FILTER_KEYWORDS)
    if unknown:
        known = ", ".join(sorted(FILTER_KEYWORDS))
        raise InvalidInputError(f"unknown filter field(s) {', '.join(unknown)}; known: {known}")
    if given is None:
        return FailureFilter.build(**keywords)
    if keywords:
        raise InvalidInputError("give a FailureFilter or filter keywords, not both")
    if not isinstance(given, FailureFilter):
        raise InvalidInputError(f"filter must be a FailureFilter, not {type(given).__name__}")
    return FailureFilter.build(**{f: getattr(given, f) for f in FILTER_KEYWORDS})


def encode_cursor(job: Job) -> str:
    """The opaque cursor after ``job``: its (failed_at, id), the keyset of the next page."""
    if job.failed_at is None:  # a failed row written without failed_at by another client
        raise InvalidInputError(f"failed task #{job.id} has no failed_at to page after")
    at = to_naive_utc(job.failed_at).isoformat(timespec="microseconds")
    text = base64.urlsafe_b64encode(f"{at}|{job.id}".encode()).decode().rstrip("=")
    return CURSOR_PREFIX + text


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(failed_at as naive UTC, id) of a cursor; InvalidInputError if it is not one of ours."""
    if not isinstance(cursor, str) or not cursor.startswith(CURSOR_PREFIX) or len(cursor) > 100:
        raise InvalidInputError(f"not a failed-task cursor: {cursor!r}")
    body = cursor[len(CURSOR_PREFIX) :]
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        at, _, job_id = text.partition("|")
        return datetime.fromisoformat(at), int(job_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInputError(f"not a failed-task cursor: {cursor!r}") from None


def page_of(jobs: list[Job], limit: int) -> FailedPage:
    """The page of ``limit`` tasks out of ``limit + 1`` read (one more: is there a next?)."""
    if len(jobs) <= limit:
        return FailedPage(jobs, None)
    shown = jobs[:limit]
    return FailedPage(shown, encode_cursor(shown[-1]) if shown else None)


def counts_from_kept(failures: FailureFilter) -> bool:
    """Whether the kept counts can answer the filter (it names none of message, times,
    attempts)."""
    return all(getattr(failures, f) is None for f in FILTER_KEYWORDS - KEPT_FIELDS)


def joined(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of Driver.kept_fingerprint_stats (a 'total', 'executor', 'group' and 'code' row
    per fingerprint) as one row per fingerprint, shaped as by_fingerprint's."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.setdefault(row["fingerprint"], {"fingerprint": row["fingerprint"]})
        if row["kind"] == "total":
            entry.update(row)
        else:
            entry[f"{row['kind']}_counts"] = row["counts"]
    return list(grouped.values())


def by_fingerprint(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Count rows (fingerprint, executor, group_name, error_code: Driver.recount_failures)
    as one row per fingerprint, its failures per executor, group and code as Counters."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        count = int(row["failed"])
        entry = grouped.get(row["fingerprint"])
        if entry is None:
            entry = grouped[row["fingerprint"]] = {
                "fingerprint": row["fingerprint"],
                "failed": 0,
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
                "sample_message": row["sample_message"],
                **{key: Counter[str]() for key in _SPREAD.values()},
            }
        entry["failed"] += count
        entry["first_seen"] = min(entry["first_seen"], row["first_seen"])
        entry["last_seen"] = max(entry["last_seen"], row["last_seen"])
        entry["sample_message"] = max(entry["sample_message"] or "", row["sample_message"] or "")
        for column, key in _SPREAD.items():
            entry[key][row[column]] += count
    return list(grouped.values())


_SPREAD = {"executor": "executor_counts", "group_name": "group_counts", "error_code": "code_counts"}


def stats_of(rows: Iterable[Mapping[str, Any]], counted_from: str) -> FailedTasksStats:
    """FailedTasksStats from per-fingerprint rows (of joined or by_fingerprint)."""
    by_executor: Counter[str] = Counter()
    by_group: Counter[str | None] = Counter()
    by_code: Counter[str | None] = Counter()
    entries = []
    for row in rows:
        executors: Counter[str] = Counter(_object(row["executor_counts"]))
        groups = _named(row["group_counts"])
        codes = _named(row["code_counts"])
        by_executor.update(executors)
        by_group.update(groups)
        by_code.update(codes)
        entries.append(
            FingerprintStats(
                fingerprint=row["fingerprint"] or None,
                count=int(row["failed"]),
                first_seen=to_utc(row["first_seen"]),
                last_seen=to_utc(row["last_seen"]),
                sample_message=row["sample_message"] or None,
                executors=_biggest_first(executors),
                groups=_biggest_first(groups),
                codes=_biggest_first(codes),
            )
        )
    entries.sort(key=lambda e: (-e.count, -_stamp(e.last_seen), e.fingerprint or ""))
    return FailedTasksStats(
        total=sum(entry.count for entry in entries),
        by_executor=_biggest_first(by_executor),
        by_group=_biggest_first(by_group),
        by_code=_biggest_first(by_code),
        by_fingerprint=entries,
        counted_from=counted_from,
    )


def _object(value: Any) -> dict[str, int]:
    """A JSON object of counts as the driver returns it (text, or decoded by psycopg)."""
    data = json.loads(value) if isinstance(value, str | bytes) else value  # or a Counter
    return {str(key): int(count) for key, count in data.items()}


def _named(value: Any) -> Counter[str | None]:
    """Counts by group or code, '' (none) as None."""
    return Counter({key or None: count for key, count in _object(value).items()})


def _biggest_first(counts: Counter[K]) -> dict[K, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _stamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0
