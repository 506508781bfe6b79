""":class:`SqlDriver`: the :class:`~stratix_queue.backends.driver.Driver` operations as they run
on every SQL database, over the named queries of the database's ``queries.sql``. An operation of
several statements names them in order here, or in a database's ``driver.py`` where they
differ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.action_ops import ActionOps
from stratix_queue.backends.arguments import (
    ClaimParams,
    ErrorData,
    JobFilter,
    NewJob,
    RetryLater,
    WorkerRecord,
)
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.group_ops import GroupOps
from stratix_queue.backends.insert_path import (
    insert_chunks,
    insert_unique,
    inserted_jobs,
    run_insert,
    task_row,
    tasks_json,
)
from stratix_queue.backends.ledger_core import FailureKey, counted
from stratix_queue.backends.schedule_ops import ScheduleOps
from stratix_queue.backends.session import Params, Row, Session
from stratix_queue.backends.success_ledger import SuccessLedger
from stratix_queue.backends.triage_ops import TriageOps
from stratix_queue.job import Job, claimed_jobs
from stratix_queue.retention import Prunable, sweep
from stratix_queue.rollups import bucket_of

if TYPE_CHECKING:
    from stratix_queue.backends.action_args import Audit
    from stratix_queue.failure_filter import FailureFilter

ID_CHUNK = 500
PRUNE_BATCH = 5000


class SqlDriver(ActionOps, TriageOps, SuccessLedger, GroupOps, ScheduleOps):
    """The shared operations; a database's package subclasses it with its sessions, its error
    translation and the operations whose statements differ there."""

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
        if any(job.unique_key is not None for job in jobs):
            return insert_unique(self, jobs)  # docs/unique_tasks.md
        if len(jobs) == 1:  # add_task: no chunking
            statements = [self._insert_statement(jobs)]
        else:
            statements = [self._insert_statement(chunk) for chunk in insert_chunks(jobs)]

        def body(session: Session) -> list[tuple[Any, ...]]:
            return [row for sql, params in statements for row in run_insert(session, sql, params)]

        rows: list[tuple[Any, ...]] | None = None
        if len(statements) == 1:
            rows = self._retry_transient(lambda: self._insert_autocommit(*statements[0]))
        if rows is None:
            rows = self._transaction(body)
        return inserted_jobs(jobs, rows)

    def _insert_autocommit(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        """The insert as a statement of its own, or None if the server has not answered on the
        pooled connection lately (it may be stale: the caller then opens a transaction)."""
        with self._session() as session:
            if self.capabilities.server and not session.fresh():
                return None
            return run_insert(session, sql, params)

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
            task_row(job, None if job.run_at is None else self._json_time(job.run_at))
            for job in chunk
        ]
        return self.queries["insert_jobs"], {"tasks": tasks_json(tasks)}

    def _insert_keyed(self, session: Session, chunk: Sequence[NewJob]) -> list[tuple[Any, ...]]:
        """``insert_jobs_unique`` for a chunk whose keys are all different: the rows of the
        tasks inserted (INSERTED_COLUMNS and unique_key); a task whose key is held has none."""
        sql, params = self._keyed_statement(chunk)
        return session.rows(sql, params)

    def _keyed_statement(self, chunk: Sequence[NewJob]) -> tuple[str, dict[str, Any]]:
        tasks = [
            [
                *task_row(job, None if job.run_at is None else self._json_time(job.run_at)),
                job.unique_key,
                1 if job.unique_while_failed else 0,
            ]
            for job in chunk
        ]
        return self.queries["insert_jobs_unique"], {"tasks": tasks_json(tasks)}

    def unique_holders(self, session: Session, keys: Sequence[str]) -> dict[str, Job]:
        """The tasks holding these unique keys, by key."""
        rows = self._run(session, "unique_holders", {"keys": sorted(set(keys))}).rows
        jobs = [Job.from_row(row) for row in rows]
        return {job.unique_key: job for job in jobs if job.unique_key is not None}

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
        if params.executors is None:
            params = replace(params, executors=tuple(sorted(self.waiting_executors())))
        rows = self._claimed_rows(params)
        jobs = claimed_jobs(rows, params.worker_id, params.lease_token)
        return sorted(jobs, key=_claim_order)

    def _claimed_rows(self, params: ClaimParams) -> list[tuple[Any, ...]]:
        """The claimed rows, as tuples of job.CLAIMED_COLUMNS: one UPDATE ... RETURNING."""
        if not params.executors:
            return []  # nothing it could run
        bound = self._bind(
            "claim_jobs" if params.groups is None else "claim_jobs_in_groups",
            claim_values(params),
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

    def any_waiting(self, groups: Sequence[str] | None, executors: Sequence[str]) -> bool:
        """Whether a task of these executors (and groups) is waiting to be claimed."""
        if not executors:
            return False
        params: dict[str, Any] = {"executors": list(executors)}
        if groups is None:
            return bool(self._read("any_waiting", params))
        return bool(self._read("any_waiting_in_groups", {**params, "groups": list(groups)}))

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
        """Take back the tasks whose lease ran out: the rows as they were before. Those that
        used up their attempts fail with WORKER_LOST, counted in the failure ledger."""
        from stratix_queue.fingerprint import fingerprint

        lost = fingerprint(LOST_CODE, message, None)
        params = {"message": message, "unstarted_message": unstarted_message}

        def body(session: Session) -> list[Row]:
            expired = self._run(session, "pick_expired").rows
            ids = [int(row["id"]) for row in expired]
            self._run(
                session, "record_lost_attempts", {**params, "ids": ids, "lost_fingerprint": lost}
            )
            self._run(session, "rescue_jobs", {**params, "ids": ids, "lost_fingerprint": lost})
            failed = [row for row in expired if _fails_when_rescued(row)]
            keys = (FailureKey.of(lost, r["executor"], r["group_name"], LOST_CODE) for r in failed)
            self._count_failures(session, counted(keys), message)
            self._rollup_outcomes(session, _where(expired), "rescued")
            self._rollup_outcomes(session, _where(failed), "failed")
            return expired

        return self._transaction(body)

    # -- outcomes -----------------------------------------------------------------------------

    def move_to_success(self, job: Job, execution_time_ms: int) -> bool:
        """The row leaves queue_jobs and enters queue_success in one transaction, which also
        adds it to its rollup (once both fenced statements moved it)."""
        extra = {"execution_time": execution_time_ms, "bucket": bucket_of(execution_time_ms)}
        moved = ("copy_to_success", "delete_succeeded")
        params = {"id": job.id, "bucket": extra["bucket"]}

        def rollup(session: Session) -> None:
            self._run(session, "rollup_success", params)

        return self._fenced(job, moved, extra, then=rollup)

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """Move finished tasks to queue_success in one statement; the ids moved (a task whose
        lease was lost meanwhile is left alone)."""
        items = success_items(latest_successes(done))
        rows = self._single(lambda s: self._run(s, "move_many_to_success", {"items": items}).rows)
        return {int(row["id"]) for row in rows}

    def mark_as_failed(self, job: Job, error: ErrorData) -> bool:
        """Failed in place with its error and fingerprint; the attempt joins the history and
        the failure the ledger's counts and rollup (all fenced: one transaction)."""
        key = FailureKey.of(error.fingerprint, job.executor, job.group, error.code)

        def count(session: Session) -> None:
            self._count_failures(session, [(key, 1)], error.message)
            self._rollup_outcomes(session, [(job.executor, job.group)], "failed")

        names = ("record_attempt_error", "mark_as_failed")
        return self._fenced(job, names, _error_params(error), then=count)

    def retry_later(self, job: Job, retry: RetryLater) -> bool:
        """Back to delayed for another attempt; the attempt joins the history (both fenced)."""
        params = {**_error_params(retry.error), "delay": retry.delay_seconds}

        def count(session: Session) -> None:
            self._rollup_outcomes(session, [(job.executor, job.group)], "retried")

        return self._fenced(job, ("record_attempt_error", "retry_later"), params, then=count)

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
        # The rows locked and read first (lock_failed): the failed ones among ids, once between
        # concurrent retries, with the keys of their counts.
        rows = self._run(session, "lock_failed", {"ids": ids}).rows
        return self._reset_locked(session, rows)

    def count_failed(self, failures: FailureFilter) -> int:
        """How many failed tasks match the filter."""
        return int(
            self._read("count_failed", {"filter": self._failed_filter(failures)})[0]["count"]
        )

    def failure_counts(self) -> list[Row]:
        """The failure ledger's kept counts: one row per fingerprint, executor, group, code."""
        return self._read("failure_counts")

    def fingerprint_old_failures(self, batch: int) -> int:
        """Give failed tasks recorded before fingerprints (migration 006) theirs, moving their
        counts to the new keys; how many got one (0: none left)."""
        from stratix_queue.fingerprint import fingerprint

        def body(session: Session) -> int:
            rows = self._run(session, "unfingerprinted_failures", {"limit": batch}).rows
            for row in rows:
                mark = fingerprint(row["error_code"], row["error_message"], row["error_stack"])
                self._run(session, "set_fingerprint", {"id": row["id"], "fingerprint": mark})
                self._count_failures(
                    session,
                    [(FailureKey.of_row({**row, "fingerprint": mark}), 1)],
                    row["error_message"],
                )
            self._uncount_failures(session, rows)
            return len(rows)

        return self._transaction(body)

    def set_group_paused(self, group: str, paused: bool, audit: Audit | None = None) -> int:
        """Pause (or resume) a group and its runnable tasks, audited if ``audit`` is given; how
        many tasks changed."""
        names = (
            ("pause_group", "pause_group_jobs") if paused else ("resume_group", "resume_group_jobs")
        )

        def body(session: Session) -> int:
            self._run(session, names[0], {"group": group})
            count = self._run(session, names[1], {"group": group}).rowcount
            if audit is not None:
                self._audit(session, audit, (), count)
            return count

        return self._transaction(body)

    def group_overview(self) -> tuple[list[Row], set[str]]:
        paused = {row["group_name"] for row in self._read("paused_groups")}
        return self._read("group_counts"), paused

    def summary(self, window_seconds: float) -> Row:
        return self._read("queue_summary", {"window_seconds": window_seconds})[0]

    def prune_success(self, older_than_seconds: float, dry_run: bool) -> int:
        """Delete (dry run: count) queue_success rows older than that, then the attempt errors
        of tasks now nowhere that are as old (retention.py prunes the rest)."""
        if dry_run:
            return self.count_old(Prunable.SUCCESSES, older_than_seconds)
        periods = [
            (Prunable.SUCCESSES, older_than_seconds),
            (Prunable.ATTEMPT_ERRORS, older_than_seconds),
        ]
        return sweep(self.prune_batch, periods, None, PRUNE_BATCH).counts[Prunable.SUCCESSES]

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
                "executors": record.executors,
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


