"""Slots: a task that must run alone (one a lost worker held) waits for the busy slots, runs with
the others idle, stops the worker from claiming more, and a queue blocked behind it is handed
back; the hand-back also applies when every slot stays inside a long task."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from stratix_queue.job import Job, JobStatus
from stratix_queue.slot_threads import BUFFER_WAIT_SECONDS, Slots


def _job(job_id: int, lost: bool = False) -> Job:
    code = "WORKER_LOST" if lost else None
    return Job(job_id, "t", "e", None, None, JobStatus.EXECUTING, error_code=code)


class Recorder:
    """Runs each task until released; records what ran, and how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[int] = set()
        self.overlaps: list[tuple[int, frozenset[int]]] = []
        self.done: list[int] = []
        self.release: dict[int, threading.Event] = {}

    def gate(self, job_id: int) -> threading.Event:
        return self.release.setdefault(job_id, threading.Event())

    def run(self, job: Job) -> None:
        with self.lock:
            self.overlaps.append((job.id, frozenset(self.running)))
            self.running.add(job.id)
        self.gate(job.id).wait(10)
        with self.lock:
            self.running.discard(job.id)
            self.done.append(job.id)


@pytest.fixture
def recorder() -> Iterator[tuple[Slots, Recorder]]:
    rec = Recorder()
    slots = Slots(
        3, 2, start=lambda job: True, run=rec.run, on_room=lambda: None,
        alone=lambda job: job.error_code == "WORKER_LOST",
    )  # fmt: skip
    slots.start()
    yield slots, rec
    for event in rec.release.values():
        event.set()
    slots.take_unstarted()
    slots.wait_idle(10)
    slots.close()


def _until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.005)


def test_a_task_that_runs_alone_waits_for_the_others_and_runs_with_none(
    recorder: tuple[Slots, Recorder],
) -> None:
    slots, rec = recorder
    slots.put([_job(1), _job(2, lost=True), _job(3)])
    _until(lambda: rec.running == {1})
    assert slots.free() == 0  # nothing more is claimed while it waits to run alone
    rec.gate(1).set()
    _until(lambda: rec.running == {2})
    time.sleep(0.05)
    assert rec.running == {2} and slots.free() == 0  # the others wait, nothing is claimed
    rec.gate(2).set()
    _until(lambda: rec.running == {3})
    assert (2, frozenset()) in rec.overlaps  # it ran with no other task
    assert slots.free() > 0


def test_a_queue_blocked_behind_a_long_task_is_handed_back(
    recorder: tuple[Slots, Recorder],
) -> None:
    slots, rec = recorder
    slots.put([_job(1), _job(2, lost=True), _job(3)])
    _until(lambda: rec.running == {1})
    started = time.monotonic()
    _until(lambda: bool(slots.take_stale() and True) or False, BUFFER_WAIT_SECONDS + 2)
    assert time.monotonic() - started >= BUFFER_WAIT_SECONDS - 0.05
    assert slots.held() == [_job(1)] and rec.running == {1}


def test_tasks_waiting_while_every_slot_stays_busy_are_handed_back(
    recorder: tuple[Slots, Recorder],
) -> None:
    slots, rec = recorder
    slots.put([_job(i) for i in range(1, 6)])  # three run, two wait
    _until(lambda: rec.running == {1, 2, 3})
    stale: list[Job] = []
    _until(lambda: bool(stale.extend(slots.take_stale()) or stale), BUFFER_WAIT_SECONDS + 2)
    assert sorted(job.id for job in stale) == [4, 5]
    assert slots.free() == 0  # holding off: no claiming ahead until a slot is free
    rec.gate(1).set()
    _until(lambda: slots.free() > 0)
