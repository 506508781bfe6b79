"""Awkward text is stored and read back unchanged, and huge error texts are capped safely."""

from __future__ import annotations

from typing import Any

import pytest

from stratix_queue import Job, JobStatus, QueueService
from stratix_queue.validation import MAX_ERROR_TEXT_BYTES
from tests import dbs

NASTY = [
    "it's",
    'say "hi"',
    "a; b",
    "x -- comment",
    "/* block */ y",
    "'); DROP TABLE queue_jobs; --",
    '"); DELETE FROM queue_success; --',
    "back\\slash \\' \\\\",
    "100% %s %(x)s %% %d",
    "{ids} {rows} {0} {}",
    "line1\nline2\r\nline3",
    "tab\there",
    "数据处理 🚀",
    "Grüße, ñandú, Ωμέγα, עברית, العربية",
    "😀👩‍👩‍👧‍👦🏳️‍🌈",
    "inner  double  spaces",
    "?",
    ":name $1 @var",
]
LONG_MULTIBYTE = ("数据处理 🚀" * 50)[:255]


def read_back(queue: QueueService, task_id: int) -> Job:
    job = queue.get_task(task_id)
    assert job is not None
    return job


def tables_exist(url: str) -> None:
    for table in ("queue_jobs", "queue_success"):
        assert dbs.scalar(url, f"SELECT COUNT(*) FROM {table}") is not None


def test_nasty_text_round_trips(queue: QueueService, db_url: str) -> None:
    texts = [*NASTY, LONG_MULTIBYTE]
    specs: list[dict[str, Any]] = [
        {
            "name": text,
            "executor": text,
            "group": text,
            "payload": {"text": text, text: [text, {"nested": text}]},
        }
        for text in texts
    ]
    added = queue.add_tasks(specs)
    single = queue.add_task(
        name=NASTY[5], executor=NASTY[8], group=NASTY[9], payload={"t": NASTY[12]}
    )
    assert len(added) == len(texts)
    for text, job in zip(texts, added, strict=True):
        stored = read_back(queue, job.id)
        assert (stored.name, stored.executor, stored.group) == (text, text, text)
        assert stored.payload == {"text": text, text: [text, {"nested": text}]}
    stored = read_back(queue, single.id)
    assert (stored.name, stored.executor, stored.group) == (NASTY[5], NASTY[8], NASTY[9])
    assert stored.payload == {"t": NASTY[12]}
    # the raw column holds the exact text too, not an escaped form
    raw = dbs.scalar(db_url, "SELECT job_name FROM queue_jobs WHERE id = %s", [added[5].id])
    assert raw == NASTY[5]
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == len(texts) + 1
    tables_exist(db_url)


def test_nasty_text_round_trips_through_failure(queue: QueueService, db_url: str) -> None:
    texts = [*NASTY, LONG_MULTIBYTE]
    jobs = queue.add_tasks(
        [{"name": text, "executor": text, "group": text, "payload": [text]} for text in texts]
    )
    for text, job in zip(texts, jobs, strict=True):
        assert queue.repository.mark_as_failed(
            job, {"message": text, "stack": f"Traceback:\n{text}", "code": text[:100]}
        )
    failed = {job.id: job for job in queue.get_failed_tasks(100, 0)}
    assert set(failed) == {job.id for job in jobs}
    for text, job in zip(texts, jobs, strict=True):
        for stored in (failed[job.id], read_back(queue, job.id)):
            assert stored.status is JobStatus.FAILED
            assert (stored.name, stored.executor, stored.group) == (text, text, text)
            assert stored.payload == [text]
            info = stored.get_error_info()
            assert info is not None
            assert info.message == text
            assert info.stack == f"Traceback:\n{text}"
            assert info.code == text[:100]
    stats = queue.get_failed_tasks_stats()
    assert stats.total == len(texts)
    assert stats.by_executor[NASTY[5]] == 1
    assert stats.by_group[LONG_MULTIBYTE] == 1
    # retry works on them and the texts survive it
    assert queue.retry_failed_task(jobs[5].id) is True
    assert read_back(queue, jobs[5].id).name == NASTY[5]
    tables_exist(db_url)


def test_nasty_group_can_be_paused_and_resumed(queue: QueueService) -> None:
    group = "'); DROP TABLE queue_groups; -- 数据 %s {ids}"
    job = queue.add_task(name="n", executor="e", group=group)
    other = queue.add_task(name="n", executor="e", group=group[:-1])
    assert queue.pause_group(group) == 1
    assert read_back(queue, job.id).status is JobStatus.PAUSED
    assert read_back(queue, other.id).status is JobStatus.WAITING
    assert queue.resume_group(group) == 1
    assert read_back(queue, job.id).status is JobStatus.WAITING


# -- capping of error texts ----------------------------------------------------------------------


