"""QueueService: the one service layer used by the worker, the CLI and applications."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from stratix_queue.backends import open_driver
from stratix_queue.backends.limits import STATEMENT_TIMEOUT_SECONDS, Limits
from stratix_queue.clock import to_utc
from stratix_queue.durations import Seconds
from stratix_queue.errors import InvalidInputError, SchemaNotReadyError
from stratix_queue.executors import Backoff, ExecutorRegistry
from stratix_queue.job import (
    AttemptError,
    Job,
    JobStatus,
    QueueStats,
    WorkerInfo,
)
from stratix_queue.migrations import latest_version
from stratix_queue.repository import JobRepository
from stratix_queue.retention import (
    DEFAULT_KEEP_REMOVED,
    DEFAULT_KEEP_ROLLUPS,
    DEFAULT_KEEP_SUCCESSES,
)
from stratix_queue.service_actions import OperatorActions
from stratix_queue.service_failures import FailedTasks, job_filter
from stratix_queue.service_flow import FlowControl
from stratix_queue.service_groups import GroupControl
from stratix_queue.service_schedules import Schedules
from stratix_queue.service_successes import SuccessLedger
from stratix_queue.urls import parse_url, resolve_url
from stratix_queue.validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    JsonDefault,
    check_int,
    check_page,
    check_statement_timeout,
    check_task_id,
    check_timeout,
    in_id_range,
    new_job,
    new_job_from_args,
    payload_encoder,
)
from stratix_queue.worker import Worker, WorkerStats
from stratix_queue.worker_options import WorkerOptions

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from stratix_queue.migrations.runner import MigrationRunner, MigrationStatus, Step

F = TypeVar("F", bound=Callable[..., Any])
FINGERPRINTS_VERSION = 6  # the migration that added fingerprints
FINGERPRINT_BATCH = 500
_DEFAULT_OPTIONS = WorkerOptions()


class QueueService(
    FailedTasks, SuccessLedger, OperatorActions, FlowControl, GroupControl, Schedules
):
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
        unique_key: str | None = None,
        unique_while_failed: bool = False,
    ) -> Job:
        """Add one task: ``delayed`` until ``delay``/``run_at``, ``paused`` if its group is.
        ``delay`` and ``timeout`` take seconds, a timedelta or text as the CLI does ('30s',
        '1h30m'); ``run_at`` a datetime or ISO 8601 text (naive: UTC). With ``unique_key``,
        a task holding that key is returned instead (``job.duplicate``): docs/unique_tasks.md."""
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
            unique_key,
            unique_while_failed,
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
        return self.backend.list_jobs(job_filter(status, group, executor), limit, offset)

    def queue_stats(self) -> QueueStats:
        """Counts by status, successes in the last hour, age of the oldest waiting task."""
        row = self.backend.summary(3600.0)
        oldest, now = to_utc(row["oldest_waiting"]), to_utc(row["db_now"])
        age = None if oldest is None or now is None else max((now - oldest).total_seconds(), 0.0)
        counts, running = self.count_by_status(), int(row["running"])
        prefetched = max(counts["executing"] - running, 0)  # two reads: they may disagree
        return QueueStats(counts, int(row["succeeded_recently"]), age, running, prefetched)

    def count_by_status(self) -> dict[str, int]:
        """Tasks in ``queue_jobs`` per status, every status present (zero when none)."""
        counts = self.backend.count_by_status()
        return {status.value: counts.get(status.value, 0) for status in JobStatus}

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
        schedules: bool = True,
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

        ``schedules``: enqueue the due ticks of schedules (every worker does, each tick once;
        a burst worker once as it starts); False leaves them to other workers.

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
            schedules=schedules,
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
