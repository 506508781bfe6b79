"""The failure ledger's kept counts against a recount of the failed rows: every test that
changes tasks in a way the ledger follows ends with ``assert kept_counts(...) == recount(...)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stratix_queue.backends.driver import Driver

Query = Callable[[str], Sequence[Sequence[Any]]]

RECOUNT = (
    "SELECT COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''), "
    "COALESCE(error_code, ''), COUNT(*) FROM queue_jobs WHERE status = 'failed' "
    "GROUP BY COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''), "
    "COALESCE(error_code, '')"
)


# Fills queue_failure_counts from the failed rows, as migration 006 does (a test or the bench
# that writes failed rows by raw SQL).
REFILL_COUNTS = (
    "INSERT INTO queue_failure_counts (fingerprint, executor, group_name, error_code, failed, "
    "first_seen, last_seen, sample_message) "
    "SELECT COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''), "
    "COALESCE(error_code, ''), COUNT(*), MIN(failed_at), MAX(failed_at), MAX(error_message) "
    "FROM queue_jobs WHERE status = 'failed' GROUP BY COALESCE(fingerprint, ''), executor, "
    "COALESCE(group_name, ''), COALESCE(error_code, '')"
)


def stack_at(line: str) -> str:
    """A formatted traceback whose application frame runs ``line`` (its fingerprint's)."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/rates.py", line 12, in convert\n'
        f"    {line}\n"
        "LookupError: no exchange rate\n"
    )


def recount(query: Query) -> dict[tuple[str, str, str, str], int]:
    """(fingerprint, executor, group, code) -> failed tasks, counted from queue_jobs."""
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in query(RECOUNT)}


def kept_counts(driver: Driver) -> dict[tuple[str, str, str, str], int]:
    """The same, as queue_failure_counts keeps it."""
    return {
        (r["fingerprint"], r["executor"], r["group_name"], r["error_code"]): int(r["failed"])
        for r in driver.failure_counts()
    }
