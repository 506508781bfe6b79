""":class:`FlowOps`: group limits and the claim through a limited group's gate (queries in each
database's ``flow.sql``; docs/flow_control.md).

A group with a concurrency or rate limit (or a breaker letting one probe through) is claimed
apart from the rest: its waiting tasks carry ``gate = group`` and leave the open lane of the claim
index. A gated claim locks the groups it serves (SKIP LOCKED: one claimer per group at a time,
across every process and host), then, in a later statement, counts what the group runs and has
started in its window, and claims no more than the room left. The counts are the rows
themselves (executing tasks, recorded starts), so nothing can drift out of step with them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.lanes import lanes
from stratix_queue.backends.ledger_core import LedgerCore
from stratix_queue.backends.session import Row, Session
from stratix_queue.job import Job, claimed_jobs

if TYPE_CHECKING:
    from stratix_queue.backends.action_args import Audit

# Limited groups served per claim, picked at random among those with tasks waiting.
GATES_PER_CLAIM = 20
# Seconds added to a rate's window: a claimed task starts in its executor a moment after the
# claim (the hand-off to a slot thread), so windows measured by the executors hold too.
RATE_SLACK_SECONDS = 0.05
# How long after a group's row changed maintenance checks the gates of its waiting tasks (an
# insert that raced set_group_limits may have written the old gate).
REGATE_SECONDS = 3600.0
FIX = "fix_waiting_gates"  # the waiting tasks only (fix_gates)


class FlowOps(LedgerCore):
    """Limits per group, the gated claim, and which executors wait and live."""

    def set_group_limits(
        self,
        group: str,
        concurrency: int | None,
        rate: int | None,
        period: float | None,
        audit: Audit | None = None,
    ) -> int:
        """Set (None: clear) a group's limits, and move its tasks to its gate or out of it,
        audited if ``audit`` is given; how many tasks moved."""
        params = {"group": group, "concurrency": concurrency, "rate": rate, "period": period}

        def body(session: Session) -> int:
            self._run(session, "set_group_limits", params)
            moved = self._regate(session, group)
            if audit is not None:
                self._run(session, "insert_audit", audit.params(moved, ()))
            return moved

        return self._transaction(body)

    def _regate(self, session: Session, group: str, statement: str = "regate_group_jobs") -> int:
        """Give the tasks of ``group`` (every one; fix_waiting_gates: the waiting ones) the gate
        its group's row now calls for."""
        rows = self._run(session, "group_gate", {"group": group}).rows
        gate = str(rows[0]["gate"]) if rows else ""
        return self._run(session, statement, {"group": group, "gate": gate}).rowcount

    def fix_gates(self) -> int:
        """Waiting tasks of groups changed lately that carry the wrong gate (an insert raced the
        change) get the right one; how many."""
        changed = self._read("recently_changed_groups", {"seconds": REGATE_SECONDS})
        fixed = 0
        for row in changed:
            group = str(row["group_name"])
            fixed += self._transaction(partial(self._regate, group=group, statement=FIX))
        return fixed

    # -- the gated claim ----------------------------------------------------------------------

    def claim_gated(self, params: ClaimParams) -> list[Job] | None:
        """Claim up to ``params.limit`` tasks of limited groups, none beyond a group's limits;
        None when no limited group has a task of these executors waiting."""
        executors = list(params.executors or ())
        if not executors or params.limit <= 0:
            return None
        waiting = self._read("gates_waiting", {"executors": executors, "limit": GATES_PER_CLAIM})
        names = [str(row["group_name"]) for row in waiting]
        if params.groups is not None:
            names = [name for name in names if name in params.groups]
        if not names:
            return None
        rows = self._transaction(lambda session: self._claim_gates(session, params, names))
        return claimed_jobs(rows, params.worker_id, params.lease_token)

    def _claim_gates(
        self, session: Session, params: ClaimParams, names: list[str]
    ) -> list[tuple[Any, ...]]:
        locked = self._run(session, "lock_gates", {"groups": names}).rows
        if not locked:
            return []
        served = [str(row["group_name"]) for row in locked]
        room = self._room(session, served)
        claimed: list[tuple[Any, ...]] = []
        for group in locked:
            name = str(group["group_name"])
            wanted = min(room.get(name, 0), params.limit - len(claimed))
            if wanted > 0:
                rows = self._gate_rows(session, params, name, wanted)
                claimed.extend(rows)
                self._after_gate_claim(session, group, rows)
            if len(claimed) >= params.limit:
                break
        return claimed

    def _room(self, session: Session, groups: Sequence[str]) -> dict[str, int]:
        """How many more tasks each locked group may start now."""
        rows = self._run(
            session, "gate_room", {"groups": list(groups), "slack": RATE_SLACK_SECONDS}
        ).rows
        return {str(row["group_name"]): _room_of(row) for row in rows}

    def _after_gate_claim(self, session: Session, group: Row, rows: list[tuple[Any, ...]]) -> None:
        """Record the starts a rate counts, forget those out of its window, and note a
        breaker's probe."""
        name = str(group["group_name"])
        if not rows:
            return
        if group["rate_limit"] is not None:
            self._run(session, "record_starts", {"group": name, "count": len(rows)})
            self._run(
                session,
                "forget_starts",
                {"group": name, "period": float(group["rate_period"]), "slack": RATE_SLACK_SECONDS},
            )
        if group["breaker_state"] == "probing":
            self._run(session, "set_probe", {"group": name, "job_id": int(rows[0][0])})

    def _gate_rows(
        self, session: Session, params: ClaimParams, gate: str, limit: int
    ) -> list[tuple[Any, ...]]:
        """Claim up to ``limit`` tasks at ``gate``: rows of job.CLAIMED_COLUMNS (one UPDATE ...
        RETURNING here; SQLite and MariaDB claim in several statements)."""
        values = {
            "worker_id": params.worker_id,
            "lease_token": params.lease_token,
            "lease_seconds": params.lease_seconds,
            "executors": list(params.executors or ()),
            "gate": gate,
            "limit": limit,
        }
        bound = self._bind("claim_gate", values)
        assert bound is not None, "no list parameter is empty here"
        return session.rows(*bound)

    def _gate_lanes(self, params: ClaimParams, template: str) -> dict[str, Any]:
        """The ``{lanes}`` of a gate's pick, one per executor of the worker."""
        return {"lanes": lanes(self.queries[template], params.executors or ())}

    # -- executors waiting and alive ----------------------------------------------------------

    def waiting_executors(self) -> set[str]:
        """The executors of the tasks waiting, in any gate."""
        return {str(row["executor"]) for row in self._read("waiting_lanes")}

    def live_executors(self, stale_seconds: float) -> set[str] | None:
        """The executors registered by the workers that beat less than ``stale_seconds`` ago;
        None if one of them did not say (a worker of a version before 007, during an upgrade:
        it may have any executor)."""
        found: set[str] = set()
        for row in self._read("live_executors", {"stale_seconds": stale_seconds}):
            if row["executors"] is None:
                return None
            found.update(str(name) for name in json.loads(str(row["executors"])))
        return found


def _room_of(row: Row) -> int:
    """The least of a group's free slots, free starts and free probes (None: no such limit)."""
    limits = [row[key] for key in ("free_slots", "free_starts", "free_probes")]
    given = [int(value) for value in limits if value is not None]
    return max(min(given), 0) if given else 0
