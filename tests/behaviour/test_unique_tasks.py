"""Unique tasks (docs/unique_tasks.md): a task holding a key makes add_task return it instead
of adding another, while it waits, is delayed, paused or executing (and failed, with
unique_while_failed); a retry that would give a key a second holder is reported, not done. And
the insert's gate: the group of a task whose group has a limit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stratix_queue import InvalidInputError, JobStatus, QueueService
from stratix_queue.failure_filter import FailureFilter
from tests import dbs
from tests.unique_adder import add_at_once

ERROR = {"message": "boom", "stack": "Traceback ...", "code": "E_BOOM"}


def _keyed(db_url: str, key: str) -> list[tuple[Any, ...]]:
    return dbs.query(
        db_url, "SELECT id, status FROM queue_jobs WHERE unique_key = %s ORDER BY id", [key]
    )


def _failed(queue: QueueService, key: str, while_failed: bool = False) -> int:
    job = queue.add_task(name="n", executor="e", unique_key=key, unique_while_failed=while_failed)
    assert not job.duplicate
    assert queue.repository.mark_as_failed(job, ERROR)
    return job.id


def test_the_same_key_twice_adds_one_task(queue: QueueService, db_url: str) -> None:
    first = queue.add_task(name="a", executor="e", payload={"n": 1}, unique_key="invoice:42")
    again = queue.add_task(name="b", executor="e", payload={"n": 2}, unique_key="invoice:42")
    other = queue.add_task(name="c", executor="e", unique_key="invoice:43")
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.id == first.id and again.name == "a" and again.payload == {"n": 1}
    assert again.unique_key == first.unique_key == "invoice:42"
    assert _keyed(db_url, "invoice:42") == [(first.id, "waiting")]
    stored = queue.get_task(first.id)
    assert stored is not None and stored.unique_key == "invoice:42" and not stored.duplicate
    assert stored == first  # the Job add_task returned is the row as stored


@pytest.mark.parametrize("status", ["delayed", "paused", "executing"])
def test_the_key_holds_in_every_unfinished_status(
    queue: QueueService, db_url: str, status: str
) -> None:
    job = queue.add_task(name="n", executor="e", unique_key="k")
    dbs.query(db_url, "UPDATE queue_jobs SET status = %s WHERE id = %s", [status, job.id])
    again = queue.add_task(name="n", executor="e", unique_key="k")
    assert again.duplicate and again.id == job.id and again.status.value == status


def test_a_success_frees_the_key(queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="n", executor="e", unique_key="k")
    assert queue.repository.move_to_success(job, 1)
    after = queue.add_task(name="n", executor="e", unique_key="k")
    assert not after.duplicate and after.id != job.id
    assert _keyed(db_url, "k") == [(after.id, "waiting")]


def test_a_failure_frees_the_key_unless_unique_while_failed(
    queue: QueueService, db_url: str
) -> None:
    freed = _failed(queue, "free")
    added = queue.add_task(name="n", executor="e", unique_key="free")
    assert not added.duplicate and added.id != freed
    held = _failed(queue, "held", while_failed=True)
    again = queue.add_task(name="n", executor="e", unique_key="held")
    assert again.duplicate and again.id == held and again.status is JobStatus.FAILED
    assert len(_keyed(db_url, "held")) == 1


def test_a_batch_adds_each_key_once(queue: QueueService, db_url: str) -> None:
    existing = queue.add_task(name="old", executor="e", unique_key="k0")
    jobs = queue.add_tasks(
        [
            {"name": "a", "executor": "e", "unique_key": "k1"},
            {"name": "plain", "executor": "e"},
            {"name": "b", "executor": "e", "unique_key": "k1"},
            {"name": "c", "executor": "e", "unique_key": "k0"},
            {"name": "d", "executor": "e", "unique_key": "k2", "group": "g", "delay": 60},
            {"name": "plain2", "executor": "e"},
        ]
    )
    assert [job.duplicate for job in jobs] == [False, False, True, True, False, False]
    assert jobs[2].id == jobs[0].id and jobs[2].name == "a"
    assert jobs[3].id == existing.id and jobs[3].name == "old"
    assert [job.name for job in jobs] == ["a", "plain", "a", "old", "d", "plain2"]
    assert jobs[4].status is JobStatus.DELAYED and jobs[4].group == "g"
    assert jobs[0].id < jobs[1].id < jobs[4].id < jobs[5].id  # ids in the given order
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 5
    for job in jobs:
        assert queue.get_task(job.id) is not None
        if not job.duplicate:
            assert queue.get_task(job.id) == job


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" k", "whitespace"),
        ("k\n", "whitespace"),
        ("x" * 256, "limit is 255"),
        (42, "must be a string"),
    ],
)
def test_a_bad_key_writes_nothing(
    queue: QueueService, db_url: str, key: Any, complaint: str
) -> None:
    with pytest.raises(InvalidInputError, match=complaint):
        queue.add_task(name="n", executor="e", unique_key=key)
    with pytest.raises(InvalidInputError, match=complaint):
        queue.add_tasks(
            [{"name": "n", "executor": "e"}, {"name": "n", "executor": "e", "unique_key": key}]
        )
    with pytest.raises(InvalidInputError, match="True or False"):
        queue.add_task(name="n", executor="e", unique_key="k", unique_while_failed=1)
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 0


def test_a_key_of_255_characters_is_fine(queue: QueueService) -> None:
    key = "é" * 255
    job = queue.add_task(name="n", executor="e", unique_key=key)
    assert queue.add_task(name="n", executor="e", unique_key=key).id == job.id


def test_a_retry_that_would_break_uniqueness_is_reported(
    queue: QueueService, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    failed = _failed(queue, "k")
    holder = queue.add_task(name="n", executor="e", unique_key="k")
    free = _failed(queue, "free")
    with caplog.at_level(logging.WARNING, logger="stratix_queue"):
        assert queue.retry_failed_task(failed) is False
    assert f"its unique key 'k' is held by task {holder.id}" in caplog.text
    assert queue.retry_failed_task(failed, payload={"fixed": 1}) is False
    stored = queue.get_task(failed)
    assert stored is not None and stored.payload == {} and stored.is_failed()
    result = queue.retry_failed_tasks([failed, free])
    assert (result.success, result.failed) == ([free], [failed])
    assert _keyed(db_url, "k") == sorted([(failed, "failed"), (holder.id, "waiting")])
    assert queue.get_failed_tasks_stats().total == 1  # the counts follow what was retried
    assert queue.repository.move_to_success(holder, 1)
    assert queue.retry_failed_task(failed) is True  # its key is free now
    assert _keyed(db_url, "k") == [(failed, "waiting")]


def test_two_failed_tasks_of_one_key_retry_one(queue: QueueService, db_url: str) -> None:
    first, second = _failed(queue, "k"), _failed(queue, "k")
    result = queue.retry_failed_tasks([second, first])
    assert (sorted(result.success), result.failed) == ([first], [second])
    assert _keyed(db_url, "k") == sorted([(first, "waiting"), (second, "failed")])


def test_the_plan_dry_run_and_the_plan_report_conflicts(queue: QueueService, db_url: str) -> None:
    held = _failed(queue, "k")
    holder = queue.add_task(name="n", executor="e", unique_key="k")
    twin_a, twin_b = _failed(queue, "twin"), _failed(queue, "twin")
    plain = queue.add_task(name="n", executor="e")
    assert queue.repository.mark_as_failed(plain, ERROR)
    preview = queue.dry_run("retry", FailureFilter())
    assert preview.count == 4
    [conflict] = [c for c in preview.conflicts if "unique key" in c.reason]
    assert conflict.count == 2
    assert conflict.names == [
        f"#{held}: its unique key is held by task {holder.id}",
        f"#{twin_b}: its unique key is held by task {twin_a}",
    ]
    assert not [
        c for c in queue.dry_run("discard", FailureFilter()).conflicts if "unique" in c.reason
    ]
    plan = queue.create_plan("retry", FailureFilter())
    done = queue.run_plan(plan.id)
    assert (done.done, done.skipped) == (2, 2)
    assert sorted(
        i for i, s in dbs.query(db_url, "SELECT id, status FROM queue_jobs") if s == "failed"
    ) == [held, twin_b]


def test_a_task_of_a_limited_group_is_gated(queue: QueueService, db_url: str) -> None:
    for group, column, value in [
        ("conc", "concurrency_limit", 2),
        ("rate", "rate_limit", 10),
        ("probing", "breaker_state", "probing"),
        ("closed", "breaker_state", "closed"),
        ("plain", "breaker_state", None),
    ]:
        queue.pause_group(group)
        queue.resume_group(group)  # makes its row in queue_groups
        dbs.query(
            db_url, f"UPDATE queue_groups SET {column} = %s WHERE group_name = %s", [value, group]
        )
    queue.pause_group("paused")
    dbs.query(db_url, "UPDATE queue_groups SET rate_limit = 5 WHERE group_name = 'paused'")
    singles = [
        queue.add_task(name="n", executor="e", group=group)
        for group in ("conc", "rate", "probing", "closed", "plain", "paused", "unknown")
    ]
    keyless = queue.add_tasks(
        [{"name": "n", "executor": "e", "group": g} for g in ("conc", "plain")]
    )
    keyed = queue.add_tasks(
        [
            {"name": "n", "executor": "e", "group": "rate", "unique_key": "g1"},
            {"name": "n", "executor": "e", "group": "closed", "unique_key": "g2"},
        ]
    )
    ungrouped = queue.add_task(name="n", executor="e")
    expected = {
        singles[0].id: "conc",
        singles[1].id: "rate",
        singles[2].id: "probing",
        singles[5].id: "paused",
        keyless[0].id: "conc",
        keyed[0].id: "rate",
    }
    gates = dict(dbs.query(db_url, "SELECT id, gate FROM queue_jobs"))
    everything = [*singles, *keyless, *keyed, ungrouped]
    assert gates == {job.id: expected.get(job.id, "") for job in everything}
    assert singles[5].status is JobStatus.PAUSED and singles[0].status is JobStatus.WAITING


ADDERS = 8


def test_concurrent_adders_of_one_key_add_one_task(db_url: str) -> None:
    """ADDERS processes add a task with one key at the same moment (add_task), then a batch with
    two shared keys in opposite orders, a key of their own and a task without one (add_tasks)."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    start, answers = spawn.Barrier(ADDERS), spawn.Queue()
    adders = [
        spawn.Process(target=add_at_once, args=(db_url, start, answers, number))
        for number in range(ADDERS)
    ]
    for adder in adders:
        adder.start()
    got = [answers.get(timeout=60) for _ in adders]
    for adder in adders:
        adder.join(timeout=30)
    assert [answer for answer in got if "error" in answer] == []
    for key in ("invoice:42", "both:1", "both:2"):
        [(task_id, _)] = _keyed(db_url, key)
        assert {answer[key][0] for answer in got} == {task_id}
        assert sorted(answer[key][1] for answer in got) == [False] + [True] * (ADDERS - 1)
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_jobs") == 3 + 2 * ADDERS
    own = [answer[f"own:{n}"] for n, answer in enumerate(sorted(got, key=_own_number))]
    assert len({task_id for task_id, _ in own}) == ADDERS and not any(dup for _, dup in own)
    assert not any(answer["plain"][1] for answer in got)