LOST_CODE = "WORKER_LOST"


def _error_params(error: ErrorData) -> dict[str, Any]:
    return {
        "message": error.message,
        "stack": error.stack,
        "code": error.code,
        "fingerprint": error.fingerprint,
    }


def _fails_when_rescued(row: Row) -> bool:
    """rescue_jobs fails a task that had started and has no attempt left."""
    return bool(row["started"]) and int(row["attempts"]) >= int(row["max_attempts"])


def _where(rows: Sequence[Row]) -> list[tuple[str, str | None]]:
    return [(row["executor"], row["group_name"]) for row in rows]


def latest_successes(done: Sequence[tuple[Job, int]]) -> list[tuple[Job, int]]:
    """The batch with a task listed twice once (its last), in id order: the order in which
    heartbeat_jobs locks rows too."""
    latest = {job.id: (job, ms) for job, ms in done}
    return [latest[job_id] for job_id in sorted(latest)]


def success_items(batch: Sequence[tuple[Job, int]], buckets: bool = True) -> str:
    """The batch as JSON [[id, lease_token, ms, run-time bucket (rollups.py)], ...]; without
    the bucket for a database that sums the rollups in Python (SQLite)."""
    if not buckets:
        return json.dumps([[job.id, job.lease_token, ms] for job, ms in batch])
    return json.dumps([[job.id, job.lease_token, ms, bucket_of(ms)] for job, ms in batch])


def claim_values(params: ClaimParams) -> dict[str, Any]:
    return {
        "worker_id": params.worker_id,
        "lease_token": params.lease_token,
        "limit": params.limit,
        "lease_seconds": params.lease_seconds,
        "groups": list(params.groups or ()),
        "executors": list(params.executors or ()),
    }


def _claim_order(job: Job) -> tuple[int, datetime, int]:
    """Higher priority first, then earlier run_at, then id (a row whose run_at cannot be read
    sorts first: it is failed at once, not run)."""
    return (-job.priority, job.run_at or _EARLIEST, job.id)


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _is_a_driver(driver: SqlDriver) -> Driver:
    """mypy checks here that SqlDriver implements the Driver protocol (open_driver imports the
    class by name, so nothing else would)."""
    return driver
