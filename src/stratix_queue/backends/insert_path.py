"""The insert path's pieces: how a batch is cut into statements, and the Jobs built back from
the few columns the database decides."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from stratix_queue.backends.arguments import NewJob
from stratix_queue.backends.session import Session
from stratix_queue.clock import to_utc_once
from stratix_queue.errors import DatabaseError
from stratix_queue.job import STATUSES, Job, make_job

INSERT_CHUNK_ROWS = 500
INSERT_CHUNK_BYTES = 4 * 1024 * 1024
# The columns of insert_jobs / insert_job_row, in this order (decoded by position: the insert
# path builds Jobs from them without looking names up).
INSERTED_COLUMNS = ("id", "status", "created_at", "run_at", "updated_at", "timeout_seconds")


def insert_chunks(jobs: Sequence[NewJob]) -> Iterator[Sequence[NewJob]]:
    """The tasks in consecutive chunks, one statement each: up to INSERT_CHUNK_ROWS tasks and
    about INSERT_CHUNK_BYTES of payload; a task with a payload over ALONE_PAYLOAD_CHARS is a
    chunk of its own (its payload bound as it is, not escaped again inside the JSON list)."""
    start, size = 0, 0
    for i, job in enumerate(jobs):
        length = len(job.payload_json)
        if length > ALONE_PAYLOAD_CHARS:
            if i > start:
                yield jobs[start:i]
            yield jobs[i : i + 1]
            start, size = i + 1, 0
            continue
        size += length
        if i - start >= INSERT_CHUNK_ROWS or (size > INSERT_CHUNK_BYTES and i > start):
            yield jobs[start:i]
            start, size = i, length
    if start < len(jobs):
        yield jobs[start:]


ALONE_PAYLOAD_CHARS = 16 * 1024  # past this, unescaping it from the JSON list costs more
_TASKS_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_PAYLOAD = json.JSONDecoder()


def run_insert(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one insert statement; its rows (the columns of insert_jobs' RETURNING, in order) in
    id order, which is the order of the tasks."""
    rows = session.rows(sql, params)
    if len(rows) > 1:
        rows.sort(key=lambda row: int(row[0]))
    return rows


def inserted_jobs(jobs: Sequence[NewJob], rows: Sequence[Sequence[Any]]) -> list[Job]:
    """The Jobs of inserted tasks, from their input and the columns the database decided (the
    same Job as ``get_job`` reads back). A NULL run_at or updated_at equals created_at; equal
    timestamps are converted once."""
    if len(rows) != len(jobs):
        raise DatabaseError(f"inserted {len(rows)} rows for {len(jobs)} tasks")
    times: dict[Any, datetime | None] = {}
    inserted = []
    for job, (job_id, status, created_at, run_at, updated, timeout) in zip(jobs, rows, strict=True):
        created = to_utc_once(created_at, times)
        inserted.append(
            make_job(
                int(job_id),
                job.name,
                job.executor,
                _PAYLOAD.raw_decode(job.payload_json)[0],  # json.loads without its wrapping
                job.group,
                STATUSES[status],
                job.priority,
                0,  # attempts
                job.max_attempts,
                created if run_at is None else to_utc_once(run_at, times),
                created,
                created if updated is None else to_utc_once(updated, times),
                timeout=None if timeout is None else float(timeout),
            )
        )
    return inserted


def task_row(job: NewJob, run_at: str | None) -> list[Any]:
    """One task of insert_jobs' JSON parameter, in the order the query reads them."""
    return [
        job.name,
        job.executor,
        job.group,
        job.payload_json,
        job.priority,
        job.max_attempts,
        1 if job.delayed else 0,
        run_at,
        job.delay_seconds,
        job.timeout_seconds,
    ]


def tasks_json(rows: list[list[Any]]) -> str:
    return _TASKS_JSON.encode(rows)
