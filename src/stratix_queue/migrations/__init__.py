"""The migration runner (``runner.py``); each database's numbered up/down SQL files are in
its package, ``backends/<database>/migrations/``."""

from __future__ import annotations

import os


def latest_version(folder: str) -> int:
    """The newest migration in a database's migrations folder, from the file names alone (a
    worker checks its database against it at start, without loading the runner or the SQL)."""
    return max(
        (int(name[:3]) for name in os.listdir(folder) if name[:3].isdigit()),
        default=0,
    )
