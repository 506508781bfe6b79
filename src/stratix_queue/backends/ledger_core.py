""":class:`LedgerCore`: the writes that keep the failure ledger's counts and the outcome
rollups, made inside the transactions that change a task's outcome (never after them: a crash
between the two would count a failure twice or not at all).

``queue_failure_counts`` holds one row per (fingerprint, executor, group, code) with the number
of tasks failed under it; every statement that sets ``status = 'failed'`` adds there, and every
one that takes a task out of failed (a retry, a discard) takes away, so stats read a few rows
instead of the failed tasks. Keys are written in sorted order: two transactions never lock
the same count rows in opposite orders.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.session import Params, Row, Session, UniqueKeyConflictError
from stratix_queue.backends.sql_core import SqlCore, SqlFragment
from stratix_queue.job import Job, JobStatus

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter

SAMPLE_MESSAGE_CHARS = 1000


@dataclass(frozen=True, slots=True, order=True)
class FailureKey:
    """A row of queue_failure_counts: '' where the task has no fingerprint, group or code."""

    fingerprint: str
    executor: str
    group: str
    code: str

    @classmethod
    def of(
        cls, fingerprint: str | None, executor: str, group: str | None, code: str | None
    ) -> FailureKey:
        return cls(fingerprint or "", executor, group or "", code or "")

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> FailureKey:
        return cls.of(row["fingerprint"], row["executor"], row["group_name"], row["error_code"])

    def params(self) -> dict[str, str]:
        return {
            "fingerprint": self.fingerprint,
            "executor": self.executor,
            "group": self.group,
            "code": self.code,
        }


UNIQUE_RESETS = 3
log = logging.getLogger("stratix_queue.repository")


def _frees_key(row: Mapping[str, Any]) -> bool:
    """A failed row whose unique key is free while it is failed: a retry makes it hold it."""
    return row.get("unique_key") is not None and not int(row.get("unique_failed") or 0)


def _log_held(row: Mapping[str, Any], holder: int | None) -> None:
    by = "another task" if holder is None else f"task {holder}"
    log.warning(
        "failed task not retried: id=%s name=%s executor=%s: its unique key %r is held by %s",
        row["id"],
        row["job_name"],
        row["executor"],
        row["unique_key"],
        by,
    )


def _unheld(core: LedgerCore, session: Session, rows: Sequence[Row]) -> list[Row]:
    """``rows`` less those whose key a task holds, or an earlier row of ``rows`` will (each
    logged, with the holder)."""
    keys = [str(row["unique_key"]) for row in rows if _frees_key(row)]
    held = {
        str(row["unique_key"]): int(row["id"])
        for row in core._run(session, "unique_holders", {"keys": sorted(set(keys))}).rows
    }
    keep = []
    for row in sorted(rows, key=lambda row: int(row["id"])):
        if _frees_key(row):
            holder = held.get(str(row["unique_key"]))
            if holder is not None:
                _log_held(row, holder)
                continue
            held[str(row["unique_key"])] = int(row["id"])
        keep.append(row)
    return keep


def counted(keys: Iterable[FailureKey]) -> list[tuple[FailureKey, int]]:
    """How many of each key, in key order."""
    return sorted(Counter(keys).items())


class LedgerCore(SqlCore):
    """Count and rollup writes, each run on the caller's transaction; the conditions of a
    FailureFilter."""

    def _failed_filter(self, failures: FailureFilter) -> SqlFragment:
        """`` AND ...`` for each field of the filter that is set (``{filter}`` in a query that
        already reads ``status = 'failed'``); '' for an empty filter."""
        from stratix_queue.failure_filter import FILTER_FIELDS

        conditions: list[str] = []
        params: dict[str, Any] = {}
        for name in FILTER_FIELDS:
            value = getattr(failures, name)
            if value is None:
                continue
            if name == "message":
                value = value.lower()
            conditions.append(self.queries[f"filter_{name}"])
            params[f"f_{name}"] = value
        return SqlFragment("".join(f" AND {c}" for c in conditions), params)

    def _fenced(
        self,
        job: Job,
        names: Sequence[str],
        extra: Params,
        then: Callable[[Session], None] | None = None,
        first: Callable[[Session], None] | None = None,
    ) -> bool:
        """A failed task changed through the repository by hand (failed again, retried later,
        moved to success) leaves its count first; if the fence then fails, that rolls back."""
        if job.status is JobStatus.FAILED and first is None:
            first = partial(self._leave_failed, job.id)
        return super()._fenced(job, names, extra, then, first)

    def _reset_locked(self, session: Session, rows: Sequence[Row]) -> list[Row]:
        """Failed rows locked by ``lock_failed`` back to waiting (or paused), off their counts:
        every retry (by id, by a plan's batch) goes through here. A row whose unique key
        another task holds stays failed (logged); the rows reset come back."""
        rows = list(rows)
        if any(_frees_key(row) for row in rows):
            rows = self._reset_keyed(session, rows)
        elif rows:
            self._run(session, "retry_failed", {"ids": [int(row["id"]) for row in rows]})
        if rows:
            self._uncount_failures(session, rows)
        return rows

    def _reset_keyed(self, session: Session, rows: list[Row]) -> list[Row]:
        """The reset of rows some of which have a key they do not hold while failed: those
        whose key is held are left out. A holder that commits between that read and the
        UPDATE makes it fail on the unique index: the UPDATE is undone to a savepoint and tried
        again (the read then sees the holder), the last time without any of those rows."""
        for attempt in range(UNIQUE_RESETS):
            last = attempt == UNIQUE_RESETS - 1
            keep = (
                [row for row in rows if not _frees_key(row)]
                if last
                else _unheld(self, session, rows)
            )
            if not keep:
                return keep
            session.run("SAVEPOINT stratix_reset")
            try:
                self._run(session, "retry_failed", {"ids": [int(row["id"]) for row in keep]})
            except Exception as exc:
                if not isinstance(self.translate_error(exc), UniqueKeyConflictError):
                    raise
                session.run("ROLLBACK TO SAVEPOINT stratix_reset")
                continue
            session.run("RELEASE SAVEPOINT stratix_reset")
            if last:
                for row in rows:
                    if _frees_key(row):
                        _log_held(row, None)
            return keep
        raise AssertionError("unreachable")

    def _leave_failed(self, job_id: int, session: Session) -> None:
        self._uncount_failures(session, self._run(session, "lock_failed", {"ids": [job_id]}).rows)

    def _count_failures(
        self, session: Session, counts: Sequence[tuple[FailureKey, int]], sample: str | None
    ) -> None:
        """Tasks became failed under these keys."""
        text = None if sample is None else sample[:SAMPLE_MESSAGE_CHARS]
        for key, count in counts:
            self._run(session, "count_failure", {**key.params(), "count": count, "sample": text})

    def _uncount_failures(self, session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
        """These failed rows (with their executor, group_name, error_code and fingerprint) are
        failed no more."""
        for key, count in counted(FailureKey.of_row(row) for row in rows):
            self._run(session, "uncount_failures", {**key.params(), "count": count})
            self._run(session, "drop_empty_count", key.params())

    def _rollup_outcomes(
        self,
        session: Session,
        rows: Iterable[tuple[str, str | None]],
        outcome: str,
    ) -> None:
        """Add one ``outcome`` (failed, retried, rescued or cancelled) per (executor, group)
        to this minute's rollup."""
        for (executor, group), count in sorted(Counter(rows).items(), key=_rollup_order):
            params = {"executor": executor, "group": group or "", **_NO_OUTCOMES, outcome: count}
            self._run(session, "rollup_outcome", params)


_NO_OUTCOMES = {"failed": 0, "retried": 0, "rescued": 0, "cancelled": 0}


def _rollup_order(item: tuple[tuple[str, str | None], int]) -> tuple[str, str]:
    (executor, group), _ = item
    return executor, group or ""
