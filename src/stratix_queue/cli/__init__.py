"""The ``stratix-queue`` command line (Click + Rich). Every command goes through QueueService."""

from stratix_queue.cli import failed, groups, migrate, stats, tasks, workers  # noqa: F401
from stratix_queue.cli.root import cli, main

__all__ = ["cli", "main"]