def five_mb(unit: str) -> str:
    return unit * (5_000_000 // len(unit.encode("utf-8")) + 1)


def check_capped(stored: str | None, original: str) -> None:
    assert stored is not None
    assert "\x00" not in stored
    size = len(stored.encode("utf-8"))
    assert size <= MAX_ERROR_TEXT_BYTES
    assert size > MAX_ERROR_TEXT_BYTES - 1000  # cut near the limit, not emptied
    assert stored.rstrip().endswith("]")
    cut = stored.rfind("truncated")
    assert cut != -1 and cut > len(stored) - 100, stored[-200:]
    head = stored[: stored.rfind("\n", 0, cut)]
    assert len(head) > 1000
    assert original.replace("\x00", "\\x00").startswith(head)


def test_huge_error_texts_are_capped(queue: QueueService, db_url: str) -> None:
    message = five_mb("é数🚀\x00abc ")
    stack = five_mb("Traceback 数据\x00 line\n")
    assert len(message.encode("utf-8")) >= 5_000_000
    assert len(stack.encode("utf-8")) >= 5_000_000
    job = queue.add_task(name="big", executor="e")
    assert queue.repository.mark_as_failed(
        job, {"message": message, "stack": stack, "code": "数" * 150}
    )
    stored = read_back(queue, job.id)
    assert stored.is_failed()
    check_capped(stored.error_message, message)
    check_capped(stored.error_stack, stack)
    assert stored.error_code == "数" * 100
    raw = dbs.query(
        db_url,
        "SELECT error_message, error_stack, error_code FROM queue_jobs WHERE id = %s",
        [job.id],
    )
    assert raw == [(stored.error_message, stored.error_stack, stored.error_code)]
    [listed] = queue.get_failed_tasks(10, 0)
    assert listed.error_message == stored.error_message


def test_short_texts_are_kept_whole(queue: QueueService) -> None:
    job = queue.add_task(name="small", executor="e")
    message = "x" * 1000 + "数" * 1000
    assert queue.repository.mark_as_failed(
        job, {"message": message, "stack": "a\x00b", "code": "C" * 150}
    )
    stored = read_back(queue, job.id)
    assert stored.error_message == message
    assert stored.error_stack == "a\\x00b"
    assert stored.error_code == "C" * 100


def test_worker_caps_a_huge_exception_message(queue: QueueService, db_url: str) -> None:
    calls: list[int] = []

    class HugeError(Exception):
        code = "H" * 300

    @queue.executor("explode")
    def explode(payload: dict[str, Any], job: Job) -> None:
        calls.append(job.id)
        raise HugeError("数据🚀\x00" + "boom " * (2 * 1024 * 1024 // 5))

    job = queue.add_task(name="explode", executor="explode", payload={})
    survivor = queue.add_task(name="fine", executor="fine", payload={"x": 1})
    done: list[Any] = []
    queue.executor("fine")(lambda payload: done.append(payload))

    stats = queue.run_worker(concurrency=1, burst=True)

    assert calls == [job.id]
    assert done == [{"x": 1}]
    assert stats.failed == 1
    assert stats.succeeded == 1
    stored = read_back(queue, job.id)
    assert stored.status is JobStatus.FAILED
    assert stored.error_message is not None
    assert stored.error_message.startswith("数据🚀\\x00boom boom")
    assert len(stored.error_message.encode("utf-8")) <= MAX_ERROR_TEXT_BYTES
    assert "truncated" in stored.error_message[-100:]
    assert stored.error_stack is not None
    assert len(stored.error_stack.encode("utf-8")) <= MAX_ERROR_TEXT_BYTES
    assert "HugeError" in stored.error_stack
    assert stored.error_code == "H" * 100
    assert queue.get_task(survivor.id) is None  # succeeded: moved to queue_success
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 1


@pytest.mark.parametrize("size", [MAX_ERROR_TEXT_BYTES - 1, MAX_ERROR_TEXT_BYTES + 1])
def test_cap_boundary_on_database(queue: QueueService, size: int) -> None:
    message = "a" * size
    job = queue.add_task(name="edge", executor="e")
    assert queue.repository.mark_as_failed(job, {"message": message})
    stored = read_back(queue, job.id).error_message
    assert stored is not None
    if size <= MAX_ERROR_TEXT_BYTES:
        assert stored == message
    else:
        assert len(stored.encode("utf-8")) <= MAX_ERROR_TEXT_BYTES
        assert "truncated" in stored


def test_worker_records_an_exception_with_a_lone_surrogate(queue: QueueService) -> None:
    @queue.executor("undecodable")
    def undecodable(payload: dict[str, Any]) -> None:
        raise ValueError("cannot open caf\udce9.txt")  # as os.fsdecode() gives for bad bytes

    job = queue.add_task(name="undecodable", executor="undecodable", payload={})
    stats = queue.run_worker(concurrency=1, burst=True)
    stored = read_back(queue, job.id)
    assert stored.status is JobStatus.FAILED
    assert stats.failed == 1
    assert stored.error_message is not None and "cannot open caf" in stored.error_message
