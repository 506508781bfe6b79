""":class:`GroupOps`: a group's pause with a reason and an end, its circuit breaker, and the
state changes maintenance makes to them (queries in each database's ``groups.sql``;
docs/groups.md).

Every change of state is one compare-and-set UPDATE whose WHERE repeats the state it leaves,
followed, in the same transaction and only if it changed the row, by what goes with it: the
group's tasks paused or runnable again, and their gate (a probing breaker claims through one).
Several workers making the same change at once therefore make it once: the others' UPDATE
finds the row changed (PostgreSQL and MariaDB read it again once its lock is released; SQLite
has one writer at a time) and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from stratix_queue.backends.flow_ops import FlowOps
from stratix_queue.backends.session import Row, Session

if TYPE_CHECKING:
    from stratix_queue.backends.action_args import Audit


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """A group's circuit breaker: it opens when, over the last ``window`` seconds, at least
    ``min_tasks`` outcomes were counted and ``threshold`` (0 to 1) of them were failures; it
    then keeps the group paused for ``cooldown`` seconds before one probe task runs."""

    threshold: float
    min_tasks: int
    window: float
    cooldown: float


@dataclass(frozen=True, slots=True)
class _Transition:
    update: str  # the compare-and-set UPDATE (groups.sql)
    tasks: str | None  # then, on the group's tasks (queries.sql)
    regate: bool  # the breaker entered or left 'probing': the tasks' gate follows


# The changes maintenance makes (group_watch.py), by name.
TRANSITIONS = {
    "resume_due": _Transition("resume_due_group", "resume_group_jobs", False),
    "open": _Transition("open_breaker", "pause_group_jobs", True),
    "probe": _Transition("probe_breaker", "resume_group_jobs", True),
    "close": _Transition("close_breaker", None, True),
    "reopen": _Transition("reopen_breaker", "pause_group_jobs", True),
    "forget_probe": _Transition("forget_probe", None, False),
}


class GroupOps(FlowOps):
    """Pauses with a reason and an end, breakers, and their state changes."""

    def pause_group_until(
        self,
        group: str,
        until: datetime | float | None,
        reason: str | None,
        audit: Audit | None = None,
    ) -> int:
        """Pause a group (until a naive UTC time, or so many seconds from now by the
        database's clock; None: until resumed) with ``reason``, its waiting and delayed tasks
        with it; the breaker goes back to closed. How many tasks were paused."""
        at = until if isinstance(until, datetime) else None
        seconds = None if isinstance(until, datetime) else until

        def body(session: Session) -> int:
            params = {"group": group, "at": at, "seconds": seconds, "reason": reason}
            self._run(session, "pause_group_until", params)
            count = self._run(session, "pause_group_jobs", {"group": group}).rowcount
            self._regate(session, group)
            if audit is not None:
                self._run(session, "insert_audit", audit.params(count, ()))
            return count

        return self._transaction(body)

    def resume_group_closing(self, group: str, audit: Audit | None = None) -> int:
        """Resume a group, ending its timed pause and closing its breaker; how many tasks
        became runnable again."""

        def body(session: Session) -> int:
            self._run(session, "resume_group_closing", {"group": group})
            count = self._run(session, "resume_group_jobs", {"group": group}).rowcount
            self._regate(session, group)
            if audit is not None:
                self._run(session, "insert_audit", audit.params(count, ()))
            return count

        return self._transaction(body)

    def set_group_breaker(
        self, group: str, breaker: BreakerSettings | None, audit: Audit | None = None
    ) -> int:
        """Give a group a breaker (None: take it away, resuming the group if it held it
        paused); how many tasks became runnable again."""

        def body(session: Session) -> int:
            count = 0
            if breaker is None:
                if self._run(session, "release_open_breaker", {"group": group}).rowcount:
                    count = self._run(session, "resume_group_jobs", {"group": group}).rowcount
                self._run(session, "clear_group_breaker", {"group": group})
                self._regate(session, group)
            else:
                params = {
                    "group": group,
                    "threshold": breaker.threshold,
                    "min_tasks": breaker.min_tasks,
                    "window": breaker.window,
                    "cooldown": breaker.cooldown,
                }
                self._run(session, "set_group_breaker", params)
            if audit is not None:
                self._run(session, "insert_audit", audit.params(count, ()))
            return count

        return self._transaction(body)

    def group_settings(self) -> list[Row]:
        """Every group's row: status, pause reason and end, limits, breaker."""
        return self._read("group_settings")

    def watched_groups(self) -> list[Row]:
        """The groups with a timed pause or a breaker, with what maintenance decides on."""
        return self._read("watched_groups")

    def group_transition(self, group: str, transition: str, probe: int | None = None) -> bool:
        """Make one of :data:`TRANSITIONS` if the group is still in the state it leaves
        (``probe``: the probe task it was decided on); True if this call made it."""
        step = TRANSITIONS[transition]

        def body(session: Session) -> bool:
            if self._run(session, step.update, {"group": group, "probe": probe}).rowcount != 1:
                return False
            if step.tasks is not None:
                self._run(session, step.tasks, {"group": group})
            if step.regate:
                self._regate(session, group)
            return True

        return self._transaction(body)
