"""The :class:`Backend` protocol and :class:`SqlBackend`, the shared core that runs named SQL.

Each database module supplies its sessions, its error translation and a ``.sql`` file whose
blocks have the same names on every backend. A block may hold several statements (one per
``;``-terminated line); they run in one transaction. ``{ids}`` in a statement stands for the
list of ids given by the caller, or returned by the previous statement that returned rows.
"""

from __future__ import annotations

import json
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NoReturn, Protocol, TypeVar

from stratix_queue.backends.limits import UNLIMITED, Health, Limits
from stratix_queue.backends.session import Params, Pool, Result, Row, Session
from stratix_queue.backends.watchdog import WATCHDOG
from stratix_queue.clock import to_utc_once
from stratix_queue.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    StratixQueueError,
    TransientDatabaseError,
)
from stratix_queue.job import STATUSES, Job, claimed_jobs, make_job
from stratix_queue.params import (
    ClaimParams,
    ErrorData,
    JobFilter,
    NewJob,
    RetryLater,
    WorkerRecord,
)
from stratix_queue.sqlfile import split_statements
from stratix_queue.urls import DatabaseURL

T = TypeVar("T")
INSERT_CHUNK_ROWS = 500
INSERT_CHUNK_BYTES = 4 * 1024 * 1024
ID_CHUNK = 500
PRUNE_BATCH = 5000
LIST_MARKER = re.compile(r"\{(\w+)\}")  # a list parameter in a named block: {ids}, {groups}


class Backend(Protocol):
    """What the service layer needs from a database."""

    dialect: ClassVar[str]
    url: DatabaseURL
    health: Health
    limits: Limits

    def close(self) -> None: ...
    def use_limits(self, limits: Limits) -> None: ...
    def session(self) -> Any: ...
    def insert_jobs(self, jobs: Sequence[NewJob]) -> list[Job]: ...
    def get_job(self, job_id: int) -> Job | None: ...
    def list_failed(self, limit: int, offset: int) -> list[Job]: ...
    def failed_counts(self) -> tuple[dict[str, int], dict[str | None, int]]: ...
    def count_by_status(self) -> dict[str, int]: ...
    def retry_failed(self, ids: Sequence[int]) -> list[Row]: ...
    def claim(self, params: ClaimParams) -> list[Job]: ...
    def move_to_success(self, job: Job, execution_time_ms: int) -> bool: ...
    def mark_as_failed(self, job: Job, error: ErrorData) -> bool: ...
    def retry_later(self, job: Job, retry: RetryLater) -> bool: ...
    def give_back(self, job: Job) -> bool: ...
    def release_claim(self, lease_token: str) -> int: ...
    def promote_due(self) -> int: ...
    def any_waiting(self, groups: Sequence[str] | None) -> bool: ...
    def recently_prefetched(
        self, seconds: float, groups: Sequence[str] | None, worker_id: str
    ) -> bool: ...
    def current_version(self) -> int | None: ...
    def set_group_paused(self, group: str, paused: bool) -> int: ...
    def heartbeat(self, lease_seconds: float, leases: Sequence[tuple[int, str]]) -> int: ...
    def mark_started(self, leases: Sequence[tuple[int, str]]) -> int: ...
    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]: ...
    def rescue_expired(self, message: str, unstarted_message: str) -> list[Row]: ...
    def register_worker(self, record: WorkerRecord) -> None: ...
    def heartbeat_worker(self, worker_id: str) -> int: ...
    def unregister_worker(self, worker_id: str) -> None: ...
    def prune_workers(self, stale_seconds: float) -> int: ...
    def list_workers(self) -> list[Row]: ...
    def list_attempt_errors(self, job_id: int) -> list[Row]: ...
    def list_jobs(self, filters: JobFilter, limit: int, offset: int) -> list[Job]: ...
    def failed_by_code(self) -> dict[str | None, int]: ...
    def failed_ids(self, filters: JobFilter) -> list[int]: ...
    def group_overview(self) -> tuple[list[Row], set[str]]: ...
    def summary(self, window_seconds: float) -> Row: ...
    def prune_success(self, older_than_seconds: float, dry_run: bool) -> int: ...


@dataclass(frozen=True, slots=True)
class ScriptResult:
    rows: list[Row]
    rowcounts: list[int]


class _AbortError(Exception):
    """Roll the transaction back and report 'nothing changed'."""


