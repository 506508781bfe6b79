"""QueueService: the one service layer used by the worker, the CLI and applications."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from stratix_queue import actions, plans
from stratix_queue.backends import open_driver
from stratix_queue.backends.arguments import JobFilter
from stratix_queue.backends.limits import STATEMENT_TIMEOUT_SECONDS, Limits
from stratix_queue.clock import to_utc
from stratix_queue.durations import Seconds
from stratix_queue.errors import InvalidInputError, SchemaNotReadyError
from stratix_queue.executors import Backoff, ExecutorRegistry
from stratix_queue.failure_filter import FailureFilter
from stratix_queue.job import (
    KEPT_COUNTS,
    ROWS,
    AttemptError,
    FailedTasksStats,
    GroupInfo,
    Job,
    JobStatus,
    QueueStats,
    RetryResult,
    WorkerInfo,
)
from stratix_queue.migrations import latest_version
from stratix_queue.records import ActionResult, AuditEntry, DryRun, Plan, TaskHistory
from stratix_queue.repository import JobRepository
from stratix_queue.retention import (
    DEFAULT_KEEP_REMOVED,
    DEFAULT_KEEP_ROLLUPS,
    DEFAULT_KEEP_SUCCESSES,
    PruneReport,
    retention_of,
    sweep,
)
from stratix_queue.retention import dry_run as dry_run_counts
from stratix_queue.rollups import GROUPINGS, ThroughputRow, throughput
from stratix_queue.task_record import TaskRecord
from stratix_queue.triage import (
    FailedPage,
    by_fingerprint,
    counts_from_kept,
    decode_cursor,
    joined,
    page_of,
    resolve_filter,
    stats_of,
)
from stratix_queue.urls import parse_url, resolve_url
from stratix_queue.validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    JsonDefault,
    check_delay,
    check_int,
    check_name,
    check_page,
    check_statement_timeout,
    check_task_id,
    check_timeout,
    encode_payload,
    in_id_range,
    new_job,
    new_job_from_args,
    payload_encoder,
)
from stratix_queue.worker import Worker, WorkerStats
from stratix_queue.worker_options import WorkerOptions

if TYPE_CHECKING:
    from stratix_queue.migrations.runner import MigrationRunner, MigrationStatus, Step

F = TypeVar("F", bound=Callable[..., Any])
FINGERPRINTS_VERSION = 6  # the migration that added fingerprints
FINGERPRINT_BATCH = 500
MAX_FAILED_PAGE = 10_000
_DEFAULT_OPTIONS = WorkerOptions()
_ALL_FAILED = FailureFilter()
KEEP_PAYLOAD: Any = object()  # retry_failed_task without a new payload (None is a payload)


class QueueService:
    """A task queue on one database, given by URL (SQLite file by default).

    >>> queue = QueueService("sqlite:///:memory:")
    >>> _ = queue.migrate()
    >>> queue.add_task(name="hello", executor="echo", payload={"n": 1}).status
    <JobStatus.WAITING: 'waiting'>
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        statement_timeout: float | None = STATEMENT_TIMEOUT_SECONDS,
        json_default: JsonDefault | None = None,
    ) -> None:
        """``statement_timeout``: seconds a statement may run on a database server (None: no
        limit); a connection that answers nothing for 2 s longer is closed and opened again.
        ``json_default``: called for what JSON cannot encode in a payload, as json.dumps'
        ``default`` (``stratix_queue.json_default`` turns dates, decimals and UUIDs into text)."""
        self.url: str = resolve_url(url)
        self.max_payload_bytes = check_int(max_payload_bytes, "max_payload_bytes", 1, 2**30)
        self.statement_timeout = check_statement_timeout(statement_timeout)
        self._encoder = payload_encoder(json_default)
        self.json_default = json_default
        self.backend = open_driver(parse_url(self.url), Limits(self.statement_timeout))
        self.repository = JobRepository(self.backend)
        self.executors = ExecutorRegistry()
        self._wakeup = threading.Event()
        self._workers: set[Worker] = set()

    def with_url(self, url: str) -> QueueService:
        """Another QueueService on ``url`` that shares this one's executors."""
        clone = QueueService(
            url,
            max_payload_bytes=self.max_payload_bytes,
            statement_timeout=self.statement_timeout,
            json_default=self.json_default,
        )
        clone.executors = self.executors
        return clone

    def __repr__(self) -> str:
        return f"QueueService(dialect={self.backend.dialect!r}, where={self.backend.url.where!r})"

    def close(self) -> None:
        """Close the pooled database connections."""
        self.backend.close()

    def __enter__(self) -> QueueService:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------

    def migrate(self, to: int | None = None) -> list[Step]:
        """Bring the schema to version ``to`` (default: the latest); idempotent. Failed tasks
        older than fingerprints (migration 006) get theirs once the schema has them."""
        steps = self._migrations().migrate(to)
        if to is None or to >= FINGERPRINTS_VERSION:
            while self.backend.fingerprint_old_failures(FINGERPRINT_BATCH):
                pass
        return steps

    def check_schema(self) -> None:
        """Raise SchemaNotReadyError unless the database is at the latest schema version: a
        worker's check at start, cheaper than ``migration_status`` (no runner, no SQL read)."""
        latest = latest_version(self.backend.migrations_dir)
        if not self.backend.database_exists():
            current = None
        else:
            try:
                current = self.backend.current_version()
            except SchemaNotReadyError:  # no version table: empty, or the pre-update layout
                current = None
        if current != latest:
            raise SchemaNotReadyError(
                f"the database is at schema version {current or 0}, not {latest}: "
                "run `stratix-queue migrate` first"
            )

    def migration_status(self) -> MigrationStatus:
        return self._migrations().status()

    def migration_sql(self, to: int | None = None) -> str:
        """The SQL that ``migrate(to)`` would run, for a DBA to apply by hand."""
        return self._migrations().sql(to)

    def _migrations(self) -> MigrationRunner:
        from stratix_queue.migrations.runner import MigrationRunner  # not on a worker's start

        return MigrationRunner(self.backend)

    # -- executors --------------------------------------------------------------------------

    def executor(
        self,
        name: str,
        *,
        max_attempts: int | None = None,
        backoff: Backoff | Seconds | None = None,
        timeout: Seconds | None = None,
        isolation: str = "thread",
    ) -> Callable[[F], F]:
        """Register a sync or async function as the executor called ``name``.

        ``max_attempts``: default for its tasks; ``backoff``: seconds, or a function of the
        attempt number, before a retry; ``timeout``: default seconds per attempt;
        ``isolation="process"``: run each call in a child process that a timeout kills.
        """

        def register(func: F) -> F:
            self.register_executor(
                name,
                func,
                max_attempts=max_attempts,
                backoff=backoff,
                timeout=timeout,
                isolation=isolation,
            )
            return func

        return register

    def register_executor(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        max_attempts: int | None = None,
        backoff: Backoff | Seconds | None = None,
        timeout: Seconds | None = None,
        isolation: str = "thread",
    ) -> None:
        self.executors.register(
            name,
            func,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout=check_timeout(timeout),
            isolation=isolation,
        )

    # -- adding tasks -----------------------------------------------------------------------

    def add_task(
        self,
        name: str,
        executor: str,
        payload: Any = None,
        group: str | None = None,
        priority: int = 0,
        delay: Seconds | None = None,
        max_attempts: int | None = None,
        run_at: datetime | str | None = None,
        timeout: Seconds | None = None,
    ) -> Job:
        """Add one task: ``delayed`` until ``delay``/``run_at``, ``paused`` if its group is.
        ``delay`` and ``timeout`` take seconds, a timedelta or text as the CLI does ('30s',
        '1h30m'); ``run_at`` a datetime or ISO 8601 text (naive: UTC)."""
        new = new_job_from_args(
            name,
            executor,
            payload,
            group,
            priority,
            delay,
            max_attempts,
            run_at,
            timeout,
            default_max_attempts=self.executors.default_max_attempts(str(executor)),
            max_payload_bytes=self.max_payload_bytes,
            encoder=self._encoder,
        )
        [job] = self.backend.insert_jobs([new])
        if job.status is JobStatus.WAITING and not self._wakeup.is_set():  # set() takes a lock
            self._wakeup.set()
        return job

    def add_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Add many tasks in one transaction (all or none); returns them in the given order."""
        if isinstance(tasks, Mapping | str | bytes):
            raise InvalidInputError("add_tasks takes a list of task dicts")
        specs = list(tasks)
        for spec in specs:
            if not isinstance(spec, Mapping):
                raise InvalidInputError(f"each task must be a dict, not {type(spec).__name__}")
        new = [
            new_job(
                spec,
                default_max_attempts=self.executors.default_max_attempts(str(spec.get("executor"))),
                max_payload_bytes=self.max_payload_bytes,
                encoder=self._encoder,
            )
            for spec in specs
        ]
        jobs = self.backend.insert_jobs(new)
        if any(job.status is JobStatus.WAITING for job in jobs):
            self._wakeup.set()
        return jobs

    # -- reading and managing tasks ---------------------------------------------------------

    def get_task(self, task_id: int) -> Job | None:
        """The task, or None if there is none (a succeeded task lives in ``queue_success``)."""
        check_task_id(task_id)
        return self.backend.get_job(task_id) if in_id_range(task_id) else None

    def get_task_errors(self, task_id: int) -> list[AttemptError]:
        """The error of every failed attempt of a task, oldest first (kept after success)."""
        check_task_id(task_id)
        if not in_id_range(task_id):
            return []
        return [AttemptError.from_row(row) for row in self.backend.list_attempt_errors(task_id)]

    def list_workers(self) -> list[WorkerInfo]:
        """Workers that are running (registered and heartbeating) against this database."""
        return [WorkerInfo.from_row(row) for row in self.backend.list_workers()]

    def get_failed_tasks(self, limit: int = 100, offset: int = 0) -> list[Job]:
        """Failed tasks, newest ``failed_at`` first."""
        limit, offset = check_page(limit, offset)
        return self.backend.list_failed(limit, offset)

    def retry_failed_task(
        self,
        task_id: int,
        payload: Any = KEEP_PAYLOAD,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Reset a failed task to waiting; False if it is not failed or does not exist.

        ``payload``: fix, then retry: the task runs with this payload (checked as add_task
        checks it), the old one kept in its history (``get_task_history``), in the same
        transaction. Audited as ``actor`` (default: the OS user) with ``reason``."""
        check_task_id(task_id)
        entry = actions.audit("retry", actor, reason)
        payload_json = None
        if payload is not KEEP_PAYLOAD:
            payload_json = encode_payload(payload, self.max_payload_bytes, self._encoder)
        return task_id in self.repository.reset_failed([task_id], entry, payload_json)

    def retry_failed_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> RetryResult:
        """Retry many failed tasks; ``.success`` were reset, ``.failed`` were not failed.
        Audited: one row per 500 ids, naming the first 50 of them."""
        ids = actions.task_ids(task_ids, "retry_failed_tasks")
        reset = self.repository.reset_failed(ids, actions.audit("retry", actor, reason))
        if reset:
            self._wakeup.set()
        return RetryResult(
            success=[i for i in ids if i in reset], failed=[i for i in ids if i not in reset]
        )

    # -- failure triage (triage.py) ---------------------------------------------------------

    def get_failed_tasks_stats(
        self, filter: FailureFilter | None = None, **filter_fields: Any
    ) -> FailedTasksStats:
        """Failed tasks in all, by executor, by group (None: no group), by error code and by
        fingerprint (the inbox: biggest first), of those matching the filter (a FailureFilter,
        or its fields as keywords). Read from the kept counts, never the failed rows, unless
        the filter names a message, times or attempts: then counted from the matching rows
        (``counted_from`` says which)."""
        failures = resolve_filter(filter, filter_fields)
        if counts_from_kept(failures):
            return stats_of(joined(self.backend.kept_fingerprint_stats(failures)), KEPT_COUNTS)
        return stats_of(by_fingerprint(self.backend.recount_failures(failures)), ROWS)

    def list_failed_tasks(
        self,
        filter: FailureFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
        **filter_fields: Any,
    ) -> FailedPage:
        """A page of the failed tasks matching the filter (a FailureFilter, or its fields as
        keywords: ``executor="convert", since="2h"``), newest failure first. Pass the page's
        ``next_cursor`` back as ``cursor`` for the next one; paging is by keyset, as fast at
        any depth, and tasks failing meanwhile are neither repeated nor make one skipped."""
        failures = resolve_filter(filter, filter_fields)
        limit = check_int(limit, "limit", 1, MAX_FAILED_PAGE)
        before = None if cursor is None else decode_cursor(cursor)
        return page_of(self.backend.failed_page(failures, limit + 1, before), limit)

    def count_failed_tasks(self, filter: FailureFilter | None = None, **filter_fields: Any) -> int:
        """How many failed tasks match the filter (what a bulk action on it would touch): from
        the kept counts when it names only executor, group, code and fingerprint."""
        failures = resolve_filter(filter, filter_fields)
        if counts_from_kept(failures):
            return self.backend.kept_failed_count(failures)
        return self.backend.count_failed(failures)

    def list_tasks(
        self,
        status: str | JobStatus | None = None,
        group: str | None = None,
        executor: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """Tasks in ``queue_jobs`` (oldest id first), filtered by whichever arguments are given."""
        limit, offset = check_page(limit, offset)
        return self.backend.list_jobs(self._filter(status, group, executor), limit, offset)

    def find_failed_task_ids(
        self, executor: str | None = None, group: str | None = None, code: str | None = None
    ) -> list[int]:
        """Ids of failed tasks matching every filter given (for bulk retries)."""
        filters = self._filter(JobStatus.FAILED, group, executor)
        if code is not None and not isinstance(code, str):
            raise InvalidInputError("code must be a string")
        return self.backend.failed_ids(
            JobFilter(group=filters.group, executor=filters.executor, code=code)
        )

    def list_groups(self) -> list[GroupInfo]:
        """Every group that has tasks or is paused, with its counts per status."""
        rows, paused = self.backend.group_overview()
        counts: dict[str, dict[str, int]] = {name: {} for name in paused}
        for row in rows:
            counts.setdefault(row["group_name"], {})[row["status"]] = int(row["count"])
        return [
            GroupInfo(
                name, name in paused, {s.value: counts[name].get(s.value, 0) for s in JobStatus}
            )
            for name in sorted(counts)
        ]

    def queue_stats(self) -> QueueStats:
        """Counts by status, successes in the last hour, age of the oldest waiting task."""
        row = self.backend.summary(3600.0)
        oldest, now = to_utc(row["oldest_waiting"]), to_utc(row["db_now"])
        age = None if oldest is None or now is None else max((now - oldest).total_seconds(), 0.0)
        counts, running = self.count_by_status(), int(row["running"])
        prefetched = max(counts["executing"] - running, 0)  # two reads: they may disagree
        return QueueStats(counts, int(row["succeeded_recently"]), age, running, prefetched)

    def prune_succeeded(self, older_than: Seconds, dry_run: bool = False) -> int:
        """Delete (dry run: count) queue_success rows completed more than ``older_than`` ago."""
        return self.backend.prune_success(check_delay(older_than, "older_than"), dry_run)

    def prune(
        self,
        keep_successes: Seconds | None = DEFAULT_KEEP_SUCCESSES,
        keep_rollups: Seconds | None = DEFAULT_KEEP_ROLLUPS,
        keep_removed: Seconds | None = DEFAULT_KEEP_REMOVED,
        dry_run: bool = False,
    ) -> PruneReport:
        """Delete (dry run: count) what is older than its period, until none is left, as the
        worker does a few batches at a time (retention.py); None keeps that kind (0 deletes all
        of it). The attempt errors and earlier payloads of tasks then nowhere go too. The
        report counts each kind: successes, removed, rollups, attempt_errors, payload_history."""
        given = retention_of(keep_successes, keep_rollups, keep_removed, zero_keeps=False)
        periods = given.periods()
        if dry_run:
            return dry_run_counts(self.backend.count_old, periods)
        return sweep(self.backend.prune_batch, periods, None)

    def get_throughput(self, since: Seconds = "24h", by: str | None = None) -> list[ThroughputRow]:
        """Outcomes of the minutes since ``since`` ago (the one it falls in included), for all
        tasks or per ``by`` ("executor" or "group"), from queue_rollups alone. The percentiles
        are estimates from fixed run-time buckets (rollups.py); ``ThroughputRow.percentiles``
        says how they were made."""
        seconds = check_delay(since, "since")
        if by is not None and by not in GROUPINGS:
            raise InvalidInputError(f"by must be one of {', '.join(GROUPINGS)} or None, not {by!r}")
        return throughput(self.backend.rollup_totals(seconds), by)

    def find_task(self, task_id: int) -> TaskRecord | None:
        """The task wherever it is: in queue_jobs (waiting, failed...), in queue_success
        (succeeded) or removed (discarded or cancelled); None if it is nowhere (never added,
        or pruned)."""
        check_task_id(task_id)
        if not in_id_range(task_id):
            return None
        job = self.backend.get_job(task_id)
        if job is not None:
            return TaskRecord.in_queue(job)
        row = self.backend.find_success(task_id)
        if row is not None:
            return TaskRecord.succeeded(row)
        row = self.backend.removed_task(task_id)
        return None if row is None else TaskRecord.removed(row)

    @staticmethod
    def _filter(status: object, group: object, executor: object) -> JobFilter:
        value = None
        if status is not None:
            try:
                value = JobStatus(str(status)).value
            except ValueError:
                statuses = ", ".join(s.value for s in JobStatus)
                raise InvalidInputError(
                    f"status must be one of {statuses}, not {status!r}"
                ) from None
        return JobFilter(
            status=value,
            group=check_name(group, "group", optional=True),
            executor=check_name(executor, "executor", optional=True),
        )

    def count_by_status(self) -> dict[str, int]:
        """Tasks in ``queue_jobs`` per status, every status present (zero when none)."""
        counts = self.backend.count_by_status()
        return {status.value: counts.get(status.value, 0) for status in JobStatus}

    def pause_group(
        self, group: str, *, actor: str | None = None, reason: str | None = None
    ) -> int:
        """Pause a group: its waiting and delayed tasks become ``paused``; returns how many."""
        name = str(check_name(group, "group"))
        entry = actions.audit("group_pause", actor, reason, name)
        return self.backend.set_group_paused(name, True, entry)

    def resume_group(
        self, group: str, *, actor: str | None = None, reason: str | None = None
    ) -> int:
        """Resume a group: its paused tasks become waiting (or delayed if not yet due)."""
        name = str(check_name(group, "group"))
        entry = actions.audit("group_resume", actor, reason, name)
        count = self.backend.set_group_paused(name, False, entry)
        self._wakeup.set()
        return count

    # -- operator actions: discard, cancel, payload edits, plans, audit (actions.py, plans.py) --
    # Each is audited in its own transaction as ``actor`` (default: the OS user), with
    # ``reason``.

    def discard_failed_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> ActionResult:
        """Failed tasks leave the queue for ``queue_removed`` (outcome discarded, their last
        error kept; pruned after the retention period, 30 days by default). ``.done`` were
        discarded, ``.not_done`` maps the others to why (not failed, not found)."""
        ids = actions.task_ids(task_ids, "discard_failed_tasks")
        return actions.discard(self.backend, ids, actions.audit("discard", actor, reason))

    def cancel_tasks(
        self, task_ids: Sequence[int], *, actor: str | None = None, reason: str | None = None
    ) -> ActionResult:
        """Waiting, delayed and paused tasks leave the queue for ``queue_removed`` (outcome
        cancelled; pruned after the retention period, 30 days by default), counted in the
        rollups. An executing task is not cancelled: ``.not_done`` says so, as for a failed
        task (discard it) or an id not found."""
        ids = actions.task_ids(task_ids, "cancel_tasks")
        return actions.cancel(self.backend, ids, actions.audit("cancel", actor, reason))

    def edit_payload(
        self, task_id: int, payload: Any, *, actor: str | None = None, reason: str | None = None
    ) -> None:
        """Replace the payload of a failed, waiting, delayed or paused task without retrying it
        (checked as add_task checks it); the old one joins its history. InvalidInputError for
        an executing task or one not found."""
        check_task_id(task_id)
        payload_json = encode_payload(payload, self.max_payload_bytes, self._encoder)
        entry = actions.audit("edit_payload", actor, reason)
        actions.edit_payload(self.backend, task_id, payload_json, entry)

    def get_task_history(self, task_id: int) -> TaskHistory:
        """A task's attempt errors, the payloads operators replaced, its removal (discarded or
        cancelled) and the audit rows naming it (records.TaskHistory)."""
        return actions.history(self.backend, check_task_id(task_id))

    def list_audit(
        self,
        limit: int = 100,
        since: datetime | str | float | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> list[AuditEntry]:
        """Operator actions, newest first; ``since``: a time or a duration ago ('2h')."""
        return actions.audit_log(self.backend, limit, since, action, actor)

    def dry_run(self, action: str, failures: FailureFilter | None = None) -> DryRun:
        """What a bulk ``retry`` or ``discard`` of the matching failed tasks would do: their
        count, a sample, and conflicts (a retry into a paused group, tasks already pending in
        an unfinished plan). Changes nothing."""
        return plans.dry_run(self.backend, plans.check_action(action), failures or _ALL_FAILED)

    def create_plan(
        self,
        action: str,
        failures: FailureFilter | None = None,
        rate: float | None = None,
        batch_size: int = 500,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Plan:
        """A durable bulk ``retry`` or ``discard`` of the failed tasks matching now (their ids
        kept as the plan's items); run it with ``run_plan``. ``rate``: tasks per second."""
        entry = actions.audit("plan_create", actor, reason)
        failures = failures or _ALL_FAILED
        return plans.create(
            self.backend, plans.check_action(action), failures, rate, batch_size, entry
        )

    def run_plan(
        self,
        plan_id: int,
        progress: Callable[[Plan], None] | None = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Plan:
        """Run a plan until it is done, paused or aborted; ``progress`` gets the plan after
        each batch. A paused plan, or one whose runner died while running, continues: the
        items done or skipped stay so, the pending ones are taken in order."""
        entry = actions.audit("plan_resume", actor, reason)  # plan_start for a new plan
        plans.change(self.backend, plan_id, plans.RESUMABLE, "running", entry)
        return self._run_plan(plan_id, progress)

    resume_plan = run_plan  # the name the CLI's `plans resume` reads as

    def _run_plan(self, plan_id: int, progress: Callable[[Plan], None] | None) -> Plan:
        plan = plans.PlanRunner(self.backend).run(plan_id, progress)
        if plan.action == "retry" and plan.done:
            self._wakeup.set()
        return plan

    def pause_plan(
        self, plan_id: int, *, actor: str | None = None, reason: str | None = None
    ) -> Plan:
        """Stop a plan after the batch in flight; ``resume_plan`` continues it."""
        entry = actions.audit("plan_pause", actor, reason)
        return plans.change(self.backend, plan_id, plans.PAUSABLE, "paused", entry)

    def abort_plan(
        self, plan_id: int, *, actor: str | None = None, reason: str | None = None
    ) -> Plan:
        """End an unfinished plan for good after the batch in flight; its pending items stay
        pending (the tasks stay failed)."""
        entry = actions.audit("plan_abort", actor, reason)
        return plans.change(self.backend, plan_id, plans.RESUMABLE, "aborted", entry)

    def get_plan(self, plan_id: int) -> Plan:
        """A plan with its progress; PlanError if there is none."""
        return plans.get(self.backend, plan_id)

    def list_plans(self, limit: int = 50) -> list[Plan]:
        """Plans, newest first."""
        limit, _ = check_page(limit, 0)
        return [Plan.from_row(row) for row in self.backend.list_plans(limit)]

    def plan_skipped_ids(self, plan_id: int, limit: int = 1000) -> list[int]:
        """Ids of a plan's tasks that were skipped (no longer failed, or gone when their batch
        came), in id order."""
        limit, _ = check_page(limit, 0)
        return self.backend.plan_item_ids(plans.get(self.backend, plan_id).id, "skipped", limit)

    # -- running ----------------------------------------------------------------------------

    def run_worker(
        self,
        concurrency: int = 4,
        burst: bool = False,
        *,
        prefetch: int | None = None,
        poll_interval: float = 1.0,
        groups: Sequence[str] | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float | None = None,
        rescue_interval: float | None = None,
        grace_seconds: float = 30.0,
        listen: bool = True,
        handle_signals: bool = False,
        keep_successes: Seconds | None = DEFAULT_KEEP_SUCCESSES,
        keep_rollups: Seconds | None = DEFAULT_KEEP_ROLLUPS,
        keep_removed: Seconds | None = DEFAULT_KEEP_REMOVED,
        options: WorkerOptions | None = None,
    ) -> WorkerStats:
        """Run executors in this process with ``concurrency`` threads.

        Beside the running tasks the worker holds up to ``prefetch`` claimed tasks waiting for a
        slot, so one claim feeds many tasks. By default (None) this adapts to the tasks' pace:
        no more than the slots start within 0.1 s (short tasks come in large batches, tasks of
        a second or more are not prefetched). 0 claims only for free slots.

        With ``burst=True`` it returns once nothing is runnable (and the retries it scheduled
        have run); otherwise it runs until ``stop_workers()`` is called from another thread or,
        with ``handle_signals=True`` in the main thread, until SIGTERM/SIGINT: then it stops
        claiming, gives running tasks ``grace_seconds`` to finish, returns unfinished ones to
        waiting and ends the process (exit 0); a second signal exits at once.

        ``keep_successes``, ``keep_rollups``, ``keep_removed``: how long succeeded tasks, the
        throughput rollups and removed tasks are kept (retention.py); the worker prunes older
        ones a few batches every five minutes. 0 or None: forever.

        ``options``: a WorkerOptions holding all these settings, instead of them one by one.
        """
        given = WorkerOptions(
            concurrency=concurrency,
            prefetch=prefetch,
            burst=burst,
            poll_interval=poll_interval,
            groups=groups,
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            rescue_interval=rescue_interval,
            grace_seconds=grace_seconds,
            listen=listen,
            handle_signals=handle_signals,
            keep_successes=keep_successes,
            keep_rollups=keep_rollups,
            keep_removed=keep_removed,
        )
        if options is None:
            options = given
        elif given != _DEFAULT_OPTIONS:
            raise InvalidInputError(
                "run_worker takes options=WorkerOptions(...) or the settings one by one, not both"
            )
        worker = Worker(self.repository, self.executors, options, self._wakeup)
        self._workers.add(worker)
        try:
            return worker.run()
        finally:
            self._workers.discard(worker)

    def stop_workers(self) -> None:
        """Ask every worker running in this process to stop after its current tasks."""
        for worker in list(self._workers):
            worker.stop()
