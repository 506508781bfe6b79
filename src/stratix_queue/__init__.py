"""stratix-queue: a Python task queue whose tasks live in SQLite, PostgreSQL or MySQL/MariaDB."""

from stratix_queue.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    DriverNotInstalledError,
    ExecutorNotFoundError,
    InvalidInputError,
    InvalidTaskIdError,
    MigrationError,
    SchemaNotReadyError,
    StratixQueueError,
    TransientDatabaseError,
    UnsupportedURLError,
)
from stratix_queue.job import ErrorInfo, FailedTasksStats, Job, JobStatus, RetryResult
from stratix_queue.repository import JobRepository
from stratix_queue.service import QueueService
from stratix_queue.worker import WorkerStats

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DriverNotInstalledError",
    "ErrorInfo",
    "ExecutorNotFoundError",
    "FailedTasksStats",
    "InvalidInputError",
    "InvalidTaskIdError",
    "Job",
    "JobRepository",
    "JobStatus",
    "MigrationError",
    "QueueService",
    "RetryResult",
    "SchemaNotReadyError",
    "StratixQueueError",
    "TransientDatabaseError",
    "UnsupportedURLError",
    "WorkerStats",
    "__version__",
]
