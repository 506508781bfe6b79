"""The worker's settings: one frozen object holds them, their defaults and their checks.

``QueueService.run_worker(...)``, ``stratix-queue worker`` and its supervisor all build a
:class:`WorkerOptions` and pass that one object on (the supervisor's forked children inherit it).
Its constructor refuses a bad value with InvalidInputError, so every instance is valid; the
values it stores are resolved (``heartbeat_seconds`` and ``rescue_interval`` are never None, and
``groups`` is a tuple).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stratix_queue.backends.limits import DEADLINE_GRACE_SECONDS
from stratix_queue.durations import Seconds
from stratix_queue.errors import InvalidInputError
from stratix_queue.retention import (
    DEFAULT_KEEP_REMOVED,
    DEFAULT_KEEP_ROLLUPS,
    DEFAULT_KEEP_SUCCESSES,
    Retention,
    retention_of,
)
from stratix_queue.validation import check_int, check_name

MAX_CONCURRENCY = 1024
MAX_PREFETCH = 10_000


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """Lease timing, derived from a WorkerOptions (its ``leases``). The lease must outlast
    several heartbeats; all times are the database's."""

    lease_seconds: float
    heartbeat_seconds: float
    rescue_interval: float

    @property
    def stale_worker_seconds(self) -> float:
        return max(3 * self.lease_seconds, 60.0)

    @property
    def statement_seconds(self) -> float:
        """A worker's statements may run this long on the server (its session limits), and go
        unanswered DEADLINE_GRACE_SECONDS longer before the watchdog gives the connection up:
        a silent connection is replaced well within a lease."""
        return max(1.0, self.lease_seconds / 4 - DEADLINE_GRACE_SECONDS)

    @property
    def silence_seconds(self) -> float:
        return self.statement_seconds + DEADLINE_GRACE_SECONDS

    @property
    def stuck_outcome_seconds(self) -> float:
        """An outcome not written this long after its task finished is stuck: its lease is no
        longer renewed (a silent connection alone is replaced well before that)."""
        return self.heartbeat_seconds + self.silence_seconds


@dataclass(frozen=True, slots=True, init=False)
class WorkerOptions:
    """A worker's settings, checked; see ``QueueService.run_worker`` for what each one does."""

    concurrency: int
    prefetch: int | None  # claimed tasks waiting for a slot (None: adaptive; slot_threads.py)
    burst: bool
    poll_interval: float  # the longest idle wait between two claims
    groups: tuple[str, ...] | None
    lease_seconds: float
    heartbeat_seconds: float
    rescue_interval: float
    grace_seconds: float
    listen: bool  # the wake-up thread; False: poll only (PgBouncer's transaction pooling)
    handle_signals: bool
    # Seconds finished records are kept (retention.py; None: forever), pruned by maintenance.
    keep_successes: float | None
    keep_rollups: float | None
    keep_removed: float | None
    schedules: bool  # enqueue the due ticks of schedules (scheduler.py)
    # Derived, for the worker's loops:
    retention: Retention = field(init=False, repr=False, compare=False)
    leases: LeaseSettings = field(init=False, repr=False, compare=False)
    # adaptive polling restarts here once work was found
    min_poll_interval: float = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        *,
        concurrency: int = 4,
        prefetch: int | None = None,
        burst: bool = False,
        poll_interval: float = 1.0,
        groups: Sequence[str] | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float | None = None,  # None: a third of the lease
        rescue_interval: float | None = None,  # None: the heartbeat
        grace_seconds: float = 30.0,
        listen: bool = True,
        handle_signals: bool = False,
        keep_successes: Seconds | None = DEFAULT_KEEP_SUCCESSES,  # 0 or None: forever
        keep_rollups: Seconds | None = DEFAULT_KEEP_ROLLUPS,
        keep_removed: Seconds | None = DEFAULT_KEEP_REMOVED,
        schedules: bool = True,
    ) -> None:
        lease = _positive(lease_seconds, "lease_seconds")
        heartbeat = _positive(
            lease / 3 if heartbeat_seconds is None else heartbeat_seconds, "heartbeat_seconds"
        )
        if heartbeat >= lease:
            raise InvalidInputError("heartbeat_seconds must be shorter than lease_seconds")
        names = None
        if groups is not None:
            names = tuple(str(check_name(g, "group")) for g in groups)
            if not names:
                raise InvalidInputError("groups must name at least one group (or be None)")
        slots = check_int(concurrency, "concurrency", 1, MAX_CONCURRENCY)
        buffer = None if prefetch is None else check_int(prefetch, "prefetch", 0, MAX_PREFETCH)
        poll = _positive(poll_interval, "poll_interval")
        rescue = _positive(
            heartbeat if rescue_interval is None else rescue_interval, "rescue_interval"
        )
        values: dict[str, object] = {
            "concurrency": slots,
            "prefetch": buffer,
            "burst": bool(burst),
            "poll_interval": poll,
            "groups": names,
            "lease_seconds": lease,
            "heartbeat_seconds": heartbeat,
            "rescue_interval": rescue,
            "grace_seconds": _positive(grace_seconds, "grace_seconds"),
            "listen": bool(listen),
            "handle_signals": bool(handle_signals),
            "schedules": bool(schedules),
        }
        retention = retention_of(keep_successes, keep_rollups, keep_removed)
        values |= {
            "keep_successes": retention.successes,
            "keep_rollups": retention.rollups,
            "keep_removed": retention.removed,
            "retention": retention,
            "leases": LeaseSettings(lease, heartbeat, rescue),
            "min_poll_interval": min(0.05, poll),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: past its __setattr__


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInputError(f"{what} must be a positive number of seconds")
    return float(value)
