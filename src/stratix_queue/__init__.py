"""stratix-queue: a Python task queue whose tasks live in SQLite, PostgreSQL or MySQL/MariaDB."""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from stratix_queue.encoding import json_default
from stratix_queue.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    ExecutorNotFoundError,
    InvalidInputError,
    InvalidTaskIdError,
    MigrationError,
    PlanError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
    UnsupportedURLError,
)
from stratix_queue.job import (
    AttemptError,
    ErrorInfo,
    FailedTasksStats,
    FingerprintStats,
    GroupInfo,
    Job,
    JobStatus,
    QueueStats,
    RetryResult,
    Unreadable,
    WorkerInfo,
)
from stratix_queue.outcomes import WorkerStats
from stratix_queue.repository import JobRepository
from stratix_queue.service import QueueService
from stratix_queue.worker_options import WorkerOptions

if TYPE_CHECKING:
    from stratix_queue.failure_filter import FailureFilter
    from stratix_queue.records import ActionResult, AuditEntry, DryRun, Plan, TaskHistory
    from stratix_queue.schedules import Schedule
    from stratix_queue.triage import FailedPage

__version__ = "0.1.0"

# The operators' types, imported on first use: a worker process never needs them.
_LAZY = {
    "ActionResult": "stratix_queue.records",
    "AuditEntry": "stratix_queue.records",
    "DryRun": "stratix_queue.records",
    "Plan": "stratix_queue.records",
    "TaskHistory": "stratix_queue.records",
    "FailureFilter": "stratix_queue.failure_filter",
    "FailedPage": "stratix_queue.triage",
    "Schedule": "stratix_queue.schedules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stratix_queue' has no attribute {name!r}")


# A library leaves logging to the application: without a handler configured, nothing of
# stratix_queue reaches stderr through logging's last resort.
logging.getLogger("stratix_queue").addHandler(logging.NullHandler())

__all__ = [
    "ActionResult",
    "AttemptError",
    "AuditEntry",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DriverNotInstalledError",
    "DryRun",
    "ErrorInfo",
    "ExecutorNotFoundError",
    "FailedPage",
    "FailedTasksStats",
    "FailureFilter",
    "FingerprintStats",
    "GroupInfo",
    "InvalidInputError",
    "InvalidTaskIdError",
    "Job",
    "JobRepository",
    "JobStatus",
    "MigrationError",
    "Plan",
    "PlanError",
    "QueueService",
    "QueueStats",
    "RetryResult",
    "Schedule",
    "SchemaNotReadyError",
    "StratixQueueError",
    "TaskHistory",
    "TransientDatabaseError",
    "Unreadable",
    "UnsupportedURLError",
    "WorkerInfo",
    "WorkerOptions",
    "WorkerStats",
    "__version__",
    "json_default",
]
