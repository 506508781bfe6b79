"""What every worker's maintenance does for groups, every second (docs/groups.md): resume a
group whose timed pause is over, and move circuit breakers between their states.

- closed -> open: over the breaker's window, at least ``min_tasks`` outcomes and ``threshold``
  of them failures. Failures are failed, retried and rescued attempts; successes are
  succeeded tasks; both read from the per-minute rollups (``queue_rollups``), which the
  outcomes' own transactions write: nothing is added on the outcome path. Open: the group
  paused for the cool-down, with the reason ``'breaker'``.
- open -> probing: the cool-down is over; the group is active and its gated claim lets exactly
  one task through (flow.sql), the probe.
- probing -> closed when the probe succeeded; -> open again when it failed (an attempt error
  since probing began, or failed); a probe that will not tell (cancelled, discarded, given
  back) is forgotten and another task goes.

Each change is a compare-and-set (group_ops.py): when workers make the same one at once, one
makes it and logs it, the others change nothing and say nothing."""

from __future__ import annotations

import logging
import time
from typing import Any

from stratix_queue.backends.driver import Driver
from stratix_queue.backends.session import Row

log = logging.getLogger("stratix_queue.groups")
WATCH_SECONDS = 1.0


class GroupWatch:
    """The groups' share of a worker's maintenance thread."""

    def __init__(self, backend: Driver, interval: float = WATCH_SECONDS) -> None:
        self.backend = backend
        self.interval = interval
        self._next = 0.0

    def tick(self) -> bool:
        """``step`` once ``interval`` has passed since the last; False if it was not time."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        self.step()
        return True

    def step(self) -> list[tuple[str, str]]:
        """Make the changes that are due; the (group, transition) pairs this call made."""
        made: list[tuple[str, str]] = []
        for row in self.backend.watched_groups():
            transition = decide(row)
            if transition is None:
                continue
            group = str(row["group_name"])
            probe = None if row["probe_job_id"] is None else int(row["probe_job_id"])
            if self.backend.group_transition(group, transition, probe):
                made.append((group, transition))
                _log(transition, row)
        return made


def decide(row: Row) -> str | None:
    """The change a watched group's row calls for (group_ops.TRANSITIONS), or None."""
    state = row["breaker_state"]
    if row["status"] == "paused":
        if not int(row["due"] or 0):
            return None
        return "probe" if state == "open" else "resume_due"
    if state == "probing" and row["probe_job_id"] is not None:
        return _probe_outcome(row)
    if state is None and row["failures"] is not None:
        return "open" if _tripped(row) else None
    return None


def _probe_outcome(row: Row) -> str | None:
    if int(row["probe_succeeded"]):
        return "close"
    if int(row["probe_errors"]) or row["probe_status"] == "failed":
        return "reopen"
    if row["probe_status"] in (None, "waiting"):
        return "forget_probe"
    return None  # it runs (or waits to run again): its outcome is to come


def failure_counts(row: Row) -> tuple[int, int]:
    """(failures, outcomes) over the breaker's window."""
    failures = int(row["failures"] or 0)
    return failures, failures + int(row["successes"] or 0)


def _tripped(row: Row) -> bool:
    failures, outcomes = failure_counts(row)
    if outcomes == 0 or outcomes < int(row["breaker_min_tasks"]):
        return False
    return failures / outcomes >= float(row["breaker_threshold"])


def _log(transition: str, row: Row) -> None:
    group: Any = row["group_name"]
    if transition == "resume_due":
        log.info("group %s resumed: its timed pause is over", group)
    elif transition == "open":
        failures, outcomes = failure_counts(row)
        log.warning(
            "group %s paused: circuit breaker opened, %d of %d outcomes failed (%.0f%%, "
            "threshold %.0f%%) in the last %gs; one probe task in %gs",
            group,
            failures,
            outcomes,
            100.0 * failures / outcomes,
            100.0 * float(row["breaker_threshold"]),
            float(row["breaker_window"]),
            float(row["breaker_cooldown"]),
        )
    elif transition == "probe":
        log.info("group %s: circuit breaker cool-down over, letting one probe task through", group)
    elif transition == "close":
        log.info(
            "group %s: probe task %s succeeded, circuit breaker closed", group, row["probe_job_id"]
        )
    elif transition == "reopen":
        log.warning(
            "group %s paused: probe task %s failed, circuit breaker open again for %gs",
            group,
            row["probe_job_id"],
            float(row["breaker_cooldown"]),
        )
    else:
        log.info(
            "group %s: probe task %s did not run to an outcome (removed or given back), "
            "another task will probe",
            group,
            row["probe_job_id"],
        )
