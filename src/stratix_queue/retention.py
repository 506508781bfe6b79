"""Retention: how long each kind of finished record is kept, and the sweep that prunes it.

A worker's maintenance thread sweeps every ``SWEEP_SECONDS`` (each worker: on several hosts they
prune side by side, each batch a statement of its own, so two of them only ever race for the
same rows, never corrupt a count), a bounded number of batches per sweep; when one came back
full the next sweep follows soon. ``stratix-queue prune`` (``QueueService.prune``) sweeps until
nothing old is left. Periods are seconds; None keeps forever.

Besides the three tables kept for a period, the history of tasks that are nowhere any more
(not in queue_jobs, queue_success nor queue_removed: their attempt errors and earlier payloads)
is pruned once ``HISTORY_GRACE_SECONDS`` old. Finding it reads the whole history (no index
serves "its task is nowhere"), so a worker looks only after it pruned tasks (``Sweeper``): a
task becomes nowhere when it is pruned. ``prune`` by hand always looks.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from stratix_queue.validation import check_delay

log = logging.getLogger("stratix_queue.worker")
DAY = 86_400.0
DEFAULT_KEEP_SUCCESSES = 7 * DAY
DEFAULT_KEEP_ROLLUPS = 90 * DAY
DEFAULT_KEEP_REMOVED = 30 * DAY
HISTORY_GRACE_SECONDS = 3_600.0
SWEEP_SECONDS = 300.0  # between two sweeps of one worker
BACKLOG_SWEEP_SECONDS = 1.0  # the next sweep, when the last one left old rows behind
BATCH = 1_000  # rows per statement: a short lock, even on SQLite's one writer
WORKER_BATCHES = 5  # per kind of record and sweep in a worker


class Prunable(enum.StrEnum):
    """What retention deletes, in the order a sweep goes through them (a task's history
    after the task)."""

    SUCCESSES = "successes"
    REMOVED = "removed"
    ROLLUPS = "rollups"
    ATTEMPT_ERRORS = "attempt_errors"
    PAYLOAD_HISTORY = "payload_history"


HISTORY = frozenset({Prunable.ATTEMPT_ERRORS, Prunable.PAYLOAD_HISTORY})


@dataclass(frozen=True, slots=True)
class Retention:
    """Seconds to keep each kind of record (None: forever; 0: prune all of it)."""

    successes: float | None = DEFAULT_KEEP_SUCCESSES
    rollups: float | None = DEFAULT_KEEP_ROLLUPS
    removed: float | None = DEFAULT_KEEP_REMOVED

    def periods(self) -> list[tuple[Prunable, float]]:
        """(what, older than seconds) for everything pruned, in sweep order."""
        kept = {
            Prunable.SUCCESSES: self.successes,
            Prunable.REMOVED: self.removed,
            Prunable.ROLLUPS: self.rollups,
            Prunable.ATTEMPT_ERRORS: HISTORY_GRACE_SECONDS,
            Prunable.PAYLOAD_HISTORY: HISTORY_GRACE_SECONDS,
        }
        return [(what, float(age)) for what, age in kept.items() if age is not None]

    @property
    def keeps_everything(self) -> bool:
        return self.successes is None and self.rollups is None and self.removed is None


@dataclass(slots=True)
class PruneReport:
    """Rows deleted (or, in a dry run, that would be) per kind; ``pending``: the sweep stopped
    at its batch limit with old rows left (the next one goes on)."""

    counts: dict[str, int] = field(default_factory=dict)
    pending: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


PruneBatch = Callable[[Prunable, float, int], int]
CountOld = Callable[[Prunable, float], int]


def sweep(
    prune_batch: PruneBatch,
    periods: list[tuple[Prunable, float]],
    max_batches: int | None,
    batch: int = BATCH,
) -> PruneReport:
    """Delete in batches of ``batch`` rows, up to ``max_batches`` per kind (None: until none
    is left), counting every row deleted."""
    report = PruneReport()
    for what, older_than in periods:
        deleted = done = 0
        while True:
            count = prune_batch(what, older_than, batch)
            deleted += count
            done += 1
            if count < batch:
                break
            if max_batches is not None and done >= max_batches:
                report.pending = True
                break
        report.counts[what.value] = deleted
    return report


class Sweeper:
    """A worker's sweeps (maintenance.py): a few batches of each kind; the history only after
    tasks were pruned (by this sweep, or by an earlier one whose history sweep left rows)."""

    def __init__(self, prune_batch: PruneBatch, retention: Retention) -> None:
        self.prune_batch = prune_batch
        periods = [] if retention.keeps_everything else retention.periods()
        self.tasks = [(what, age) for what, age in periods if what not in HISTORY]
        self.history = [(what, age) for what, age in periods if what in HISTORY]
        self.orphans = False  # tasks were pruned since the history was last swept to the end

    def sweep_once(self) -> bool:
        """One sweep; True if it left old rows for the next."""
        if not self.tasks:
            return False
        report = sweep(self.prune_batch, self.tasks, WORKER_BATCHES, BATCH)
        self.orphans |= bool(
            report.counts.get(Prunable.SUCCESSES) or report.counts.get(Prunable.REMOVED)
        )
        if self.orphans:
            history = sweep(self.prune_batch, self.history, WORKER_BATCHES, BATCH)
            self.orphans = history.pending
            report.counts |= history.counts
            report.pending |= history.pending
        if report.total:
            counts = ", ".join(f"{n} {what}" for what, n in report.counts.items() if n)
            more = "; more left for the next sweep" if report.pending else ""
            log.info("pruned past their retention: %s%s", counts, more)
        return report.pending


def dry_run(count_old: CountOld, periods: list[tuple[Prunable, float]]) -> PruneReport:
    """How many rows a sweep until the end would delete now, per kind."""
    return PruneReport({what.value: count_old(what, older_than) for what, older_than in periods})


def retention_of(
    successes: object, rollups: object, removed: object, zero_keeps: bool = True
) -> Retention:
    """A Retention from seconds, timedeltas or text ('7d'); None keeps forever, and so does 0
    when ``zero_keeps`` (a worker's setting; for ``prune`` by hand, 0 prunes everything)."""

    def period(value: object, what: str) -> float | None:
        if value is None:
            return None
        seconds = check_delay(value, what)
        return None if zero_keeps and not seconds else seconds

    return Retention(
        period(successes, "keep_successes"),
        period(rollups, "keep_rollups"),
        period(removed, "keep_removed"),
    )
