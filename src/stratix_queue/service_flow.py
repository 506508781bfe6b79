"""QueueService's flow control: limits per group (docs/flow_control.md)."""

from __future__ import annotations

import threading

from stratix_queue.backends.driver import Driver
from stratix_queue.flow_limits import GroupLimits, Rate, check_concurrency, parse_rate
from stratix_queue.validation import check_name


class FlowControl:
    """Concurrency and rate limits per group, enforced by the claim on every worker and host."""

    backend: Driver
    _wakeup: threading.Event

    def set_group_limits(
        self,
        group: str,
        *,
        concurrency: int | None = None,
        rate: str | Rate | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> GroupLimits:
        """Set a group's limits, replacing those it had (None: no such limit; neither: none).

        ``concurrency``: at most that many of its tasks executing at once. ``rate``: at most
        so many starts in any window of the period, e.g. ``"100/m"`` (per s, m or h; ``"5/10s"``
        is 5 per 10 seconds). Claims that begin after this returns obey the new limits."""
        from stratix_queue import actions

        name = str(check_name(group, "group"))
        slots = None if concurrency is None else check_concurrency(concurrency)
        starts = None if rate is None else parse_rate(rate)
        entry = actions.audit("group_limits", actor, reason, name)
        self.backend.set_group_limits(
            name,
            slots,
            None if starts is None else starts.count,
            None if starts is None else starts.period,
            entry,
        )
        self._wakeup.set()
        return GroupLimits(name, slots, starts)

    def clear_group_limits(
        self, group: str, *, actor: str | None = None, reason: str | None = None
    ) -> GroupLimits:
        """Take a group's limits away: its tasks run as any others."""
        return self.set_group_limits(group, actor=actor, reason=reason)
