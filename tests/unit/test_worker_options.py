"""WorkerOptions: the one object for a worker's settings, their defaults and their checks."""

from __future__ import annotations

import inspect
import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from stratix_queue import InvalidInputError, QueueService, WorkerOptions
from stratix_queue.supervisor import WorkerCommand


def test_defaults_are_resolved() -> None:
    options = WorkerOptions()
    assert (options.concurrency, options.prefetch, options.burst) == (4, None, False)
    assert (options.lease_seconds, options.heartbeat_seconds, options.rescue_interval) == (
        30.0,
        10.0,
        10.0,
    )
    assert options.leases.stuck_outcome_seconds > options.heartbeat_seconds
    assert (options.poll_interval, options.min_poll_interval) == (1.0, 0.05)
    assert options.groups is None and options.listen and not options.handle_signals
    assert WorkerOptions(poll_interval=0.01).min_poll_interval == 0.01
    assert WorkerOptions(lease_seconds=9, heartbeat_seconds=2).rescue_interval == 2.0


def test_run_worker_keeps_the_same_defaults() -> None:
    """run_worker's keywords are its public contract: they must not drift from the options'."""
    worker = inspect.signature(QueueService.run_worker).parameters
    options = inspect.signature(WorkerOptions.__init__).parameters
    names = [name for name in options if name != "self"]
    assert [name for name in worker if name not in ("self", "options")] == [
        "concurrency",
        "burst",
        *[name for name in names if name not in ("concurrency", "burst")],
    ]
    assert all(worker[name].default == options[name].default for name in names)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"concurrency": 0}, "concurrency must be between 1 and 1024, not 0"),
        ({"concurrency": "4"}, "concurrency must be an integer, not str"),
        ({"prefetch": -1}, "prefetch must be between 0 and 10000, not -1"),
        ({"lease_seconds": 0}, "lease_seconds must be a positive number of seconds"),
        ({"heartbeat_seconds": 0}, "heartbeat_seconds must be a positive number of seconds"),
        ({"lease_seconds": 1, "heartbeat_seconds": 5}, "heartbeat_seconds must be shorter than"),
        ({"rescue_interval": True}, "rescue_interval must be a positive number of seconds"),
        ({"poll_interval": -1}, "poll_interval must be a positive number of seconds"),
        ({"grace_seconds": "30"}, "grace_seconds must be a positive number of seconds"),
        ({"groups": []}, "groups must name at least one group"),
        ({"groups": ["ok", " bad"]}, "group must not start or end with whitespace"),
    ],
)
def test_bad_values_are_refused_with_the_same_messages(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        WorkerOptions(**settings)  # type: ignore[arg-type]


def test_an_options_object_is_frozen_hashable_and_travels() -> None:
    options = WorkerOptions(concurrency=2, groups=["a", "b"], burst=True)
    assert options.groups == ("a", "b")
    assert hash(options) == hash(WorkerOptions(concurrency=2, groups=("a", "b"), burst=True))
    with pytest.raises(AttributeError):
        options.concurrency = 3  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(options))
    assert copy == options and copy.leases == options.leases
    signalled = replace(options, handle_signals=True)  # checked again, derived fields kept
    assert signalled.handle_signals and signalled.leases == options.leases
    with pytest.raises(InvalidInputError):
        replace(options, concurrency=0)
    assert WorkerCommand(app="m").options == WorkerOptions()


def test_run_worker_takes_an_options_object(tmp_path: Path) -> None:
    with QueueService(f"sqlite:///{tmp_path / 'q.db'}") as queue:
        queue.migrate()
        queue.register_executor("e", lambda job: None)
        queue.add_task(name="t", executor="e")
        stats = queue.run_worker(options=WorkerOptions(concurrency=1, burst=True))
        assert stats.succeeded == 1
        with pytest.raises(InvalidInputError, match="not both"):
            queue.run_worker(concurrency=2, options=WorkerOptions(burst=True))
