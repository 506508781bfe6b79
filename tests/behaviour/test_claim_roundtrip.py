"""A claimed Job is the row as the database holds it: every field equal to what get_task reads
after the claim, whatever the payload, text, numbers and timestamps (SQLite's claim reads its
rows back as one JSON value, PostgreSQL and MariaDB through RETURNING or a read-back)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import pytest

from stratix_queue import Job, JobStatus, QueueService
from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.sqlite.driver import SqliteSession
from stratix_queue.job import Unreadable
from tests import dbs
from tests.behaviour.test_text_roundtrip import NASTY
from tests.conftest import only

PAYLOADS: list[Any] = [
    {"text": NASTY, "big": 2**62, "float": 0.1, "neg": -1.5e-300, "none": None, "flag": True},
    ["\u0000 nul", "\x1f control", '\\"escaped\\"'],
    "just a string",
    12345678901234567,
    None,
]


def _claim(
    queue: QueueService, limit: int = 50, groups: tuple[str, ...] | None = None
) -> list[Job]:
    params = ClaimParams(
        worker_id="w:1:x", lease_token="tok", limit=limit, lease_seconds=60.0, groups=groups
    )
    return queue.backend.claim(params)


def _add(queue: QueueService) -> list[Job]:
    tasks: list[dict[str, Any]] = [
        {"name": f"t{i}", "executor": "e", "payload": payload} for i, payload in enumerate(PAYLOADS)
    ]
    tasks += [
        {
            "name": NASTY[3],
            "executor": NASTY[12],
            "group": NASTY[13],
            "priority": 7,
            "max_attempts": 4,
            "timeout": 1 / 3,
            "payload": {"k": "v"},
        },
        {"name": "due", "executor": "e", "timeout": 2.0, "run_at": datetime(2020, 1, 2, 3, 4, 5)},
    ]
    return queue.add_tasks(tasks)


@pytest.mark.parametrize("groups", [None, (NASTY[13],)], ids=["any", "in_groups"])
def test_a_claimed_job_equals_the_row_read_after_the_claim(
    queue: QueueService, groups: tuple[str, ...] | None
) -> None:
    """Both claim statements (any group, and only some groups) give the Jobs get_task reads."""
    added = _add(queue)
    assert queue.backend.promote_due() == 1  # the task given a run_at in the past
    if groups is not None:
        added = [job for job in added if job.group in groups]
        assert len(added) == 1
    claimed = _claim(queue, groups=groups)
    assert sorted(job.id for job in claimed) == sorted(job.id for job in added)
    for job in claimed:
        assert job == queue.get_task(job.id)
        assert job.status is JobStatus.EXECUTING and job.lease_token == "tok"
    by_id = {job.id: job for job in claimed}
    for job in added:
        assert by_id[job.id].payload == job.payload
        assert by_id[job.id].timeout == job.timeout
    assert claimed[0].priority == 7  # claim order: priority first


def test_a_claim_with_a_row_it_cannot_read_returns_it_marked_unreadable(
    queue: QueueService, db_url: str
) -> None:
    """A payload another client wrote that is not JSON: the claim still returns every row, the
    unreadable one with an Unreadable payload saying what is wrong (the worker fails it)."""
    added = queue.add_tasks([{"name": f"t{i}", "executor": "e"} for i in range(3)])
    dbs.query(db_url, "UPDATE queue_jobs SET payload = 'not json{' WHERE id = %s", [added[1].id])
    claimed = {job.id: job for job in _claim(queue)}
    assert set(claimed) == {job.id for job in added}
    bad = claimed[added[1].id].payload
    assert isinstance(bad, Unreadable) and bad.code == "BAD_PAYLOAD", bad
    assert "not JSON" in bad.message and "not json{" in bad.message
    assert claimed[added[0].id].payload == added[0].payload


@only("sqlite")
def test_sqlite_claim_reads_a_blob_payload_and_splits_a_read_back_too_big(
    backend: str, queue: QueueService, db_url: str
) -> None:
    """A payload another client stored as a BLOB reads as its text, one that only Python's json
    reads (Infinity) as Python reads it; a claim whose rows would not fit in one SQLite string
    (here a limit of 4,000 bytes) is read back in parts."""
    added = queue.add_tasks(
        [{"name": "big", "executor": "e", "payload": {"i": i, "pad": "x" * 900}} for i in range(9)]
    )
    blob = "UPDATE queue_jobs SET payload = CAST(payload AS BLOB) WHERE id = %s"
    dbs.query(db_url, blob, [added[0].id])
    python_only = "UPDATE queue_jobs SET payload = '[1, Infinity]' WHERE id = %s"
    dbs.query(db_url, python_only, [added[1].id])
    _limit_strings(queue, 4000)  # on the pooled connection the claim will use
    claimed = _claim(queue)
    expected = [job.payload for job in added]
    expected[1] = [1, float("inf")]
    assert [job.payload for job in claimed] == expected
    _limit_strings(queue, 1_000_000_000)
    assert claimed == [queue.get_task(job.id) for job in added]


def _limit_strings(queue: QueueService, length: int) -> None:
    with queue.backend._session() as session:
        assert isinstance(session, SqliteSession)
        session.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)
