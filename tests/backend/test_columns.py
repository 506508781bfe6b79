"""The column lists rows are decoded by position, checked on the live databases: the columns
the insert statements return (``insert_path.INSERTED_COLUMNS``, decoded by ``inserted_jobs``)
and those of the claim's read (``job.CLAIMED_COLUMNS``, decoded by ``job.claimed_jobs``).
tests/unit/test_sql_files.py reads them in the SQL text; here the database itself names them.

The statements run as the driver runs them, on its own pooled session (``_session``,
``_insert_statement``, ``_bind``: this is the driver's own tier), inside a transaction that is
rolled back: nothing stays behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from stratix_queue.backends.arguments import ClaimParams
from stratix_queue.backends.driver import Driver
from stratix_queue.backends.insert_path import INSERTED_COLUMNS
from stratix_queue.backends.session import Session
from stratix_queue.backends.sql_driver import SqlDriver, claim_values
from stratix_queue.job import CLAIMED_COLUMNS
from tests.backend.conftest import RawSql, count, new_job
from tests.conftest import only


@contextmanager
def _rolled_back(driver: Driver) -> Iterator[tuple[SqlDriver, Session]]:
    """The driver's pooled session inside a transaction that is rolled back afterwards."""
    assert isinstance(driver, SqlDriver)
    with driver._session() as session:
        session.begin()
        try:
            yield driver, session
        finally:
            session.rollback()


def _names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The column names of a statement's answer, in order (a session's rows are dicts whose keys
    are the columns, in order); the statement must have answered a row."""
    assert rows, "the statement answered no row: no column names to check"
    return list(rows[0])


def _insert(sql_driver: SqlDriver, session: Session, tasks: int, query: str) -> list[str]:
    """Insert ``tasks`` tasks with the statement insert_jobs would run; its column names."""
    jobs = [new_job(f"n{i}", group="g" if i else None) for i in range(tasks)]
    sql, params = sql_driver._insert_statement(jobs)
    assert sql == sql_driver.queries[query]  # the statement we mean to check
    result = session.run(sql, params)
    assert len(result.rows) == tasks
    return _names(result.rows)


@pytest.mark.parametrize(("tasks", "query"), [(1, "insert_job_row"), (2, "insert_jobs")])
def test_the_insert_returns_the_inserted_columns_in_order(
    driver: Driver, raw: RawSql, tasks: int, query: str
) -> None:
    with _rolled_back(driver) as (sql_driver, session):
        assert _insert(sql_driver, session, tasks, query) == list(INSERTED_COLUMNS)
    assert count(raw, "queue_jobs") == 0  # rolled back


def _claim_statements(
    sql_driver: SqlDriver, params: ClaimParams
) -> list[tuple[str, dict[str, Any]]]:
    """A claim's statements, bound, in order; the last one answers the claimed rows."""
    if sql_driver.dialect == "postgres":
        name = "claim_jobs" if params.groups is None else "claim_jobs_in_groups"
        bound = sql_driver._bind(name, claim_values(params))
        assert bound is not None
        return [bound]
    from stratix_queue.backends.mariadb.driver import MariadbDriver

    assert isinstance(sql_driver, MariadbDriver)
    statements = sql_driver.claim_statements(params)
    assert statements[-1][0] == sql_driver.queries["claim_read"]
    return statements


# SQLite's claim_read answers each row as a JSON array, without column names: its order is
# checked in the SQL text (tests/unit/test_sql_files.py).
@only("postgres", "mysql")
@pytest.mark.parametrize("groups", [None, ("g",)], ids=["all", "in_groups"])
def test_the_claim_reads_the_claimed_columns_in_order(
    backend: str, driver: Driver, raw: RawSql, groups: tuple[str, ...] | None
) -> None:
    params = ClaimParams("w", "T", 10, 60.0, groups, ("e", "other"))
    with _rolled_back(driver) as (sql_driver, session):
        _insert(sql_driver, session, 2, "insert_jobs")  # one without a group, one in g
        result = None
        for bound in _claim_statements(sql_driver, params):
            result = session.run(*bound)
        assert result is not None
        assert _names(result.rows) == list(CLAIMED_COLUMNS)
        assert len(result.rows) == (2 if groups is None else 1)
    assert count(raw, "queue_jobs") == 0  # rolled back