def _own_number(answer: dict[str, Any]) -> int:
    [key] = [key for key in answer if key.startswith("own:")]
    return int(key.split(":")[1])


def test_a_holder_that_commits_mid_retry_leaves_the_task_failed(
    queue: QueueService, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder commits after the retry read the holders: its UPDATE meets the unique index,
    is undone to a savepoint and done again without that task; nothing is raised."""
    from stratix_queue.backends import ledger_core

    failed, free = _failed(queue, "k"), _failed(queue, "free")
    holder = queue.add_task(name="n", executor="e", unique_key="k")
    real, calls = ledger_core._unheld, []

    def blind_once(core: Any, session: Any, rows: Any) -> Any:
        calls.append(len(rows))
        return list(rows) if len(calls) == 1 else real(core, session, rows)

    monkeypatch.setattr(ledger_core, "_unheld", blind_once)
    result = queue.retry_failed_tasks([failed, free])
    assert (result.success, result.failed) == ([free], [failed])
    assert calls == [2, 2]
    assert _keyed(db_url, "k") == sorted([(failed, "failed"), (holder.id, "waiting")])
    assert queue.get_failed_tasks_stats().total == 1


def test_concurrent_retries_of_one_key_retry_one(make_queue: Any, db_url: str) -> None:
    import threading

    queues = [make_queue() for _ in range(4)]
    ids = [_failed(queues[0], "k") for _ in queues]
    start, results = threading.Barrier(len(queues)), []

    def retry(queue: QueueService, task_id: int) -> None:
        start.wait(timeout=10)
        results.append(queue.retry_failed_task(task_id))

    threads = [threading.Thread(target=retry, args=pair) for pair in zip(queues, ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    statuses = [status for _, status in _keyed(db_url, "k")]
    assert sorted(statuses) == ["failed", "failed", "failed", "waiting"]
