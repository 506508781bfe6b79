"""JobRepository: the state changes of a task, with the seed's log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import ErrorData, RetryLater
from stratix_queue.backends.driver import Driver
from stratix_queue.errors import InvalidInputError
from stratix_queue.executors import error_from_exception
from stratix_queue.job import Job
from stratix_queue.logformat import held
from stratix_queue.validation import check_task_id, error_data, in_id_range

if TYPE_CHECKING:
    from stratix_queue.backends.action_args import Audit

log = logging.getLogger("stratix_queue.repository")


class JobRepository:
    """Moves tasks between states. Every write about a job is fenced: it applies only while
    the row still has the status and lease token the Job was read with."""

    def __init__(self, backend: Driver) -> None:
        self.backend = backend

    def move_to_success(self, job: Job, execution_time_ms: int | float) -> bool:
        """Move the task to ``queue_success`` in one transaction; False if it was not there."""
        _check_job(job)
        if isinstance(execution_time_ms, bool) or not isinstance(execution_time_ms, int | float):
            raise InvalidInputError("execution_time_ms must be a number of milliseconds")
        if execution_time_ms < 0:
            raise InvalidInputError("execution_time_ms must not be negative")
        moved = self.backend.move_to_success(job, min(int(execution_time_ms), 2**31 - 1))
        if moved:
            _log_success(job, int(execution_time_ms))
        return moved

    def move_many_to_success(self, done: Sequence[tuple[Job, int]]) -> set[int]:
        """The worker's batched success: each task moves as ``move_to_success`` would."""
        moved = self.backend.move_many_to_success(done)
        with held():  # one write for the batch's lines
            for job, ms in done:
                if job.id in moved:
                    _log_success(job, ms)
        return moved

    def mark_as_failed(self, job: Job, error: Mapping[str, Any] | ErrorData) -> bool:
        """Mark the task ``failed`` in place with its error; False if it was not there."""
        _check_job(job)
        data = _error(error)
        marked = self.backend.mark_as_failed(job, data)
        if marked:
            log.warning(
                "task failed, marked as failed: id=%s name=%s executor=%s code=%s message=%s",
                job.id,
                job.name,
                job.executor,
                data.code,
                _short(data.message or ""),
            )
        return marked

    def retry_later(self, job: Job, error: ErrorData, delay_seconds: float) -> bool:
        """Send an executing task back to ``delayed`` for another attempt."""
        done = self.backend.retry_later(job, RetryLater(error, delay_seconds))
        if done:
            log.info(
                "task attempt %s/%s failed, retrying in %.1fs: id=%s name=%s executor=%s code=%s",
                job.attempts,
                job.max_attempts,
                delay_seconds,
                job.id,
                job.name,
                job.executor,
                error.code,
            )
        return done

    def give_back(self, job: Job) -> bool:
        """Return a held task to waiting, its attempt uncounted (a shutdown, a busy buffer)."""
        return self.backend.give_back(job)

    def reset_failed(
        self, task_ids: Sequence[int], audit: Audit, payload_json: str | None = None
    ) -> set[int]:
        """Reset failed tasks to waiting (with a new payload, if given), audited; returns the
        ids that were failed and now are not."""
        candidates = [task_id for task_id in dict.fromkeys(task_ids) if in_id_range(task_id)]
        if not candidates:
            return set()
        reset = self.backend.retry_tasks(candidates, audit, payload_json)
        log_reset(reset)
        return {int(row["id"]) for row in reset}


def log_reset(rows: Iterable[Mapping[str, Any]]) -> None:
    """The seed's line for each failed task reset to waiting."""
    for row in rows:
        log.info(
            "failed task reset to waiting: id=%s name=%s executor=%s",
            row["id"],
            row["job_name"],
            row["executor"],
        )


def _log_success(job: Job, execution_time_ms: int) -> None:
    log.info(
        "task succeeded, moved to the success table: id=%s name=%s executor=%s "
        "execution_time_ms=%s",
        job.id,
        job.name,
        job.executor,
        execution_time_ms,
    )


def _check_job(job: object) -> None:
    if not isinstance(job, Job):
        raise InvalidInputError(f"expected a Job, not {type(job).__name__}")
    check_task_id(job.id)


def _error(error: Mapping[str, Any] | ErrorData) -> ErrorData:
    if isinstance(error, ErrorData):
        return error
    if isinstance(error, BaseException):
        return error_from_exception(error)
    if not isinstance(error, Mapping):
        raise InvalidInputError("error must be a mapping with message, stack and code")
    unknown = set(error) - {"message", "stack", "code"}
    if unknown:
        raise InvalidInputError(f"unknown error field(s): {', '.join(sorted(unknown))}")
    return error_data(error.get("message"), error.get("stack"), error.get("code"))


def _short(text: str, limit: int = 200) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
