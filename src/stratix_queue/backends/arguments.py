"""The arguments of the driver's operations (backends/driver.py): typed, validated by the service
layer (validation.py) before they reach a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewJob:
    """One task to insert, already validated; ``payload_json`` is the encoded payload."""

    name: str
    executor: str
    group: str | None
    payload_json: str
    priority: int
    max_attempts: int
    delay_seconds: float
    run_at: datetime | None  # naive UTC; wins over delay_seconds when set
    timeout_seconds: float | None = None
    unique_key: str | None = None  # docs/unique_tasks.md
    unique_while_failed: bool = False

    @property
    def delayed(self) -> bool:
        return self.run_at is not None or self.delay_seconds > 0


@dataclass(frozen=True, slots=True)
class ClaimParams:
    """Claim up to ``limit`` waiting tasks for ``worker_id`` under a fresh lease."""

    worker_id: str
    lease_token: str
    limit: int
    lease_seconds: float
    groups: tuple[str, ...] | None = None  # None: every group (and tasks without one)
    # The worker's: it claims no task of another executor. None: every executor with a task
    # waiting (a tool's or a test's claim).
    executors: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A live worker as registered in ``queue_workers``."""

    worker_id: str
    hostname: str
    pid: int
    concurrency: int
    group_names: str | None
    executors: str | None = None  # a JSON array


@dataclass(frozen=True, slots=True)
class ErrorData:
    """A failure to record, with its texts already capped to what every backend stores."""

    message: str | None
    stack: str | None
    code: str | None
    fingerprint: str | None = None  # fingerprint.py; error_data() fills it in


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Send an executing task back to ``delayed`` for another attempt after ``delay_seconds``."""

    error: ErrorData
    delay_seconds: float


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Optional filters of an operator's listing; None matches anything."""

    status: str | None = None
    group: str | None = None
    executor: str | None = None
    code: str | None = None

    def params(self) -> dict[str, str | None]:
        return {
            "status": self.status,
            "group": self.group,
            "executor": self.executor,
            "code": self.code,
        }
