"""What add_task accepts besides plain values, on every backend: durations as text (as the CLI
takes them), run_at as ISO 8601 text, and payloads made JSON by a ``json_default`` hook."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from stratix_queue import InvalidInputError, Job, JobStatus, QueueService, json_default
from tests import dbs


def _jobs(url: str) -> int:
    return int(dbs.scalar(url, "SELECT COUNT(*) FROM queue_jobs"))


def _refused(url: str, action: Callable[[], Any], *words: str) -> None:
    """``action`` raises InvalidInputError naming ``words`` and writes no row."""
    before = _jobs(url)
    with pytest.raises(InvalidInputError) as caught:
        action()
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))
    assert _jobs(url) == before


def _delay_of(job: Job) -> float:
    assert job.run_at is not None and job.created_at is not None
    return (job.run_at - job.created_at).total_seconds()


# -- durations as text ---------------------------------------------------------------------------


def test_delay_and_timeout_take_the_cli_durations(queue: QueueService) -> None:
    cases = {"30s": 30.0, "5m": 300.0, "1h30m": 5400.0, "250ms": 0.25, "90": 90.0, " 2H ": 7200.0}
    for text, seconds in cases.items():
        job = queue.add_task(name="later", executor="e", delay=text)
        assert job.status is JobStatus.DELAYED, text
        assert _delay_of(job) == pytest.approx(seconds, abs=0.01), text
        assert queue.get_task(job.id) == job
    soon, timed = queue.add_tasks(
        [
            {"name": "soon", "executor": "e", "delay": "5m"},
            {"name": "timed", "executor": "e", "delay": "0s", "timeout": "2m"},
        ]
    )
    assert _delay_of(soon) == pytest.approx(300.0, abs=0.01)
    assert (timed.status, timed.timeout) == (JobStatus.WAITING, 120.0)
    assert queue.prune_succeeded("7d", dry_run=True) == 0


def test_bad_duration_text_is_refused(queue: QueueService, db_url: str) -> None:
    for text in ("3x", "soon", "", "-5s", "1h 30m", "5 minutes"):
        _refused(db_url, lambda t=text: queue.add_task(name="n", executor="e", delay=t), "delay")
        _refused(
            db_url,
            lambda t=text: queue.add_tasks([{"name": "n", "executor": "e", "delay": t}]),
            "delay",
            "not a duration",
        )
    for text in ("inf", "nan", "-5", "3651d"):  # numbers as text, out of range
        _refused(db_url, lambda t=text: queue.add_task(name="n", executor="e", delay=t), "delay")
    for text in ("0s", "8d", "3x"):
        _refused(
            db_url, lambda t=text: queue.add_task(name="n", executor="e", timeout=t), "timeout"
        )


# -- run_at as ISO 8601 text ---------------------------------------------------------------------


def test_run_at_takes_iso_8601_text(queue: QueueService) -> None:
    when = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    forms = [
        "2031-03-04T05:06:07+00:00",
        "2031-03-04T05:06:07Z",
        "2031-03-04T07:06:07+02:00",
        "2031-03-04 05:06:07",  # no offset: UTC, as for a naive datetime
    ]
    for text in forms:
        job = queue.add_task(name="dated", executor="e", run_at=text)
        assert (job.status, job.run_at) == (JobStatus.DELAYED, when), text
    [listed] = queue.add_tasks([{"name": "d", "executor": "e", "run_at": "2031-03-04"}])
    assert listed.run_at == datetime(2031, 3, 4, tzinfo=UTC)  # a date alone: midnight UTC
    past = queue.add_task(name="p", executor="e", run_at="2001-01-01T00:00:00+05:00")
    assert past.run_at == datetime(2000, 12, 31, 19, tzinfo=UTC)
    assert queue.run_worker(concurrency=1, burst=True).succeeded == 0  # no executor "e" here
    assert queue.get_task(past.id).error_code == "EXECUTOR_NOT_FOUND"  # due: it was claimed


def test_bad_run_at_text_is_refused(queue: QueueService, db_url: str) -> None:
    for text in ("tomorrow", "2031-13-01", "", "12:00"):
        _refused(db_url, lambda t=text: queue.add_task(name="n", executor="e", run_at=t), "run_at")


# -- payloads and json_default -------------------------------------------------------------------

NOT_JSON = {
    "at": datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=timezone(timedelta(hours=1))),
    "naive": datetime(2030, 1, 2, 3, 4, 5),
    "day": date(2030, 1, 2),
    "clock": time(9, 30),
    "price": Decimal("19.990"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "nested": [{"price": Decimal("0.1")}],
}
AS_TEXT = {
    "at": "2030-01-02T03:04:05.600000+01:00",
    "naive": "2030-01-02T03:04:05",
    "day": "2030-01-02",
    "clock": "09:30:00",
    "price": "19.990",
    "id": "12345678-1234-5678-1234-567812345678",
    "nested": [{"price": "0.1"}],
}


def test_without_a_hook_such_payloads_are_refused(queue: QueueService, db_url: str) -> None:
    for key, value in NOT_JSON.items():
        _refused(
            db_url,
            lambda v=value: queue.add_task(name="n", executor="e", payload={"v": v}),
            "JSON",
        )
        _refused(
            db_url,
            lambda v=value: queue.add_tasks([{"name": "n", "executor": "e", "payload": [v]}]),
            "JSON",
        )
        assert key  # each case ran


def test_json_default_encodes_dates_decimals_and_uuids_as_text(db_url: str) -> None:
    seen: list[Any] = []
    with QueueService(db_url, json_default=json_default) as queue:
        assert queue.json_default is json_default

        @queue.executor("look")
        def look(payload: Any) -> None:
            seen.append(payload)

        job = queue.add_task(name="n", executor="look", payload=NOT_JSON)
        assert job.payload == AS_TEXT  # decoding gives the text back, not the objects
        assert queue.get_task(job.id) == job
        [other] = queue.add_tasks([{"name": "m", "executor": "look", "payload": [Decimal(1)]}])
        assert other.payload == ["1"]
        assert queue.run_worker(concurrency=1, burst=True).succeeded == 2
        assert sorted(seen, key=str) == sorted([AS_TEXT, ["1"]], key=str)
        for bad in ({1, 2}, b"raw", timedelta(seconds=1), float("nan"), object()):
            _refused(
                db_url,
                lambda b=bad: queue.add_task(name="n", executor="e", payload={"v": b}),
                "JSON",
            )


def test_an_application_hook_and_its_errors(db_url: str) -> None:
    def sets_too(value: object) -> Any:
        if isinstance(value, set | frozenset):
            return sorted(value)
        if isinstance(value, bytes):
            raise RuntimeError("no bytes here")
        return json_default(value)

    with QueueService(db_url, json_default=sets_too, max_payload_bytes=64) as queue:
        job = queue.add_task(name="n", executor="e", payload={"tags": {"b", "a"}, "d": date.min})
        assert job.payload == {"tags": ["a", "b"], "d": "0001-01-01"}
        _refused(  # whatever the hook raises is bad input
            db_url,
            lambda: queue.add_task(name="n", executor="e", payload={"b": b"x"}),
            "json_default raised RuntimeError: no bytes here",
        )
        _refused(  # the size limit counts the encoded text
            db_url,
            lambda: queue.add_task(
                name="n", executor="e", payload={"t": {str(i) for i in range(30)}}
            ),
            "limit",
        )
        # with_url (as `stratix-queue worker/add --app ... --url ...` uses it) keeps the hook
        with queue.with_url(db_url) as twin:
            assert twin.json_default is sets_too and twin.max_payload_bytes == 64
            assert twin.add_task(name="n", executor="e", payload={1, 2}).payload == [1, 2]
    for bad in ("iso", 5, True):
        with pytest.raises(InvalidInputError, match="json_default"):
            QueueService(db_url, json_default=bad)  # type: ignore[arg-type]


def test_only_plain_json_round_trips_exactly(queue: QueueService) -> None:
    plain = {"s": "数", "i": 2**62, "f": 0.1, "b": True, "n": None, "l": [1, [2, {"x": {}}]]}
    assert queue.add_task(name="n", executor="e", payload=plain).payload == plain
    changed = queue.add_task(name="n", executor="e", payload={"t": (1, 2), 3: "k"})
    assert changed.payload == {"t": [1, 2], "3": "k"}  # JSON has lists and text keys only
