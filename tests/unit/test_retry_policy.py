"""The one retry policy of outcome writes (outcomes.py): contention is retried at once with a
short backoff, an outage or persisting contention is waited out (logged once) until the shutdown
deadline, and any other database error is raised at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from stratix_queue import outcomes
from stratix_queue.backends.limits import CONTENTION_RETRIES, Health
from stratix_queue.errors import DatabaseError, DatabaseUnavailableError, TransientDatabaseError
from stratix_queue.outcomes import RetryPolicy


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(outcomes.time, "sleep", slept.append)
    return slept


def _failing(errors: list[Exception]) -> tuple[Callable[[], str], list[int]]:
    """A write that raises ``errors`` in turn, then answers "done"; and its call count."""
    calls = [0]

    def write() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return "done"

    return write, calls


def test_contention_is_retried_briefly_and_silently(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(Health("db"))
    write, calls = _failing([TransientDatabaseError("deadlock")] * 3)
    with caplog.at_level(logging.ERROR):
        assert policy.run(write, "record") == "done"
    assert calls == [4] and len(sleeps) == 3 and all(s <= 0.2 for s in sleeps)
    assert not policy.health.down and not caplog.records


def test_an_outage_is_waited_out_with_growing_waits_and_logged_once(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(Health("db"))
    write, calls = _failing([DatabaseUnavailableError("gone")] * 8)
    with caplog.at_level(logging.WARNING):
        assert policy.run(write, "record") == "done"
    assert calls == [9]
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    assert [r.getMessage().split(" at ")[0] for r in caplog.records] == [
        "lost the database",
        "the database",
    ]
    assert not policy.health.down


def test_contention_that_persists_becomes_an_outage(sleeps: list[float]) -> None:
    policy = RetryPolicy(Health("db"))
    write, calls = _failing([TransientDatabaseError("lock wait")] * (CONTENTION_RETRIES + 2))
    assert policy.run(write, "record") == "done"
    assert calls == [CONTENTION_RETRIES + 3]
    assert sleeps[CONTENTION_RETRIES:] == [0.2, 0.4]


def test_the_shutdown_deadline_ends_the_waiting(sleeps: list[float]) -> None:
    policy = RetryPolicy(Health("db"))
    policy.deadline = time.monotonic() - 1
    write, calls = _failing([DatabaseUnavailableError("gone")] * 5)
    with pytest.raises(DatabaseUnavailableError):
        policy.run(write, "record")
    assert calls == [1] and not sleeps


def test_an_impatient_write_gives_up_on_an_outage_but_not_on_brief_contention(
    sleeps: list[float],
) -> None:
    policy = RetryPolicy(Health("db"))
    write, _ = _failing([DatabaseUnavailableError("gone")])
    with pytest.raises(DatabaseUnavailableError):
        policy.run(write, "give back", patient=False)
    write, calls = _failing([TransientDatabaseError("deadlock")] * 2)
    assert policy.run(write, "give back", patient=False) == "done"
    assert calls == [3]
    write, _ = _failing([TransientDatabaseError("lock wait")] * (CONTENTION_RETRIES + 1))
    with pytest.raises(TransientDatabaseError):
        policy.run(write, "give back", patient=False)
    assert not policy.health.down


def test_any_other_database_error_is_raised_at_once(sleeps: list[float]) -> None:
    policy = RetryPolicy(Health("db"))
    write, calls = _failing([DatabaseError("no such column")])
    with pytest.raises(DatabaseError, match="no such column"):
        policy.run(write, "record")
    assert calls == [1] and not sleeps
