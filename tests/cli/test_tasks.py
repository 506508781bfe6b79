"""`stratix-queue tasks list` and `tasks show`, on every backend."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService
from tests import dbs
from tests.cli.conftest import Run, make_failed, make_failed_by_worker, one_error_line, rows


@pytest.fixture
def mixed(queue: QueueService) -> dict[str, int]:
    """Five tasks: two groups, two executors, one delayed, one failed."""
    ids = {
        "a1": queue.add_task(name="a1", executor="resize", group="img").id,
        "a2": queue.add_task(name="a2", executor="resize", group="img", delay=3600).id,
        "b1": queue.add_task(name="b1", executor="mail", group="mail").id,
        "c1": queue.add_task(name="c1", executor="mail").id,
    }
    ids["f1"] = make_failed(queue, name="f1", executor="resize", group="mail")
    return ids


def names(found: list[dict[str, object]]) -> list[object]:
    return [task["name"] for task in found]


def test_tasks_list_filters(run: Run, mixed: dict[str, int]) -> None:
    everything = run("tasks", "list", "--json").json()
    assert names(everything) == ["a1", "a2", "b1", "c1", "f1"]
    assert [t["id"] for t in everything] == [mixed[n] for n in ("a1", "a2", "b1", "c1", "f1")]
    assert everything[0]["executor"] == "resize"
    assert everything[0]["group"] == "img"
    assert everything[3]["group"] is None
    assert names(run("tasks", "list", "--status", "waiting", "--json").json()) == [
        "a1",
        "b1",
        "c1",
    ]
    assert names(run("tasks", "list", "--status", "delayed", "--json").json()) == ["a2"]
    failed = run("tasks", "list", "--status", "failed", "--json").json()
    assert names(failed) == ["f1"]
    assert (failed[0]["status"], failed[0]["error_code"]) == ("failed", "E_BOOM")
    assert names(run("tasks", "list", "--group", "mail", "--json").json()) == ["b1", "f1"]
    assert names(run("tasks", "list", "--executor", "mail", "--json").json()) == ["b1", "c1"]
    both = run("tasks", "list", "--executor", "resize", "--group", "img", "--json").json()
    assert names(both) == ["a1", "a2"]
    assert run("tasks", "list", "--status", "paused", "--json").json() == []


def test_tasks_list_limit_offset(run: Run, mixed: dict[str, int]) -> None:
    assert names(run("tasks", "list", "--limit", "2", "--json").json()) == ["a1", "a2"]
    page = run("tasks", "list", "--limit", "2", "--offset", "2", "--json").json()
    assert names(page) == ["b1", "c1"]
    assert names(run("tasks", "list", "--offset", "4", "--json").json()) == ["f1"]
    assert run("tasks", "list", "--offset", "9", "--json").json() == []
    assert run("tasks", "list", "--limit", "0", "--json").json() == []


def test_tasks_list_table(run: Run, mixed: dict[str, int]) -> None:
    result = run("tasks", "list", "--group", "mail")
    assert result.code == 0, result.err
    assert "2 task(s)" in result.out
    assert "b1" in result.out
    assert "f1" in result.out
    assert "a1" not in result.out
    assert "E_BOOM" in result.out


def test_tasks_list_bad_options(run: Run, mixed: dict[str, int]) -> None:
    for args in (["--status", "bogus"], ["--limit", "-1"], ["--offset", "x"], ["--colour"]):
        one_error_line(run("tasks", "list", *args), (2,))


def test_tasks_show(run: Run, queue: QueueService) -> None:
    task_id = make_failed_by_worker(queue)
    shown = run("tasks", "show", str(task_id), "--json").json()
    task, history = shown["task"], shown["attempt_errors"]
    assert (task["id"], task["name"], task["executor"], task["group"]) == (
        task_id,
        "convert",
        "breaks",
        "reports",
    )
    assert task["payload"] == {"n": 7}
    assert (task["status"], task["attempts"], task["max_attempts"]) == ("failed", 2, 2)
    assert task["error_code"] == "ValueError"
    assert task["error_message"] == "cannot convert 7"
    assert "Traceback" in task["error_stack"]
    assert "ValueError: cannot convert 7" in task["error_stack"]
    assert [(e["attempt"], e["code"], e["message"]) for e in history] == [
        (1, "ValueError", "cannot convert 7"),
        (2, "ValueError", "cannot convert 7"),
    ]
    assert all(e["worker_id"] and e["failed_at"] and "ValueError" in e["stack"] for e in history)

    text = run("tasks", "show", str(task_id))
    assert text.code == 0, text.err
    assert f"task #{task_id}" in text.out
    assert '{"n": 7}' in text.out
    assert "stack" in text.out
    assert "ValueError: cannot convert 7" in text.out
    assert "attempt history" in text.out


def test_tasks_show_waiting_task(run: Run, queue: QueueService) -> None:
    job = queue.add_task(name="w", executor="e", payload={"k": "v"})
    shown = run("tasks", "show", str(job.id), "--json").json()
    assert shown["task"]["status"] == "waiting"
    assert shown["task"]["payload"] == {"k": "v"}
    assert shown["task"]["error_stack"] is None
    assert shown["attempt_errors"] == []


def test_tasks_show_a_payload_that_is_not_json(run: Run, queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="w", executor="e", payload={"k": "v"})
    dbs.query(db_url, "UPDATE queue_jobs SET payload = 'not json{' WHERE id = %s", [job.id])
    shown = run("tasks", "show", str(job.id))
    assert shown.code == 0, shown.err
    assert "unreadable (BAD_PAYLOAD): the task's payload cannot be read: not JSON" in shown.out
    assert run("tasks", "list").code == 0


def test_tasks_show_unknown_id(run: Run, db_url: str) -> None:
    assert "#987654" in one_error_line(run("tasks", "show", "987654"), (1,))
    assert "task" in one_error_line(run("tasks", "show", "0"), (1,))
    assert "TASK_ID" in one_error_line(run("tasks", "show", "abc"), (2,))
    assert rows(db_url) == 0


def first_line(run: Run, *args: str) -> str:
    result = run("tasks", "list", *args)
    assert result.code == 0, result.err
    return result.out.splitlines()[0].strip()


def test_tasks_list_says_how_many_match(run: Run, mixed: dict[str, int]) -> None:
    assert first_line(run) == "5 task(s)"
    assert first_line(run, "--limit", "2") == "2 of 5 task(s)"
    assert first_line(run, "--limit", "2", "--offset", "4") == "1 of 5 task(s), after the first 4"
    assert first_line(run, "--status", "waiting", "--limit", "1") == "1 of 3 task(s)"
    assert first_line(run, "--group", "mail", "--limit", "1") == "1 of 2 task(s)"
    assert first_line(run, "--group", "img", "--status", "delayed", "--limit", "1") == "1 task(s)"
    assert (
        first_line(run, "--group", "nope", "--offset", "1") == "0 of 0 task(s), after the first 1"
    )
    # no count by executor: it says where the next page starts
    assert first_line(run, "--executor", "mail", "--limit", "1") == (
        "1 task(s); more with --offset 1"
    )
