"""The insert path's pieces: how a batch is cut into statements, and the Jobs built back from
the few columns the database decides."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from stratix_queue.backends.arguments import NewJob
from stratix_queue.backends.session import Session
from stratix_queue.clock import to_utc_once
from stratix_queue.errors import DatabaseError
from stratix_queue.job import STATUSES, Job, make_job

T = TypeVar("T")
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
                unique_key=job.unique_key,
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


# -- unique keys (docs/unique_tasks.md) -------------------------------------------------------

UNIQUE_ATTEMPTS = 5  # a holder that finishes between the insert and its read: insert again


class KeyedInserter(Protocol):
    """What insert_unique needs of a driver (SqlDriver and its subclasses)."""

    def _insert_keyed(self, session: Session, chunk: Sequence[NewJob]) -> list[tuple[Any, ...]]: ...

    def unique_holders(self, session: Session, keys: Sequence[str]) -> dict[str, Job]: ...

    def _transaction(self, body: Callable[[Session], T]) -> T: ...


def insert_unique(driver: KeyedInserter, jobs: Sequence[NewJob]) -> list[Job]:
    """Insert tasks some of which have a unique key, in the given order: a task whose key
    another task holds is not inserted, and its Job is the holder's, marked duplicate. Each key
    is sent once (a later task of the batch with the same key gets the first one's task); each
    try is one transaction: the inserts, then one read of the holders of the keys not inserted.
    A key whose holder finished in between (none is found) is inserted again."""
    first: dict[str, int] = {}
    sent = [
        i
        for i, job in enumerate(jobs)
        if job.unique_key is None or first.setdefault(job.unique_key, i) == i
    ]
    done: dict[int, Job] = {}
    for _ in range(UNIQUE_ATTEMPTS):
        batch = [jobs[i] for i in sent]
        found = driver._transaction(partial(_insert_unique_once, driver, batch))
        retry = []
        for i, job in zip(sent, found, strict=True):
            if job is None:
                retry.append(i)
            else:
                done[i] = job
        if not retry:
            break
        sent = retry
    else:
        raise DatabaseError(f"unique key(s) changed hands too often to add: {len(sent)} task(s)")
    for i, new in enumerate(jobs):
        if i not in done:  # a later task of the batch with the key of an earlier one
            done[i] = replace(done[first[str(new.unique_key)]], duplicate=True)
    return [done[i] for i in range(len(jobs))]


def _insert_unique_once(
    driver: KeyedInserter, jobs: Sequence[NewJob], session: Session
) -> list[Job | None]:
    """One try, in the caller's transaction: each task's Job (inserted, or the holder of its
    key marked duplicate), None where the key was held and its holder is gone since."""
    rows = [row for chunk in insert_chunks(jobs) for row in driver._insert_keyed(session, chunk)]
    by_key = {row[6]: row for row in rows if row[6] is not None}
    keyless = iter(sorted((row for row in rows if row[6] is None), key=lambda row: int(row[0])))
    inserted: list[tuple[NewJob, tuple[Any, ...]]] = []
    missing: list[str] = []
    for job in jobs:
        if job.unique_key is None:
            inserted.append((job, next(keyless)[:6]))
        elif job.unique_key in by_key:
            inserted.append((job, by_key[job.unique_key][:6]))
        else:
            missing.append(job.unique_key)
    built = iter(inserted_jobs([job for job, _ in inserted], [row for _, row in inserted]))
    holders = driver.unique_holders(session, missing) if missing else {}
    answer: list[Job | None] = []
    for job in jobs:
        if job.unique_key is None or job.unique_key in by_key:
            answer.append(next(built))
        else:
            holder = holders.get(job.unique_key)
            answer.append(None if holder is None else replace(holder, duplicate=True))
    return answer
