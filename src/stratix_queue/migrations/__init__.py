"""Numbered up/down SQL migrations per backend (``runner.py`` applies them)."""

from __future__ import annotations

import os

from stratix_queue.sqlfile import PACKAGE_DIR


def latest_version(dialect: str) -> int:
    """The newest migration shipped for ``dialect``, from the file names alone (a worker checks
    its database against it at start, without loading the runner or reading the SQL)."""
    folder = os.path.join(PACKAGE_DIR, "migrations", dialect)
    return max(
        (int(name[:3]) for name in os.listdir(folder) if name[:3].isdigit()),
        default=0,
    )
