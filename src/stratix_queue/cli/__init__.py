"""The ``stratix-queue`` command line (Click + Rich). Every command goes through QueueService."""

from stratix_queue.cli import (  # noqa: F401
    audit,
    failed,
    failed_actions,
    groups,
    migrate,
    plans,
    schedules,
    stats,
    tasks,
    workers,
)
from stratix_queue.cli.root import cli, main

__all__ = ["cli", "main"]
