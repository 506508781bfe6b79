"""QueueService's groups: pause (with a reason, until a time or for a while) and resume, the
circuit breaker per group, and the list of groups with their settings (docs/groups.md).

The modules only some of these methods need are imported in them, as service_successes.py
explains: a worker process imports QueueService and never calls them."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.driver import Driver
from stratix_queue.clock import to_naive_utc, to_utc
from stratix_queue.durations import Seconds, parse_duration
from stratix_queue.errors import InvalidInputError
from stratix_queue.job import GroupInfo, JobStatus
from stratix_queue.validation import check_delay, check_int, check_name

if TYPE_CHECKING:
    from stratix_queue.backends.group_ops import BreakerSettings
    from stratix_queue.backends.session import Row

MAX_PAUSE_SECONDS = 10 * 365 * 86400
MAX_BREAKER_SECONDS = 7 * 86400
MAX_MIN_TASKS = 1_000_000
UNTIL_FORMS = "a duration such as '30m', seconds, a timedelta, or a datetime / ISO 8601 time"


class GroupControl:
    """Pausing and resuming groups, their breakers, and what list_groups shows."""

    backend: Driver
    _wakeup: threading.Event

    def pause_group(
        self,
        group: str,
        *,
        until: datetime | Seconds | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Pause a group: its waiting and delayed tasks become ``paused``; returns how many.

        ``until``: the pause ends by itself then (a datetime, aware or naive UTC, or ISO 8601
        text) or after so long (seconds, a timedelta, or text such as ``'30m'``); it must be in
        the future. ``reason`` is kept with the pause (``list_groups``) and in the audit. A
        pause takes the group's circuit breaker back to closed."""
        from stratix_queue import actions

        name = str(check_name(group, "group"))
        end = pause_end(until)
        entry = actions.audit("group_pause", actor, reason, name)
        return self.backend.pause_group_until(name, end, entry.reason, entry)

    def resume_group(
        self, group: str, *, actor: str | None = None, reason: str | None = None
    ) -> int:
        """Resume a group: its paused tasks become waiting (or delayed if not yet due). It
        ends a timed pause, and closes the group's circuit breaker whatever its state."""
        from stratix_queue import actions

        name = str(check_name(group, "group"))
        entry = actions.audit("group_resume", actor, reason, name)
        count = self.backend.resume_group_closing(name, entry)
        self._wakeup.set()
        return count

    def set_group_breaker(
        self,
        group: str,
        *,
        threshold: float = 0.5,
        min_tasks: int = 20,
        window: Seconds = 300.0,
        cooldown: Seconds = 60.0,
        actor: str | None = None,
        reason: str | None = None,
    ) -> BreakerSettings:
        """Give a group a circuit breaker (replacing its settings; its state is kept): it opens
        (pauses the group, reason ``'breaker'``) when, over the last ``window``, at least
        ``min_tasks`` outcomes were counted and ``threshold`` (0 to 1) of them failed; after
        ``cooldown`` one probe task runs, and its outcome closes or opens it again."""
        from stratix_queue import actions

        name = str(check_name(group, "group"))
        settings = breaker_settings(threshold, min_tasks, window, cooldown)
        entry = actions.audit("group_breaker", actor, reason, name)
        self.backend.set_group_breaker(name, settings, entry)
        return settings

    def clear_group_breaker(
        self, group: str, *, actor: str | None = None, reason: str | None = None
    ) -> int:
        """Take a group's breaker away; a group it held paused resumes. Returns how many tasks
        became runnable again."""
        from stratix_queue import actions

        name = str(check_name(group, "group"))
        entry = actions.audit("group_breaker_off", actor, reason, name)
        count = self.backend.set_group_breaker(name, None, entry)
        self._wakeup.set()
        return count

    def list_groups(self) -> list[GroupInfo]:
        """Every group that has tasks, is paused, or has limits or a breaker, by name: its
        counts per status, its pause (reason, until), limits and breaker."""
        rows, _paused = self.backend.group_overview()
        settings = {str(row["group_name"]): row for row in self.backend.group_settings()}
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(str(row["group_name"]), {})[row["status"]] = int(row["count"])
        names = set(counts) | {name for name, row in settings.items() if _notable(row)}
        return [
            group_info(
                name,
                {s.value: counts.get(name, {}).get(s.value, 0) for s in JobStatus},
                settings.get(name),
            )
            for name in sorted(names)
        ]


