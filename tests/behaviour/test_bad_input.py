"""Bad input raises a specific stratix_queue exception and writes nothing, on every backend.

Many cases run in one test per backend (each case is named in the failure message), so the
suite stays fast: every test of this module costs a database fixture.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from stratix_queue import (
    DatabaseUnavailableError,
    InvalidInputError,
    InvalidTaskIdError,
    JobStatus,
    QueueService,
    StratixQueueError,
    UnsupportedURLError,
)
from tests import dbs

_COUNTERS: dict[str, Any] = {}


def count_jobs(url: str) -> int:
    """Rows in queue_jobs, read on one raw connection kept open for the test (it is fast)."""
    conn = _COUNTERS.get(url)
    if conn is None:
        conn = _COUNTERS[url] = dbs.connect(url)
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT COUNT(*) FROM queue_jobs")
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


@pytest.fixture(autouse=True)
def _close_counters() -> Iterator[None]:
    yield
    while _COUNTERS:
        _COUNTERS.popitem()[1].close()


def refused(
    url: str, kind: type[StratixQueueError], action: Callable[[], Any], case: str
) -> StratixQueueError:
    """Run ``action``: it must raise ``kind`` (a StratixQueueError) and write no row."""
    before = count_jobs(url)
    error: BaseException | None = None
    try:
        action()
    except Exception as exc:
        error = exc
    assert error is not None, f"{case}: no error raised"
    assert isinstance(error, kind), f"{case}: raised {type(error).__name__}, not {kind.__name__}"
    assert isinstance(error, StratixQueueError)
    assert count_jobs(url) == before, f"{case}: a row was written"
    return error


def good(**overrides: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"name": "task", "executor": "exec", "payload": {"n": 1}}
    task.update(overrides)
    return task


def failed_job(queue: QueueService) -> int:
    job = queue.add_task(**good(name="will-fail"))
    assert queue.repository.mark_as_failed(job, {"message": "boom", "stack": "", "code": "E"})
    assert status_of(queue, job.id) is JobStatus.FAILED
    return job.id


def status_of(queue: QueueService, task_id: int) -> JobStatus:
    job = queue.get_task(task_id)
    assert job is not None
    return job.status


# -- names, executors and groups ----------------------------------------------------------------

BAD_TEXT: dict[str, object] = {
    "empty": "",
    "whitespace": "   \t\n ",
    "256 chars": "x" * 256,
    "256 multibyte chars": "数" * 256,
    "NUL": "a\x00b",
}
NOT_STR: dict[str, object] = {"int": 123, "bytes": b"bytes", "list": ["name"], "float": 1.5}


@pytest.mark.parametrize("field", ["name", "executor", "group"])
def test_bad_text_field_is_refused(queue: QueueService, db_url: str, field: str) -> None:
    for case, value in {**BAD_TEXT, **NOT_STR}.items():
        error = refused(
            db_url,
            InvalidInputError,
            lambda v=value: queue.add_task(**good(**{field: v})),
            f"{field} {case}",
        )
        assert field in str(error), f"{field} {case}: message does not name the field"
        # add_tasks checks the same way
        refused(
            db_url,
            InvalidInputError,
            lambda v=value: queue.add_tasks([good(**{field: v})]),
            f"add_tasks {field} {case}",
        )
    if field != "group":
        refused(
            db_url,
            InvalidInputError,
            lambda: queue.add_task(**good(**{field: None})),
            f"{field} None",
        )


@pytest.mark.parametrize("field", ["name", "executor", "group"])
def test_255_chars_is_accepted(queue: QueueService, db_url: str, field: str) -> None:
    value = "y" * 255
    job = queue.add_task(**good(**{field: value}))
    assert count_jobs(db_url) == 1
    stored = queue.get_task(job.id)
    assert stored is not None
    assert {"name": stored.name, "executor": stored.executor, "group": stored.group}[field] == value


# -- payloads -------------------------------------------------------------------------------------


def test_payload_not_json_is_refused(queue: QueueService, db_url: str) -> None:
    cases: dict[str, object] = {
        "object": object(),
        "set": {1, 2},
        "nan": float("nan"),
        "nested inf": {"x": [float("-inf")]},
        "timedelta": {"when": timedelta(seconds=1)},
        "tuple key": {("a", "b"): 1},
        "bytes": b"raw",
    }
    for case, payload in cases.items():
        error = refused(
            db_url, InvalidInputError, lambda p=payload: queue.add_task(**good(payload=p)), case
        )
        assert "JSON" in str(error), case


def test_payload_size_limit(queue: QueueService, db_url: str) -> None:
    over = {"d": "x" * (1024 * 1024)}
    error = refused(
        db_url, InvalidInputError, lambda: queue.add_task(**good(payload=over)), "over 1 MiB"
    )
    assert "limit" in str(error)
    under = {"d": "x" * (1024 * 1024 - 100)}
    job = queue.add_task(**good(payload=under))
    assert count_jobs(db_url) == 1
    stored = queue.get_task(job.id)
    assert stored is not None and stored.payload == under


def test_custom_payload_limit(db_url: str) -> None:
    with QueueService(db_url, max_payload_bytes=100) as small:
        refused(
            db_url,
            InvalidInputError,
            lambda: small.add_task(**good(payload={"d": "x" * 100})),
            "ascii over 100 bytes",
        )
        # the limit counts UTF-8 bytes: 40 CJK characters are 120 bytes
        refused(
            db_url,
            InvalidInputError,
            lambda: small.add_task(**good(payload={"d": "数" * 40})),
            "multibyte over 100 bytes",
        )
        small.add_task(**good(payload={"d": "x" * 50}))
    assert count_jobs(db_url) == 1
    for limit in (0, -1, "100", True, 1.5):
        with pytest.raises(InvalidInputError):
            QueueService(db_url, max_payload_bytes=limit)  # type: ignore[arg-type]


# -- numbers -------------------------------------------------------------------------------------


def test_bad_number_is_refused(queue: QueueService, db_url: str) -> None:
    cases: list[tuple[str, object]] = [
        ("priority", "1"),
        ("priority", 1.5),
        ("priority", True),
        ("priority", 2**31),
        ("max_attempts", 0),
        ("max_attempts", 1001),
        ("max_attempts", "3"),
        ("max_attempts", False),
        ("max_attempts", 2.0),
        ("delay", -1),
        ("delay", -0.001),
        ("delay", timedelta(seconds=-5)),
        ("delay", float("inf")),
        ("delay", float("nan")),
        ("delay", "5 s"),  # text as the CLI takes it: "5", "5s", "1h30m" (test_input_forms)
        ("delay", True),
        ("delay", [5]),
        ("run_at", "01/02/2030"),  # text must be ISO 8601
        ("run_at", 1893456000),
    ]
    for field, value in cases:
        error = refused(
            db_url,
            InvalidInputError,
            lambda f=field, v=value: queue.add_task(**good(**{f: v})),
            f"{field}={value!r}",
        )
        assert field in str(error), f"{field}={value!r}: message does not name the field"
    low = queue.add_task(**good(max_attempts=1))
    high = queue.add_task(**good(max_attempts=1000))
    assert (low.max_attempts, high.max_attempts) == (1, 1000)
    assert count_jobs(db_url) == 2


# -- add_tasks -----------------------------------------------------------------------------------


def test_add_tasks_is_all_or_nothing(queue: QueueService, db_url: str) -> None:
    error = refused(
        db_url, InvalidInputError, lambda: queue.add_tasks([good(colour="red")]), "unknown field"
    )
    assert "colour" in str(error)
    thirds: dict[str, dict[str, Any]] = {
        "empty name": good(name=""),
        "set payload": good(payload={1, 2}),
        "priority str": good(priority="high"),
        "unknown field": good(bogus=1),
        "no executor": {"name": "only-name"},
    }
    for case, third in thirds.items():
        tasks = [good(name="first"), good(name="second"), third]
        refused(db_url, InvalidInputError, lambda t=tasks: queue.add_tasks(t), f"3rd {case}")
    for case, element in {"str": "task", "tuple": ("n", "e"), "None": None, "int": 7}.items():
        refused(
            db_url,
            InvalidInputError,
            lambda e=element: queue.add_tasks([good(), e]),
            f"element {case}",
        )
    for case, tasks in {"a dict": good(), "a str": "tasks"}.items():
        refused(db_url, InvalidInputError, lambda t=tasks: queue.add_tasks(t), f"tasks {case}")
    assert queue.add_tasks([]) == []
    assert count_jobs(db_url) == 0


# -- task ids ------------------------------------------------------------------------------------


def test_bad_task_id_types(queue: QueueService) -> None:
    job_id = failed_job(queue)
    for task_id in ("1", str(job_id), 1.0, float(job_id), True, None, [job_id]):
        with pytest.raises(InvalidTaskIdError):
            queue.get_task(task_id)  # type: ignore[arg-type]
        with pytest.raises(InvalidTaskIdError):
            queue.retry_failed_task(task_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskIdError):
        queue.retry_failed_task("x")  # type: ignore[arg-type]
    # one bad id in a bulk retry: an error and nothing reset, not even the good id before it
    with pytest.raises(InvalidTaskIdError):
        queue.retry_failed_tasks([job_id, "2"])  # type: ignore[list-item]
    for ids in ("12", 5, None):
        with pytest.raises(InvalidInputError):
            queue.retry_failed_tasks(ids)  # type: ignore[arg-type]
    assert status_of(queue, job_id) is JobStatus.FAILED


def test_ids_that_do_not_exist(queue: QueueService) -> None:
    job_id = failed_job(queue)
    waiting = queue.add_task(**good(name="waiting"))
    for task_id in (job_id + 10**6, 0, -1, -(2**70), 2**63 - 1, 2**63, 2**70):
        assert queue.get_task(task_id) is None, task_id
        assert queue.retry_failed_task(task_id) is False, task_id
        result = queue.retry_failed_tasks([task_id])
        assert (result.success, result.failed) == ([], [task_id])
    assert queue.retry_failed_task(waiting.id) is False
    assert status_of(queue, waiting.id) is JobStatus.WAITING
    assert status_of(queue, job_id) is JobStatus.FAILED


def test_get_failed_tasks_bad_page(queue: QueueService) -> None:
    failed_job(queue)
    for limit, offset in [(-1, 0), (10, -5), ("10", 0), (10, 1.5), (True, 0), (10**7, 0)]:
        with pytest.raises(InvalidInputError):
            queue.get_failed_tasks(limit, offset)  # type: ignore[arg-type]
    assert len(queue.get_failed_tasks(10, 0)) == 1
    assert queue.get_failed_tasks(0, 0) == []
    assert queue.get_failed_tasks(10, 1) == []


# -- mark_as_failed ------------------------------------------------------------------------------


def test_mark_as_failed_bad_error_is_refused(queue: QueueService) -> None:
    job = queue.add_task(**good())
    errors: list[object] = [
        "boom",
        ["boom"],
        None,
        42,
        {"message": "boom", "detail": "x"},
        {"msg": "boom"},
    ]
    for error in errors:
        with pytest.raises(InvalidInputError):
            queue.repository.mark_as_failed(job, error)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        queue.repository.mark_as_failed(job.id, {"message": "x"})  # type: ignore[arg-type]
    stored = queue.get_task(job.id)
    assert stored is not None
    assert stored.status is JobStatus.WAITING
    assert stored.error_message is None


# -- URLs and servers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["redis://x", "nonsense", "http://127.0.0.1/db", "sqlite:/x.db", "sqlite://", ""]
)
def test_unknown_url_is_refused_at_construction(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATIX_QUEUE_URL", "redis://env")  # "" falls back to the env var
    with pytest.raises(UnsupportedURLError):
        QueueService(url)


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "mariadb"])
def test_unreachable_server(scheme: str) -> None:
    password = "s3cretpw"
    with QueueService(f"{scheme}://root:{password}@127.0.0.1:1/x") as queue:
        assert password not in repr(queue)
        with pytest.raises(DatabaseUnavailableError) as caught:
            queue.add_task(name="t", executor="e")
        error = caught.value
        assert isinstance(error, StratixQueueError)
        assert "127.0.0.1:1" in str(error)
        assert password not in str(error)
        assert password not in repr(error)
        assert password not in "".join(traceback.format_exception(error))
        with pytest.raises(DatabaseUnavailableError) as again:
            queue.get_task(1)
        assert "127.0.0.1:1" in str(again.value)
        assert password not in str(again.value)


# -- lone surrogates (os.fsdecode of bytes that are not UTF-8) ----------------------------------


def test_lone_surrogate_in_a_name_is_refused(queue: QueueService, db_url: str) -> None:
    for field in ("name", "executor", "group"):
        value: object = "caf\udce9"
        refused(
            db_url,
            InvalidInputError,
            lambda f=field, v=value: queue.add_task(**good(**{f: v})),
            f"surrogate in {field}",
        )


def test_lone_surrogate_in_a_payload_round_trips(queue: QueueService) -> None:
    payload = {"file": "caf\udce9.txt", "text": "数据"}
    job = queue.add_task(name="n", executor="e", payload=payload)
    stored = queue.get_task(job.id)
    assert stored is not None
    assert stored.payload == payload


def test_names_with_surrounding_whitespace_are_refused(queue: QueueService, db_url: str) -> None:
    # MySQL/MariaDB ignore trailing spaces when comparing: "g" and "g " would be one group there
    for field in ("name", "executor", "group"):
        for value in ("g ", " g", "g\n"):
            refused(
                db_url,
                InvalidInputError,
                lambda f=field, v=value: queue.add_task(**good(**{f: v})),
                f"whitespace around {field}",
            )
    with pytest.raises(InvalidInputError):
        queue.pause_group("g ")


def test_payload_nested_too_deeply_and_run_at_out_of_range(
    queue: QueueService, db_url: str
) -> None:
    import datetime as dt

    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    refused(db_url, InvalidInputError, lambda: queue.add_task(**good(payload=deep)), "deep")
    far = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    refused(db_url, InvalidInputError, lambda: queue.add_task(**good(run_at=far)), "run_at")
