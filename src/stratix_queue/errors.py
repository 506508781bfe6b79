"""The one exception hierarchy of stratix-queue.

Every error the package raises on purpose derives from :class:`StratixQueueError`. Database
driver errors are wrapped, with the original kept as ``__cause__``.
"""

from __future__ import annotations


class StratixQueueError(Exception):
    """Base class of every error raised by stratix_queue."""


class ConfigurationError(StratixQueueError):
    """The queue was set up wrongly: a bad URL, a missing driver, a bad option."""


class UnsupportedURLError(ConfigurationError, ValueError):
    """The database URL has a scheme stratix-queue does not know."""


class DriverNotInstalledError(ConfigurationError, ImportError):
    """The database driver of an optional extra is not installed."""


class InvalidInputError(StratixQueueError, ValueError):
    """An argument is not acceptable; nothing was written."""


class InvalidTaskIdError(InvalidInputError, TypeError):
    """A task id is not an integer."""


class DatabaseError(StratixQueueError):
    """The database refused or failed an operation."""


class DatabaseUnavailableError(DatabaseError, ConnectionError):
    """The database server cannot be reached."""


class TransientDatabaseError(DatabaseError):
    """A deadlock, lock timeout or busy database; the operation may be tried again."""


class MigrationError(DatabaseError):
    """A schema migration could not be planned or applied."""


class SchemaNotReadyError(DatabaseError):
    """The database has not been migrated to the schema this version needs."""


class ExecutorNotFoundError(StratixQueueError, LookupError):
    """No executor of that name is registered in this process."""

    code = "EXECUTOR_NOT_FOUND"


class PlanError(StratixQueueError):
    """A bulk plan that does not exist, or is not in a state for what was asked."""