def pause_end(until: object) -> datetime | float | None:
    """When a pause ends: a naive UTC time, or seconds from now (None: no end);
    InvalidInputError unless it is in the future."""
    if until is None:
        return None
    if isinstance(until, datetime):
        return _future(until)
    if isinstance(until, str):
        try:
            seconds = parse_duration(until)
        except InvalidInputError:
            return _future(_iso_time(until))
    elif isinstance(until, timedelta):
        seconds = until.total_seconds()
    elif isinstance(until, int | float) and not isinstance(until, bool):
        seconds = float(until)
    else:
        raise InvalidInputError(f"until must be {UNTIL_FORMS}, not {type(until).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"until must be in the future, not {until!r}")
    if seconds > MAX_PAUSE_SECONDS:
        raise InvalidInputError("until must be at most ten years from now")
    return seconds


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"until must be {UNTIL_FORMS}, not {text!r}") from None


def _future(moment: datetime) -> datetime:
    """``moment`` as naive UTC, checked to be in the future and within ten years."""
    try:
        naive = to_naive_utc(moment)
    except OverflowError:
        raise InvalidInputError(f"until is out of range in UTC: {moment!r}") from None
    ahead = (naive - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    if ahead <= 0:
        raise InvalidInputError(f"until must be in the future, not {moment.isoformat()}")
    if ahead > MAX_PAUSE_SECONDS:
        raise InvalidInputError("until must be at most ten years from now")
    return naive


def breaker_settings(
    threshold: object, min_tasks: object, window: object, cooldown: object
) -> BreakerSettings:
    """The settings checked: a threshold above 0 and at most 1, min_tasks from 1, a window
    and a cool-down above 0 and at most 7 days."""
    from stratix_queue.backends.group_ops import BreakerSettings

    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 1
    ):
        raise InvalidInputError(
            f"threshold must be a fraction of failures above 0 and at most 1, not {threshold!r}"
        )
    return BreakerSettings(
        float(threshold),
        check_int(min_tasks, "min_tasks", 1, MAX_MIN_TASKS),
        _breaker_seconds(window, "window"),
        _breaker_seconds(cooldown, "cooldown"),
    )


def _breaker_seconds(value: object, what: str) -> float:
    seconds = check_delay(value, what)
    if not 0 < seconds <= MAX_BREAKER_SECONDS:
        raise InvalidInputError(f"{what} must be more than 0 s and at most 7 days, not {value!r}")
    return seconds


def _notable(row: Row) -> bool:
    """A group's row shown even without tasks: paused, limited or with a breaker."""
    keys = ("concurrency_limit", "rate_limit", "breaker_threshold", "breaker_state")
    return row["status"] == "paused" or any(row[key] is not None for key in keys)


def group_info(name: str, counts: dict[str, int], row: Row | None) -> GroupInfo:
    if row is None:
        return GroupInfo(name, False, counts)
    from stratix_queue.flow_limits import Rate

    rate = row["rate_limit"]
    threshold = row["breaker_threshold"]
    state = row["breaker_state"] or ("closed" if threshold is not None else None)
    return GroupInfo(
        name,
        row["status"] == "paused",
        counts,
        reason=row["pause_reason"],
        until=to_utc(row["paused_until"]),
        concurrency=None if row["concurrency_limit"] is None else int(row["concurrency_limit"]),
        rate=None if rate is None else str(Rate(int(rate), float(row["rate_period"]))),
        breaker_state=state,
        breaker_threshold=None if threshold is None else float(threshold),
        breaker_min_tasks=_int(row["breaker_min_tasks"]),
        breaker_window=_float(row["breaker_window"]),
        breaker_cooldown=_float(row["breaker_cooldown"]),
        probe_task_id=_int(row["probe_job_id"]),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
