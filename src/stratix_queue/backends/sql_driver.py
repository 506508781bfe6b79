""":class:`SqlDriver`: the :class:`~stratix_queue.backends.driver.Driver` methods as they run on
every SQL database, over the named queries of the database's ``queries.sql``.

Each named query is one statement. An operation of several statements names them in order, in
Python, here or in the database's package where its statements differ. ``{key}`` in a query
stands for the list ``params[key]``: one placeholder per item, or a row constructor per tuple.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, NoReturn, TypeVar

from stratix_queue.backends.arguments import (
    ClaimParams,
    ErrorData,
    JobFilter,
    NewJob,
    RetryLater,
    WorkerRecord,
)
from stratix_queue.backends.driver import Capabilities
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
from stratix_queue.sqlfile import load_queries
from stratix_queue.urls import DatabaseURL

T = TypeVar("T")
INSERT_CHUNK_ROWS = 500
INSERT_CHUNK_BYTES = 4 * 1024 * 1024
ID_CHUNK = 500
PRUNE_BATCH = 5000
TRANSIENT_RETRIES = 10
LIST_MARKER = re.compile(r"\{(\w+)\}")  # a list parameter in a named query: {ids}, {groups}
# The columns of insert_jobs / insert_job_row, in this order (decoded by position: the insert
# path builds Jobs from them without looking names up).
INSERTED_COLUMNS = ("id", "status", "created_at", "run_at", "updated_at", "timeout_seconds")


class _AbortError(Exception):
    """Roll the transaction back and report 'nothing changed'."""


class Borrowed:
    """A pooled session for one ``with`` block: driver errors come out translated, and the
    session goes back to the pool (after an error, only if a rollback works). A class rather
    than generator-based context managers: it is on the path of every statement."""

    __slots__ = ("_backend", "_session")

    def __init__(self, backend: SqlDriver) -> None:
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


class SqlDriver(ABC):
    """The shared implementation; a database's package subclasses it with its sessions, its
    error translation and the operations whose statements differ there."""

    dialect: ClassVar[str]
    package_dir: ClassVar[str]  # the database's package: queries.sql and migrations/
    capabilities: ClassVar[Capabilities]

    def __init__(self, url: DatabaseURL, limits: Limits | None = None) -> None:
        self.url = url
        self.limits = Limits() if limits is None else limits
        self.health = Health(url.where)
        self.queries = load_queries(self.package_dir)
        self.migrations_dir = os.path.join(self.package_dir, "migrations")
        self._lists = {name: tuple(LIST_MARKER.findall(sql)) for name, sql in self.queries.items()}
        self._pool = Pool(self._connect, self._pool_size())

    # -- what each database's package supplies ---------------------------------------------

    @abstractmethod
    def _open_session(self, limits: Limits, create: bool) -> Session:
        """A new connection with ``limits`` set on the server's side of it; ``create``: it may
        create the database (a SQLite file: only migrating does)."""

    @abstractmethod
    def placeholder(self, name: str) -> str:
        """How a named parameter is written in this database's SQL."""

    @abstractmethod
    def translate_error(self, exc: Exception) -> StratixQueueError | None:
        """The stratix_queue error for a driver error, or None if it is not one."""

    def _pool_size(self) -> int | None:
        return None

    def database_exists(self) -> bool:
        """Whether the database itself exists (a server's is assumed to)."""
        return True

    def _param(self, value: Any) -> Any:
        return value

    # -- sessions ---------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def use_limits(self, limits: Limits) -> None:
        """Open the sessions from now on with ``limits`` (a server's pooled ones are closed; a
        file has no limits, and closing its last connection would checkpoint the WAL)."""
        if limits != self.limits and self.capabilities.server:
            self.limits = limits
            self._pool.invalidate()

    def _connect(self, limits: Limits | None = None, create: bool = False) -> Session:
        """A new session; on a server, watched for silence (watchdog.py)."""
        limits = self.limits if limits is None else limits
        opened_at = time.monotonic()
        session = self._open_session(limits, create)
        if self.capabilities.server:
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

    def _session(self) -> Borrowed:
        """A pooled session for a ``with`` block, with driver errors translated."""
        return Borrowed(self)

    @contextmanager
    def dedicated_session(
        self, limits: Limits | None = None, create: bool = False
    ) -> Iterator[Session]:
        """A session of its own, outside the pool, closed afterwards (for LISTEN, a change
        watcher, migrations)."""
        try:
            session = self._connect(limits, create)
            try:
                yield session
            finally:
                with suppress(Exception):
                    session.close()
        except StratixQueueError:
            raise
        except Exception as exc:
            self._raise_translated(exc)

    def migration_session(self) -> AbstractContextManager[Session]:
        """A session without statement limits or watchdog deadline (an ALTER TABLE may take
        minutes) that may create the database (a SQLite file). A file's pooled session has no
        limits, and is the only one of an in-memory database."""
        if not self.capabilities.server:
            return self._file_migration_session()
        return self.dedicated_session(UNLIMITED)

    @contextmanager
    def _file_migration_session(self) -> Iterator[Session]:
        if not self.database_exists():
            with self.dedicated_session(create=True):
                pass  # creates the file, with the page size and WAL of a new database
        with self._session() as session:
            yield session

    # -- running named statements -------------------------------------------------------------

    def _bind(self, name: str, params: Params | None) -> tuple[str, dict[str, Any]] | None:
        """Query ``name`` with its lists expanded, and the values to bind; None if a list is
        empty (an ``IN ()`` would match nothing: nothing to do)."""
        sql = self.queries[name]
        values = {key: self._param(value) for key, value in (params or {}).items()}
        for key in self._lists[name]:
            items = list(values.pop(key))
            if not items:
                return None
            sql = self._expand_list(sql, key, items, values)
        return sql, values

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

    def _run(self, session: Session, name: str, params: Params | None = None) -> Result:
        """Run query ``name`` on ``session``; an empty list parameter runs nothing."""
        bound = self._bind(name, params)
        if bound is None:
            return Result()
        return session.run(*bound)

    def _read(self, name: str, params: Params | None = None) -> list[Row]:
        for attempt in range(2):
            try:
                with self._session() as session:
                    return self._run(session, name, params).rows
            except DatabaseUnavailableError:
                if attempt:  # a pooled connection may be stale after a server restart
                    raise
        raise AssertionError("unreachable")

    def _write(self, name: str, params: Params | None = None) -> Result:
        """One statement in a transaction of its own, retried while contended."""
        return self._transaction(lambda session: self._run(session, name, params))

    def _retry_transient(self, once: Callable[[], T]) -> T:
        """Call ``once`` again, with a short random backoff, while it fails transiently (a
        deadlock victim, a lock wait timeout, a busy SQLite file: the server rolled it back).
        Not for outcomes: the worker's outcome writer has its own policy (outcomes.py)."""
        for attempt in range(TRANSIENT_RETRIES):
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
                with self._session() as session:
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

    def _single(self, body: Callable[[Session], T]) -> T:
        """The worker's hot path, one statement: in autocommit where a statement is its own
        transaction (one round trip instead of BEGIN, statement, COMMIT; not SQLite, whose writes
        take BEGIN IMMEDIATE). A lost connection is raised, not retried: the worker recovers (a
        claim is released by its token, an outcome written again, fenced)."""
        if not self.capabilities.server:
            return self._in_transaction(body)
        with self._session() as session:
            return body(session)

    def _fenced(self, job: Job, names: Sequence[str], extra: Params) -> bool:
        """Statements about one job, in one transaction, that apply only if the row is as the
        Job was read: each must touch exactly one row, or all roll back."""
        params = {"id": job.id, "status": job.status.value, "lease_token": job.lease_token, **extra}

        def body(session: Session) -> bool:
            for name in names:
                if self._run(session, name, params).rowcount != 1:
                    raise _AbortError
            return True

        try:
            return self._in_transaction(body)
        except _AbortError:
            return False

    # -- tasks --------------------------------------------------------------------------------

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

    def _insert_autocommit(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        """The insert as a statement of its own, or None if the server has not answered on the
        pooled connection lately (it may be stale: the caller then opens a transaction)."""
        with self._session() as session:
            if self.capabilities.server and not session.fresh():
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

    def claim(self, params: ClaimParams) -> list[Job]:
        """Claim up to ``params.limit`` tasks, in claim order. A row that cannot be read as a
        task (a payload another client wrote that is not JSON) comes back as a Job whose payload
        is an :class:`Unreadable`: the worker fails it without running it."""
        rows = self._claimed_rows(params)
        jobs = claimed_jobs(rows, params.worker_id, params.lease_token)
        return sorted(jobs, key=_claim_order)

    def _claimed_rows(self, params: ClaimParams) -> list[tuple[Any, ...]]:
        """The claimed rows, as tuples of job.CLAIMED_COLUMNS: one UPDATE ... RETURNING."""
        bound = self._bind(
            "claim_jobs" if params.groups is None else "claim_jobs_in_groups",
            _claim_values(params),
        )
        if bound is None:
            return []  # no group to claim from
        return self._retry_transient(lambda: self._single(lambda s: s.rows(*bound)))

    def release_claim(self, lease_token: str) -> int:
        return self._write("release_claim", {"lease_token": lease_token}).rowcount

    def mark_started(self, leases: Sequence[tuple[int, str]]) -> int:
        """Record that slots started these claimed tasks ((id, lease_token) pairs); how many
        are still held under those tokens (marked now or before)."""
        marked = 0
        for start in range(0, len(leases), ID_CHUNK):
            chunk = sorted(set(leases[start : start + ID_CHUNK]))  # rows locked in id order
            params = {"ids": [job_id for job_id, _ in chunk], "leases": chunk}
            marked += self._hot_write("mark_started", params)
        return marked

    def heartbeat(self, lease_seconds: float, leases: Sequence[tuple[int, str]]) -> int:
        """Renew the leases ((id, lease_token) pairs) still held under their tokens."""
        renewed = 0
        for start in range(0, len(leases), ID_CHUNK):
            chunk = sorted(set(leases[start : start + ID_CHUNK]))  # rows locked in id order
            params = {
                "lease_seconds": lease_seconds,
                "ids": [job_id for job_id, _ in chunk],
                "leases": chunk,
            }
            renewed += self._hot_write("heartbeat_jobs", params)
        return renewed

    def _hot_write(self, name: str, params: Params) -> int:
        """One statement of the worker's, in autocommit where it can be; its row count."""
        return self._retry_transient(
            lambda: self._single(lambda s: self._run(s, name, params).rowcount)
        )

    def promote_due(self) -> int:
        """Tasks of paused groups left runnable become paused (an insert that raced the pause),
        then the delayed tasks that fell due become waiting; how many did."""

        def body(session: Session) -> int:
            self._run(session, "pause_jobs_of_paused_groups")
            return self._run(session, "promote_due").rowcount

        return self._transaction(body)

    def any_waiting(self, groups: Sequence[str] | None) -> bool:
        """Whether a task (of these groups) is waiting to be claimed."""
        if groups is None:
            return bool(self._read("any_waiting"))
        return bool(self._read("any_waiting_in_groups", {"groups": list(groups)}))

    def recently_prefetched(
        self, seconds: float, groups: Sequence[str] | None, worker_id: str
    ) -> bool:
        """Whether a task (of these groups) that another worker than ``worker_id`` claimed
        less than ``seconds`` ago has not run for long: it may still wait in its buffer."""
        params = {"seconds": seconds, "worker_id": worker_id}
        if groups is None:
            return bool(self._read("recently_prefetched", params))
        return bool(self._read("recently_prefetched_in_groups", {**params, "groups": list(groups)}))

    def rescue_expired(self, message: str, unstarted_message: str) -> list[Row]:
        """Take back the tasks whose lease ran out: the rows as they were before."""
        params = {"message": message, "unstarted_message": unstarted_message}

        def body(session: Session) -> list[Row]:
            expired = self._run(session, "pick_expired").rows
            ids = [int(row["id"]) for row in expired]
            self._run(session, "record_lost_attempts", {**params, "ids": ids})
            self._run(session, "rescue_jobs", {**params, "ids": ids})
            return expired

        return self._transaction(body)

    # -- outcomes -----------------------------------------------------------------------------

    def move_to_success(self, job: Job, execution_time_ms: int) -> bool:
        """The row leaves queue_jobs and enters queue_success in one transaction."""
        extra = {"execution_time": execution_time_ms}
        return self._fenced(job, ("copy_to_success", "delete_succeeded"), extra)

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """Move finished tasks to queue_success in one statement; the ids moved (a task whose
        lease was lost meanwhile is left alone)."""
        items = _success_items(done)
        rows = self._single(lambda s: self._run(s, "move_many_to_success", {"items": items}).rows)
        return {int(row["id"]) for row in rows}

    def mark_as_failed(self, job: Job, error: ErrorData) -> bool:
        """Failed in place with its error; the attempt joins the history (both fenced)."""
        params = {"message": error.message, "stack": error.stack, "code": error.code}
        return self._fenced(job, ("record_attempt_error", "mark_as_failed"), params)

    def retry_later(self, job: Job, retry: RetryLater) -> bool:
        """Back to delayed for another attempt; the attempt joins the history (both fenced)."""
        params = {
            "message": retry.error.message,
            "stack": retry.error.stack,
            "code": retry.error.code,
            "delay": retry.delay_seconds,
        }
        return self._fenced(job, ("record_attempt_error", "retry_later"), params)

    def give_back(self, job: Job) -> bool:
        return self._fenced(job, ("give_back",), {})

    # -- operators ------------------------------------------------------------------------------

    def list_failed(self, limit: int, offset: int) -> list[Job]:
        rows = self._read("list_failed", {"limit": limit, "offset": offset})
        return [Job.from_row(row) for row in rows]

    def failed_counts(self) -> tuple[dict[str, int], dict[str | None, int]]:
        by_executor = {row["key"]: int(row["count"]) for row in self._read("failed_by_executor")}
        by_group = {row["key"]: int(row["count"]) for row in self._read("failed_by_group")}
        return by_executor, by_group

    def failed_by_code(self) -> dict[str | None, int]:
        return {row["key"]: int(row["count"]) for row in self._read("failed_by_code")}

    def failed_ids(self, filters: JobFilter) -> list[int]:
        return [int(row["id"]) for row in self._read("failed_ids", filters.params())]

    def count_by_status(self) -> dict[str, int]:
        return {row["status"]: int(row["count"]) for row in self._read("count_by_status")}

    def list_jobs(self, filters: JobFilter, limit: int, offset: int) -> list[Job]:
        params = {**filters.params(), "limit": limit, "offset": offset}
        return [Job.from_row(row) for row in self._read("list_jobs", params)]

    def list_attempt_errors(self, job_id: int) -> list[Row]:
        return self._read("list_attempt_errors", {"id": job_id})

    def retry_failed(self, ids: Sequence[int]) -> list[Row]:
        """Failed tasks back to waiting (or paused); the rows reset (id, job_name, executor)."""
        reset: list[Row] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = list(ids[start : start + ID_CHUNK])
            reset.extend(self._transaction(partial(self._reset_failed, ids=chunk)))
        return reset

    def _reset_failed(self, session: Session, ids: list[int]) -> list[Row]:
        return self._run(session, "retry_failed", {"ids": ids}).rows

    def set_group_paused(self, group: str, paused: bool) -> int:
        """Pause (or resume) a group and its runnable tasks; how many tasks changed."""
        names = (
            ("pause_group", "pause_group_jobs") if paused else ("resume_group", "resume_group_jobs")
        )

        def body(session: Session) -> int:
            self._run(session, names[0], {"group": group})
            return self._run(session, names[1], {"group": group}).rowcount

        return self._transaction(body)

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
            count = self._write("prune_success", params).rowcount
            pruned += count
            if count < PRUNE_BATCH:
                self._write("prune_attempt_errors", params)
                return pruned

    # -- workers --------------------------------------------------------------------------------

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
        return self._write("heartbeat_worker", {"worker_id": worker_id}).rowcount

    def unregister_worker(self, worker_id: str) -> None:
        self._write("unregister_worker", {"worker_id": worker_id})

    def prune_workers(self, stale_seconds: float) -> int:
        return self._write("prune_workers", {"stale_seconds": stale_seconds}).rowcount

    def list_workers(self) -> list[Row]:
        return self._read("list_workers")

    # -- wake-ups -------------------------------------------------------------------------------

    def listen(self, session: Session) -> None:
        raise NotImplementedError(f"{self.dialect} wakes workers with a change marker")

    def ping(self, session: Session) -> None:
        self._run(session, "ping")

    def change_marker(self, session: Session) -> Row:
        return self._run(session, "change_marker").rows[0]

    # -- migrations -----------------------------------------------------------------------------

    def current_version(self) -> int | None:
        """The newest migration recorded in the version table (None: none recorded)."""
        version = self._read("current_version")[0]["version"]
        return None if version is None else int(version)

    def table_exists(self, session: Session, table: str) -> bool:
        return bool(self._run(session, "table_exists", {"table": table}).rows)

    def column_exists(self, session: Session, table: str, column: str) -> bool:
        params = {"table": table, "column": column}
        return bool(self._run(session, "column_exists", params).rows)

    def applied_migrations(self, session: Session, with_method: bool) -> list[Row]:
        name = "applied_migrations" if with_method else "applied_migrations_without_method"
        return self._run(session, name).rows

    def version_table_sql(self) -> str:
        return self.queries["create_migrations_table"]

    def add_method_column_sql(self) -> str:
        return self.queries["add_migrations_method"]

    def lock_migrations(self, session: Session) -> None:
        self._run(session, "lock_migrations")

    def unlock_migrations(self, session: Session) -> None:
        self._run(session, "unlock_migrations")

    def record_migration(self, session: Session, version: int, name: str, method: str) -> None:
        params = {"version": version, "name": name, "method": method}
        self._run(session, "record_migration", params)

    def forget_migration(self, session: Session, version: int) -> None:
        self._run(session, "forget_migration", {"version": version})


def _success_items(done: Sequence[tuple[Job, int]]) -> str:
    """The batch as JSON [[id, lease_token, ms], ...], a task listed twice once (its last)."""
    latest = {job.id: [job.id, job.lease_token, ms] for job, ms in done}
    return json.dumps(list(latest.values()))


def _claim_values(params: ClaimParams) -> dict[str, Any]:
    return {
        "worker_id": params.worker_id,
        "lease_token": params.lease_token,
        "limit": params.limit,
        "lease_seconds": params.lease_seconds,
        "groups": list(params.groups or ()),
    }


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
