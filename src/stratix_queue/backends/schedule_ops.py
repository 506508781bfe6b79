""":class:`ScheduleOps`: the driver operations of schedules (queue_schedules), over the named
queries of each database's ``schedules.sql``.

A due tick is enqueued exactly once however many schedulers run: ``fire_schedule`` moves the
schedule on with a compare-and-set (``next_run_at`` still what the scheduler read, the schedule
still active) and inserts the task in the same transaction, only if that update applied. Two
schedulers that read the same due row meet on its row lock: the second's update finds the new
``next_run_at`` once the first commits (PostgreSQL and MariaDB re-read the row an UPDATE waited
for; SQLite's BEGIN IMMEDIATE runs them one after the other), touches nothing and inserts
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from stratix_queue.backends.arguments import NewJob
from stratix_queue.backends.insert_path import inserted_jobs, run_insert
from stratix_queue.backends.schedule_args import NewSchedule, Tick
from stratix_queue.backends.session import Row, Session
from stratix_queue.backends.sql_core import SqlCore
from stratix_queue.clock import to_utc
from stratix_queue.job import Job


class ScheduleOps(SqlCore):
    """Mixed into SqlDriver."""

    def _insert_statement(self, chunk: Sequence[NewJob]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError  # SqlDriver's: the statement add_task runs

    def database_now(self) -> datetime:
        """The database's clock (aware UTC): schedules are timed by it, not the host's."""
        now = to_utc(self._read("schedule_clock")[0]["db_now"])
        assert now is not None
        return now

    def save_schedule(self, schedule: NewSchedule) -> Row:
        """Create or replace a schedule in one upsert; its row. A replaced schedule keeps its
        status and last run, and its ``next_run_at`` unless its cron or time zone changed."""
        params = {
            "name": schedule.name,
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "job_name": schedule.task_name,
            "executor": schedule.executor,
            "payload": schedule.payload_json,
            "group": schedule.group,
            "priority": schedule.priority,
            "max_attempts": schedule.max_attempts,
            "missed": schedule.missed,
            "next_run_at": schedule.next_run_at,
        }

        def body(session: Session) -> Row:
            self._run(session, "upsert_schedule", params)
            return self._run(session, "get_schedule", {"name": schedule.name}).rows[0]

        return self._transaction(body)

    def get_schedule(self, name: str) -> Row | None:
        rows = self._read("get_schedule", {"name": name})
        return rows[0] if rows else None

    def list_schedules(self) -> list[Row]:
        return self._read("list_schedules")

    def set_schedule_status(
        self, name: str, status: str, next_run_at: datetime | None = None
    ) -> Row | None:
        """Pause or resume a schedule; ``next_run_at`` replaces the stored one only when a
        paused schedule resumes. Its row afterwards (None: no such schedule)."""
        params = {"name": name, "status": status, "next_run_at": next_run_at}

        def body(session: Session) -> Row | None:
            self._run(session, "set_schedule_status", params)
            rows = self._run(session, "get_schedule", {"name": name}).rows
            return rows[0] if rows else None

        return self._transaction(body)

    def remove_schedule(self, name: str) -> bool:
        return self._write("delete_schedule", {"name": name}).rowcount == 1

    def run_schedule_now(self, name: str, task: Callable[[Row], NewJob]) -> tuple[Row, Job] | None:
        """Enqueue ``task(row)`` for the schedule now, its next_run_at left alone; the
        schedule's row (with this task as its last) and the Job. None: no such schedule."""

        def body(session: Session) -> tuple[Row, Job] | None:
            rows = self._run(session, "lock_schedule", {"name": name}).rows
            if not rows:
                return None
            job = self._insert_task(session, task(rows[0]))
            self._run(session, "record_schedule_run", {"name": name, "job_id": job.id})
            return self._run(session, "get_schedule", {"name": name}).rows[0], job

        return self._transaction(body)

    def due_schedules(self, limit: int) -> list[Row]:
        """Active schedules whose next_run_at has come by the database's clock, the most
        overdue first, each row with that clock's reading as ``db_now``."""
        return self._read("due_schedules", {"limit": limit})

    def fire_schedule(self, tick: Tick) -> Job | bool:
        """Move a due schedule on, and enqueue its task, in one transaction. The Job enqueued;
        True if the tick applied with no task (skipped); False if another scheduler moved it
        first, or it was paused or changed meanwhile (nothing written)."""

        def body(session: Session) -> Job | bool:
            params = {
                "name": tick.name,
                "seen": tick.seen,
                "next_run_at": tick.next_run_at,
                "ran_at": None if tick.job is None else tick.job.run_at,
            }
            if self._run(session, "advance_schedule", params).rowcount != 1:
                return False  # nothing was written: the commit ends an empty transaction
            if tick.job is None:
                return True
            job = self._insert_task(session, tick.job)
            self._run(session, "set_schedule_job", {"name": tick.name, "job_id": job.id})
            return job

        return self._transaction(body)

    def _insert_task(self, session: Session, job: NewJob) -> Job:
        """The task inserted by add_task's statement inside this transaction. A tick's task is
        waiting (or paused) at once, its run_at the tick it stands for: not delayed, though
        that run_at is set (and past)."""
        sql, params = self._insert_statement([job])
        params["delayed"] = False
        [inserted] = inserted_jobs([job], run_insert(session, sql, params))
        return inserted