class Borrowed:
    """A pooled session for one ``with`` block: driver errors come out translated, and the
    session goes back to the pool (after an error, only if a rollback works). A class rather
    than generator-based context managers: it is on the path of every statement."""

    __slots__ = ("_backend", "_session")

    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend

    def __enter__(self) -> Session:
        try:
            self._session = self._backend._pool.checkout()
        except StratixQueueError:
            raise
        except Exception as exc:
            self._backend._raise_translated(exc)
        return self._session

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self._backend._pool.checkin(self._session, failed=exc is not None)
        if isinstance(exc, Exception) and not isinstance(exc, StratixQueueError):
            self._backend._raise_translated(exc)


class SqlBackend(ABC):
    """Runs the named queries of one ``.sql`` file through a pool of sessions."""

    dialect: ClassVar[str]
    queries: ClassVar[dict[str, str]]
    transient_retries: ClassVar[int] = 10
    autocommit_statements: ClassVar[bool] = False  # one statement = one transaction (not SQLite)

    def __init__(self, url: DatabaseURL, limits: Limits | None = None) -> None:
        self.url = url
        self.limits = Limits() if limits is None else limits
        self.health = Health(url.where)
        self._pool = Pool(self._connect, self._pool_size())
        self._scripts = {name: split_statements(sql + ";") for name, sql in self.queries.items()}

    # -- what each database module supplies ------------------------------------------------

    @abstractmethod
    def _open_session(self, limits: Limits) -> Session:
        """A new connection with ``limits`` set on the server's side of it."""

    @abstractmethod
    def placeholder(self, name: str) -> str:
        """How a named parameter is written in this dialect's SQL."""

    @abstractmethod
    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        """The stratix_queue error for a driver error, or None if it is not one."""

    def _pool_size(self) -> int | None:
        return None

    def exists(self) -> bool:
        """Whether the database itself exists (a server database is assumed to)."""
        return True

    create_missing: bool = True

    def _param(self, value: Any) -> Any:
        return value

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def use_limits(self, limits: Limits) -> None:
        """Open the sessions from now on with ``limits`` (a server's pooled ones are closed; a
        file has no limits, and closing its last connection would checkpoint the WAL)."""
        if limits != self.limits and self.stale_connections:
            self.limits = limits
            self._pool.invalidate()

    def _connect(self, limits: Limits | None = None) -> Session:
        """A new session; on a server, watched for silence (watchdog.py)."""
        limits = self.limits if limits is None else limits
        opened_at = time.monotonic()
        session = self._open_session(limits)
        if self.stale_connections:
            session.opened_at = opened_at
            session.deadline = limits.deadline
            WATCHDOG.watch(session, self)
        return session

    def _on_silent(self, _session: Session, seconds: float) -> None:
        """A statement got no answer for ``seconds``: the watchdog shut its connection down and
        the others open since before it; the pool keeps none of them."""
        self.health.failed(
            "get an answer",
            f"no answer for {seconds:.1f} s (a silent network, proxy or pooler?); the "
            "connections open since then are closed",
        )
        self._pool.invalidate()

    def _raise_translated(self, exc: Exception) -> NoReturn:
        """Raise a driver error as the package's own (the original kept as ``__cause__``)."""
        translated = self.translate_error(exc)
        if translated is None:
            raise exc
        raise translated from exc

    def session(self) -> Borrowed:
        """A pooled session for a ``with`` block, with driver errors translated."""
        return Borrowed(self)

    @contextmanager
    def dedicated_session(self, limits: Limits | None = None) -> Iterator[Session]:
        """A session of its own, outside the pool, closed afterwards (e.g. for LISTEN; the
        migration runner's, without limits)."""
        try:
            session = self._connect(limits)
            try:
                yield session
            finally:
                with suppress(Exception):
                    session.close()
        except StratixQueueError:
            raise
        except Exception as exc:
            self._raise_translated(exc)

    def unlimited_session(self) -> AbstractContextManager[Session]:
        """A session without statement limits or watchdog deadline, for migrations (a file's
        sessions have none: SQLite's pooled one, the only one of an in-memory database)."""
        if not self.stale_connections:
            return self.session()
        return self.dedicated_session(UNLIMITED)

    def _read(self, name: str, params: Params | None = None) -> list[Row]:
        for attempt in range(2):
            try:
                with self.session() as session:
                    return session.run(self.queries[name], self._params(params)).rows
            except DatabaseUnavailableError:
                if attempt:  # a pooled connection may be stale after a server restart
                    raise
        raise AssertionError("unreachable")

    def _retry_transient(self, once: Callable[[], T]) -> T:
        """Call ``once`` again, with a short random backoff, while it fails transiently (a
        deadlock victim, a lock wait timeout, a busy SQLite file: the server rolled it back)."""
        for attempt in range(self.transient_retries):
            try:
                return once()
            except TransientDatabaseError:
                time.sleep(min(0.2, 0.005 * 2**attempt) * random.random())
        return once()

    def _transaction(self, body: Callable[[Session], T]) -> T:
        return self._retry_transient(lambda: self._in_transaction(body))

    def _in_transaction(self, body: Callable[[Session], T]) -> T:
        for stale_retry in (True, False):
            started = False
            try:
                with self.session() as session:
                    session.begin()
                    started = True
                    try:
                        result = body(session)
                    except _AbortError:
                        session.rollback()
                        raise
                    session.commit()
                    return result
            except DatabaseUnavailableError:
                if started or not stale_retry:  # only a stale connection failing at BEGIN
                    raise
        raise AssertionError("unreachable")

    def _params(self, params: Params | None) -> dict[str, Any]:
        return {key: self._param(value) for key, value in (params or {}).items()}

    def _expand_list(self, sql: str, key: str, items: Sequence[Any], values: dict[str, Any]) -> str:
        """Replace ``{key}`` with one placeholder per item (a row constructor ``(a, b)`` per
        tuple), adding their values to ``values``."""
        marks = []
        for i, item in enumerate(items):
            if isinstance(item, tuple):
                parts = [f"{key}_{i}_{j}" for j in range(len(item))]
                values.update(zip(parts, item, strict=True))
                marks.append("(" + ", ".join(map(self.placeholder, parts)) + ")")
            else:
                values[f"{key}_{i}"] = item
                marks.append(self.placeholder(f"{key}_{i}"))
        return sql.replace(f"{{{key}}}", ", ".join(marks))

    def _expand_lists(self, name: str, params: Params) -> tuple[list[str], dict[str, Any]] | None:
        """Block ``name``'s statements with their lists expanded: see ``_expand_statements``."""
        return self._expand_statements(self._scripts[name], params)

    def _expand_statements(
        self, statements: Sequence[str], params: Params
    ) -> tuple[list[str], dict[str, Any]] | None:
        """Each ``{key}`` in the statements becomes one placeholder per item of the list
        ``key``, or a row constructor ``(a, b)`` per tuple; with the values to bind, or None if
        a list is empty (nothing to do)."""
        values = self._params(params)
        markers = {key for statement in statements for key in LIST_MARKER.findall(statement)}
        lists = {key: list(values.pop(key)) for key in markers}
        if any(not items for items in lists.values()):
            return None
        expanded = []
        for statement in statements:
            for key, items in lists.items():
                statement = self._expand_list(statement, key, items, values)
            expanded.append(statement)
        return expanded, values

    def _run_script(
        self, session: Session, name: str, params: Params, ids: Sequence[int] | None = None
    ) -> ScriptResult:
        values = self._params(params)
        rows: list[Row] = []
        counts: list[int] = []
        current = list(ids) if ids is not None else None
        for statement in self._scripts[name]:
            lists: dict[str, list[Any]] = {
                key: list(current or []) if key == "ids" else list(values[key])
                for key in LIST_MARKER.findall(statement)
            }
            if any(not items for items in lists.values()):
                counts.append(0)  # an empty IN () list: nothing to do
                break
            sql = statement
            for key, items in lists.items():
                sql = self._expand_list(sql, key, items, values)
            result: Result = session.run(sql, values)
            counts.append(result.rowcount)
            if result.returned_rows:
                rows = result.rows
                current = [int(row["id"]) for row in rows if "id" in row]
        return ScriptResult(rows, counts)

    def _write(self, name: str, params: Params, ids: Sequence[int] | None = None) -> ScriptResult:
        return self._transaction(lambda session: self._run_script(session, name, params, ids))

    def _write_hot(
        self, name: str, params: Params, ids: Sequence[int] | None = None
    ) -> ScriptResult:
        """The worker's hot path: a one-statement block runs in autocommit (one round trip
        instead of BEGIN, statement, COMMIT) where a statement is its own transaction. A lost
        connection is raised, not retried: the worker knows how to recover (a claim's token is
        released, an outcome is written again, fenced)."""
        if not self.autocommit_statements or len(self._scripts[name]) != 1:
            return self._write(name, params, ids)

        def once() -> ScriptResult:
            with self.session() as session:
                return self._run_script(session, name, params, ids)

        return self._retry_transient(once)

    def _fenced_write(self, name: str, job: Job, extra: Params) -> bool:
        """A write about one job that applies only if the row is as the Job was read."""
        params = {
            "id": job.id,
            "status": job.status.value,
            "lease_token": job.lease_token,
            **extra,
        }

        def body(session: Session) -> bool:
            counts = self._run_script(session, name, params).rowcounts
            if not counts or any(count != 1 for count in counts):
                raise _AbortError
            return True

        try:
            return self._transaction(body)
        except _AbortError:
            return False

    # -- operations -------------------------------------------------------------------------

    def insert_jobs(self, jobs: Sequence[NewJob]) -> list[Job]:
        """Insert tasks, all or none; their Jobs come back in the given order.

        A chunk is one statement, which also wakes listening workers (PostgreSQL). When the
        whole batch is one chunk it runs in autocommit (one round trip, no BEGIN/COMMIT) on a
        connection the server answered on within the last second; otherwise in a transaction,
        whose BEGIN meets a stale pooled connection before anything is sent and is retried on a
        new one. Several chunks run in one transaction.
        """
        if not jobs:
            return []
        if len(jobs) == 1:  # add_task: no chunking
            statements = [self._insert_statement(jobs)]
        else:
            statements = [self._insert_statement(chunk) for chunk in _insert_chunks(jobs)]

        def body(session: Session) -> list[tuple[Any, ...]]:
            return [row for sql, params in statements for row in _run_insert(session, sql, params)]

        rows: list[tuple[Any, ...]] | None = None
        if len(statements) == 1:
            rows = self._retry_transient(lambda: self._insert_autocommit(*statements[0]))
        if rows is None:
            rows = self._transaction(body)
        return _inserted_jobs(jobs, rows)

    notifies: ClassVar[bool] = False  # PostgreSQL: the insert NOTIFYs listening workers
    # Where nothing notifies: seconds between two reads of the change_marker block by an idle
    # worker's watcher thread (listener.ChangeWatcher); None: no watcher.
    change_watch_interval: ClassVar[float | None] = None
    stale_connections: ClassVar[bool] = True  # a server can drop a pooled connection; a file not

    def _insert_autocommit(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        """The insert as a statement of its own, or None if the server has not answered on the
        pooled connection lately (it may be stale: the caller then opens a transaction)."""
        with self.session() as session:
            if self.stale_connections and not session.fresh():
                return None
            return _run_insert(session, sql, params)

    def _insert_statement(self, chunk: Sequence[NewJob]) -> tuple[str, dict[str, Any]]:
        """One task: ``insert_job_row`` with named parameters. More: ``insert_jobs`` with the
        tasks as one JSON parameter (the same statement text, and plan, at any size)."""
        if len(chunk) == 1:
            job = chunk[0]
            return self.queries["insert_job_row"], {
                "name": job.name,
                "executor": job.executor,
                "group": job.group,
                "payload": job.payload_json,
                "priority": job.priority,
                "max_attempts": job.max_attempts,
                "delayed": job.delayed,
                "run_at": self._param(job.run_at),
                "delay": job.delay_seconds,
                "timeout": job.timeout_seconds,
            }
        tasks = [
            [
                job.name,
                job.executor,
                job.group,
                job.payload_json,
                job.priority,
                job.max_attempts,
                1 if job.delayed else 0,
                None if job.run_at is None else self._json_time(job.run_at),
                job.delay_seconds,
                job.timeout_seconds,
            ]
            for job in chunk
        ]
        return self.queries["insert_jobs"], {"tasks": _TASKS_JSON.encode(tasks)}

    def _json_time(self, value: datetime) -> str:
        """A naive UTC time as text in a JSON parameter, as this database stores it."""
        stored = self._param(value)
        return stored if isinstance(stored, str) else value.isoformat(sep=" ")

    def get_job(self, job_id: int) -> Job | None:
        rows = self._read("get_job", {"id": job_id})
        return Job.from_row(rows[0]) if rows else None

    def list_failed(self, limit: int, offset: int) -> list[Job]:
        rows = self._read("list_failed", {"limit": limit, "offset": offset})
        return [Job.from_row(row) for row in rows]

    def failed_counts(self) -> tuple[dict[str, int], dict[str | None, int]]:
        by_executor = {row["key"]: int(row["count"]) for row in self._read("failed_by_executor")}
        by_group = {row["key"]: int(row["count"]) for row in self._read("failed_by_group")}
        return by_executor, by_group

    def count_by_status(self) -> dict[str, int]:
        return {row["status"]: int(row["count"]) for row in self._read("count_by_status")}

    def retry_failed(self, ids: Sequence[int]) -> list[Row]:
        reset: list[Row] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            reset.extend(self._write("retry_failed", {}, chunk).rows)
        return reset

    def claim(self, params: ClaimParams) -> list[Job]:
        """Claim up to ``params.limit`` tasks, in claim order. A row that cannot be read as a
        task (a payload another client wrote that is not JSON) comes back as a Job whose payload
        is an :class:`Unreadable`: the worker fails it without running it."""
        jobs = self._claimed_jobs(
            "claim_jobs" if params.groups is None else "claim_jobs_in_groups",
            {
                "worker_id": params.worker_id,
                "lease_token": params.lease_token,
                "limit": params.limit,
                "lease_seconds": params.lease_seconds,
                "groups": list(params.groups or ()),
            },
        )
        return sorted(jobs, key=_claim_order)

    def _claimed_jobs(self, name: str, params: Params) -> list[Job]:
        rows = self._write_hot(name, params).rows  # columns in the order of CLAIMED_COLUMNS
        return claimed_jobs(
            (tuple(row.values()) for row in rows), params["worker_id"], params["lease_token"]
        )

    def move_to_success(self, job: Job, execution_time_ms: int) -> bool:
        return self._fenced_write("move_to_success", job, {"execution_time": execution_time_ms})

    def mark_as_failed(self, job: Job, error: ErrorData) -> bool:
        return self._fenced_write(
            "mark_as_failed",
            job,
            {"message": error.message, "stack": error.stack, "code": error.code},
        )

    def retry_later(self, job: Job, retry: RetryLater) -> bool:
        return self._fenced_write(
            "retry_later",
            job,
            {
                "message": retry.error.message,
                "stack": retry.error.stack,
                "code": retry.error.code,
                "delay": retry.delay_seconds,
            },
        )

    def give_back(self, job: Job) -> bool:
        return self._fenced_write("give_back", job, {})

    def release_claim(self, lease_token: str) -> int:
        return self._write("release_claim", {"lease_token": lease_token}).rowcounts[0]

    def heartbeat(self, lease_seconds: float, leases: Sequence[tuple[int, str]]) -> int:
        renewed = 0
        for start in range(0, len(leases), ID_CHUNK):
            chunk = leases[start : start + ID_CHUNK]
            params = {"lease_seconds": lease_seconds, "tokens": sorted({t for _, t in chunk})}
            ids = [job_id for job_id, _ in chunk]
            renewed += self._write_hot("heartbeat_jobs", params, ids).rowcounts[-1]
        return renewed

    def mark_started(self, leases: Sequence[tuple[int, str]]) -> int:
        """Record that slots started these claimed tasks ((id, lease_token) pairs); how many
        are still held under those tokens (marked now or before)."""
        marked = 0
        for start in range(0, len(leases), ID_CHUNK):
            chunk = sorted(set(leases[start : start + ID_CHUNK]))  # rows locked in id order
            ids = [job_id for job_id, _ in chunk]
            marked += self._write_hot("mark_started", {"leases": chunk}, ids).rowcounts[-1]
        return marked

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """Move finished tasks to queue_success in one transaction; returns the ids moved
        (a task whose lease was lost meanwhile is left alone)."""
        items = json.dumps([[job.id, job.lease_token, ms] for job, ms in done])
        return self._moved_ids({"items": items})

    def _moved_ids(self, params: Params) -> set[int]:
        return {int(row["id"]) for row in self._write_hot("move_many_to_success", params).rows}

    def rescue_expired(self, message: str, unstarted_message: str) -> list[Row]:
        params = {"message": message, "unstarted_message": unstarted_message}
        return self._write("rescue_expired", params).rows

    def register_worker(self, record: WorkerRecord) -> None:
        self._write(
            "register_worker",
            {
                "worker_id": record.worker_id,
                "hostname": record.hostname,
                "pid": record.pid,
                "concurrency": record.concurrency,
                "group_names": record.group_names,
            },
        )

    def heartbeat_worker(self, worker_id: str) -> int:
        return self._write("heartbeat_worker", {"worker_id": worker_id}).rowcounts[-1]

    def unregister_worker(self, worker_id: str) -> None:
        self._write("unregister_worker", {"worker_id": worker_id})

    def prune_workers(self, stale_seconds: float) -> int:
        return self._write("prune_workers", {"stale_seconds": stale_seconds}).rowcounts[-1]

    def list_workers(self) -> list[Row]:
        return self._read("list_workers")

    def list_attempt_errors(self, job_id: int) -> list[Row]:
        return self._read("list_attempt_errors", {"id": job_id})

    def list_jobs(self, filters: JobFilter, limit: int, offset: int) -> list[Job]:
        params = {**filters.params(), "limit": limit, "offset": offset}
        return [Job.from_row(row) for row in self._read("list_jobs", params)]

    def failed_by_code(self) -> dict[str | None, int]:
        return {row["key"]: int(row["count"]) for row in self._read("failed_by_code")}

    def failed_ids(self, filters: JobFilter) -> list[int]:
        return [int(row["id"]) for row in self._read("failed_ids", filters.params())]

    def group_overview(self) -> tuple[list[Row], set[str]]:
        paused = {row["group_name"] for row in self._read("paused_groups")}
        return self._read("group_counts"), paused

    def summary(self, window_seconds: float) -> Row:
        return self._read("queue_summary", {"window_seconds": window_seconds})[0]

    def prune_success(self, older_than_seconds: float, dry_run: bool) -> int:
        params = {"older_than": older_than_seconds, "batch": PRUNE_BATCH}
        if dry_run:
            return int(self._read("count_prunable", params)[0]["count"])
        pruned = 0
        while True:
            count = self._write("prune_success", params).rowcounts[-1]
            pruned += count
            if count < PRUNE_BATCH:
                self._write("prune_attempt_errors", params)
                return pruned

    def promote_due(self) -> int:
        return self._write("promote_due", {}).rowcounts[-1]

    def any_waiting(self, groups: Sequence[str] | None) -> bool:
        """Whether a task (of these groups) is waiting to be claimed."""
        name = "any_waiting" if groups is None else "any_waiting_in_groups"
        with self.session() as session:
            return bool(self._run_script(session, name, {"groups": list(groups or ())}).rows)

    def current_version(self) -> int | None:
        """The newest migration recorded in the version table (None: none recorded)."""
        version = self._read("current_version")[0]["version"]
        return None if version is None else int(version)

    def recently_prefetched(
        self, seconds: float, groups: Sequence[str] | None, worker_id: str
    ) -> bool:
        """Whether a task (of these groups) that another worker than ``worker_id`` claimed
        less than ``seconds`` ago has not run for long: it may still wait in its buffer."""
        name = "recently_prefetched" if groups is None else "recently_prefetched_in_groups"
        params = {"seconds": seconds, "groups": list(groups or ()), "worker_id": worker_id}
        with self.session() as session:
            return bool(self._run_script(session, name, params).rows)

    def set_group_paused(self, group: str, paused: bool) -> int:
        name = "pause_group" if paused else "resume_group"
        return self._write(name, {"group": group}).rowcounts[-1]


def _claim_order(job: Job) -> tuple[int, datetime, int]:
    """Higher priority first, then earlier run_at, then id (a row whose run_at cannot be read
    sorts first: it is failed at once, not run)."""
    return (-job.priority, job.run_at or _EARLIEST, job.id)


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _insert_chunks(jobs: Sequence[NewJob]) -> Iterator[Sequence[NewJob]]:
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


# -- the insert path's helpers --------------------------------------------------------------

ALONE_PAYLOAD_CHARS = 16 * 1024  # past this, unescaping it from the JSON list costs more
_TASKS_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_PAYLOAD = json.JSONDecoder()


def _run_insert(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one insert statement; its rows (the columns of insert_jobs' RETURNING, in order) in
    id order, which is the order of the tasks."""
    rows = session.rows(sql, params)
    if len(rows) > 1:
        rows.sort(key=lambda row: int(row[0]))
    return rows


def _inserted_jobs(jobs: Sequence[NewJob], rows: Sequence[Sequence[Any]]) -> list[Job]:
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


def wrap_unexpected(exc: Exception) -> DatabaseError:
    return DatabaseError(f"database error: {exc}")
