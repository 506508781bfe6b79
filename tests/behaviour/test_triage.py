"""Failure triage through QueueService: keyset pages of failed tasks by filter, the dry-run
count, and the stats / fingerprint inbox (kept counts, or counted from the rows)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stratix_queue import QueueService
from stratix_queue.errors import InvalidInputError
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.triage import encode_cursor
from tests import dbs
from tests.ledger import recount, stack_at


def _fail(
    queue: QueueService,
    name: str = "t",
    *,
    executor: str = "convert",
    group: str | None = None,
    code: str = "LookupError",
    message: str = "boom",
    line: str = "raise LookupError(x)",
) -> int:
    job = queue.add_task(name=name, executor=executor, group=group)
    error = {"message": message, "stack": stack_at(line), "code": code}
    assert queue.repository.mark_as_failed(job, error)
    return job.id


def _all_pages(queue: QueueService, limit: int, **fields: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = queue.list_failed_tasks(limit=limit, cursor=cursor, **fields)
        ids += [job.id for job in page.jobs]
        if page.next_cursor is None:
            return ids
        assert len(page.jobs) == limit
        cursor = page.next_cursor


def test_pages_walk_every_failed_task_newest_first(queue: QueueService) -> None:
    ids = [_fail(queue, f"t{i}") for i in range(11)]
    queue.add_task(name="waiting", executor="convert")
    assert _all_pages(queue, 4) == [job.id for job in queue.get_failed_tasks(100, 0)]
    assert sorted(_all_pages(queue, 4)) == ids
    assert _all_pages(queue, 11) == _all_pages(queue, 100)


def test_same_failed_at_is_ordered_by_id(queue: QueueService, db_url: str) -> None:
    ids = [_fail(queue, f"t{i}") for i in range(7)]
    dbs.query(db_url, "UPDATE queue_jobs SET failed_at = '2024-05-01 10:00:00.000'")
    assert _all_pages(queue, 3) == sorted(ids, reverse=True)


def test_paging_is_stable_while_new_failures_arrive(queue: QueueService) -> None:
    before = [_fail(queue, f"old{i}") for i in range(9)]
    seen: list[int] = []
    page = queue.list_failed_tasks(limit=4)
    while True:
        seen += [job.id for job in page.jobs]
        time.sleep(0.002)  # the new failures are later than any listed
        _fail(queue, "new")
        _fail(queue, "new")
        if page.next_cursor is None:
            break
        page = queue.list_failed_tasks(limit=4, cursor=page.next_cursor)
    assert len(seen) == len(set(seen))  # none twice
    assert sorted(seen) == before  # none skipped, none of the new ones


def test_a_cursor_goes_on_after_the_task_it_was_made_from(queue: QueueService) -> None:
    ids = [_fail(queue, f"t{i}") for i in range(5)]
    newest_first = [job.id for job in queue.get_failed_tasks()]
    third = queue.get_failed_tasks(1, 2)[0]
    page = queue.list_failed_tasks(limit=10, cursor=encode_cursor(third))
    assert [job.id for job in page.jobs] == newest_first[3:]
    assert page.next_cursor is None
    assert sorted(newest_first) == ids


@pytest.mark.parametrize("cursor", ["", "abc", "f1.", "f1.!!!", "f1.bm90IGEgY3Vyc29y", "x" * 200])
def test_a_bad_cursor_is_invalid_input(queue: QueueService, cursor: str) -> None:
    with pytest.raises(InvalidInputError, match="cursor"):
        queue.list_failed_tasks(cursor=cursor)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda q: q.list_failed_tasks(limit=0), "limit"),
        (lambda q: q.list_failed_tasks(bogus=1), "unknown filter field"),
        (lambda q: q.list_failed_tasks(since="yesterday-ish"), "since"),
        (lambda q: q.list_failed_tasks(fingerprint="xyz"), "fingerprint"),
        (lambda q: q.count_failed_tasks(FailureFilter(), executor="e"), "not both"),
        (lambda q: q.get_failed_tasks_stats(min_attempts=-1), "min_attempts"),
        (lambda q: q.get_failed_tasks_stats("convert"), "FailureFilter"),
    ],
)
def test_bad_filter_input_is_invalid_input(queue: QueueService, call: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        call(queue)


@pytest.fixture
def mixed(queue: QueueService, db_url: str) -> dict[str, int]:
    """Failures differing in every filter field; failed_at and attempts set by hand."""
    ids = {
        "a": _fail(queue, "a", executor="convert", group="fx", message="no rate for GBP"),
        "b": _fail(queue, "b", executor="convert", group="fx", code="ValueError"),
        "c": _fail(queue, "c", executor="mail", message="SMTP 100%_down"),
        "d": _fail(queue, "d", executor="mail", group="fx", line="raise LookupError(y)"),
    }
    # as the queue writes them (SQLite compares the text: milliseconds included)
    stamps = {
        "a": "2024-01-01 00:00:00.000",
        "b": "2024-02-01 00:00:00.000",
        "c": "2024-03-01 00:00:00.000",
    }
    for name, stamp in stamps.items():
        dbs.query(db_url, "UPDATE queue_jobs SET failed_at = %s WHERE id = %s", [stamp, ids[name]])
    for name, attempts in {"a": 1, "b": 2, "c": 3, "d": 4}.items():
        dbs.query(
            db_url, "UPDATE queue_jobs SET attempts = %s WHERE id = %s", [attempts, ids[name]]
        )
    return ids


FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"executor": "convert"}, {"a", "b"}),
    ({"group": "fx"}, {"a", "b", "d"}),
    ({"code": "ValueError"}, {"b"}),
    ({"message": "gbp"}, {"a"}),
    ({"message": "100%_"}, {"c"}),  # % and _ are text, not wildcards
    ({"message": "0%d"}, set()),
    ({"since": datetime(2024, 1, 15)}, {"b", "c", "d"}),
    ({"until": datetime(2024, 2, 1)}, {"a"}),
    ({"since": "2024-01-01T00:00:00", "until": "2024-03-01T00:00:00+00:00"}, {"a", "b"}),
    ({"since": timedelta(days=1)}, {"d"}),
    ({"min_attempts": 3}, {"c", "d"}),
    ({"max_attempts": 2}, {"a", "b"}),
    ({"executor": "mail", "group": "fx", "code": "LookupError"}, {"d"}),
    ({"executor": "nobody"}, set()),
    ({}, {"a", "b", "c", "d"}),
]


@pytest.mark.parametrize(("fields", "expected"), FILTERS)
def test_every_filter_field(
    queue: QueueService, mixed: dict[str, int], fields: dict[str, Any], expected: set[str]
) -> None:
    names = {task_id: name for name, task_id in mixed.items()}
    listed = _all_pages(queue, 2, **fields)
    assert {names[i] for i in listed} == expected
    assert listed == [job.id for job in queue.get_failed_tasks() if job.id in listed]
    as_object = queue.list_failed_tasks(FailureFilter.build(**fields), limit=100)
    assert [job.id for job in as_object.jobs] == listed
    assert queue.count_failed_tasks(**fields) == len(expected)
    stats = queue.get_failed_tasks_stats(**fields)
    assert stats.total == len(expected)
    assert sum(entry.count for entry in stats.by_fingerprint) == len(expected)
    kept = set(fields) <= {"executor", "group", "code", "fingerprint"}
    assert stats.counted_from == ("kept counts" if kept else "rows")


def test_filter_by_fingerprint(queue: QueueService, mixed: dict[str, int]) -> None:
    job = queue.get_task(mixed["d"])
    assert job is not None
    inbox = queue.get_failed_tasks_stats().by_fingerprint
    # d failed on another line: a fingerprint of its own
    alone = [e for e in inbox if e.count == 1 and e.executors == {"mail": 1} and "fx" in e.groups]
    fingerprint = alone[0].fingerprint
    assert fingerprint is not None
    assert [j.id for j in queue.list_failed_tasks(fingerprint=fingerprint).jobs] == [mixed["d"]]
    assert queue.count_failed_tasks(fingerprint=fingerprint.upper()) == 1


def test_stats_equal_a_recount(queue: QueueService, db_url: str) -> None:
    for i in range(30):
        _fail(
            queue,
            f"t{i}",
            executor=f"e{i % 4}",
            group=None if i % 5 == 0 else f"g{i % 3}",
            code=("LookupError", "ValueError", "KeyError")[i % 3],
            line=f"raise X({i % 4})",
        )
    queue.retry_failed_tasks([job.id for job in queue.get_failed_tasks(5, 0)])
    recounted = recount(lambda sql: dbs.query(db_url, sql))
    stats = queue.get_failed_tasks_stats()
    assert stats.total == sum(recounted.values()) == 25
    executors: dict[str, int] = {}
    groups: dict[str | None, int] = {}
    codes: dict[str | None, int] = {}
    fingerprints: dict[str | None, int] = {}
    for (fingerprint, executor, group, code), count in recounted.items():
        executors[executor] = executors.get(executor, 0) + count
        groups[group or None] = groups.get(group or None, 0) + count
        codes[code or None] = codes.get(code or None, 0) + count
        fingerprints[fingerprint or None] = fingerprints.get(fingerprint or None, 0) + count
    assert stats.by_executor == executors
    assert stats.by_group == groups
    assert stats.by_code == codes
    assert {e.fingerprint: e.count for e in stats.by_fingerprint} == fingerprints
    counts = [e.count for e in stats.by_fingerprint]
    assert counts == sorted(counts, reverse=True)
    for entry in stats.by_fingerprint:
        assert sum(entry.executors.values()) == sum(entry.groups.values()) == entry.count
        assert sum(entry.codes.values()) == entry.count
    # the same numbers counted from the rows (a filter the kept counts cannot answer)
    rows = queue.get_failed_tasks_stats(min_attempts=0)
    assert rows.counted_from == "rows"
    assert (rows.total, rows.by_executor, rows.by_group, rows.by_code) == (
        stats.total,
        stats.by_executor,
        stats.by_group,
        stats.by_code,
    )
    assert {e.fingerprint: e.count for e in rows.by_fingerprint} == fingerprints


def test_one_fingerprint_for_each_currency_another_for_another_line(queue: QueueService) -> None:
    for currency in ("GBP", "JPY", "GBP"):
        _fail(queue, executor="convert", group="fx", message=f"no exchange rate for {currency}")
    _fail(queue, message="no exchange rate for GBP", line="raise LookupError(rate)")
    inbox = queue.get_failed_tasks_stats().by_fingerprint
    assert [entry.count for entry in inbox] == [3, 1]
    big = inbox[0]
    assert big.sample_message is not None and big.sample_message.startswith("no exchange rate")
    assert big.executors == {"convert": 3}
    assert big.groups == {"fx": 3}
    assert big.codes == {"LookupError": 3}
    assert big.first_seen is not None and big.last_seen is not None
    assert big.first_seen <= big.last_seen <= datetime.now(UTC) + timedelta(seconds=5)
    assert inbox[1].groups == {None: 1}
    by_rows = queue.get_failed_tasks_stats(message="exchange rate").by_fingerprint
    assert [(e.fingerprint, e.count) for e in by_rows] == [(e.fingerprint, e.count) for e in inbox]


def test_stats_filtered_by_kept_fields(queue: QueueService) -> None:
    _fail(queue, executor="convert", group="fx")
    _fail(queue, executor="convert", code="ValueError")
    _fail(queue, executor="mail", group="fx")
    stats = queue.get_failed_tasks_stats(executor="convert")
    assert (stats.total, stats.by_executor, stats.counted_from) == (
        2,
        {"convert": 2},
        "kept counts",
    )
    assert stats.by_group == {"fx": 1, None: 1}
    assert stats.by_code == {"LookupError": 1, "ValueError": 1}
    assert queue.get_failed_tasks_stats(group="fx", code="LookupError").total == 2
    assert queue.get_failed_tasks_stats(group="nobody").by_fingerprint == []
