"""`stratix-queue failed list|show|stats|retry`, on every backend."""

from __future__ import annotations

import pytest

from stratix_queue import QueueService
from tests.cli.conftest import Run, make_failed, make_failed_by_worker, one_error_line, statuses


@pytest.fixture
def failures(queue: QueueService) -> dict[str, int]:
    """Five failed tasks over two executors, two groups (and none) and two codes; one waiting."""
    ids = {
        "f1": make_failed(queue, "f1", executor="convert", group="reports", code="LookupError"),
        "f2": make_failed(queue, "f2", executor="convert", group="reports", code="ValueError"),
        "f3": make_failed(queue, "f3", executor="convert", group="billing", code="LookupError"),
        "f4": make_failed(queue, "f4", executor="mail", group="billing", code="LookupError"),
        "f5": make_failed(queue, "f5", executor="mail", code="ValueError"),
    }
    ids["w"] = queue.add_task(name="w", executor="convert", group="reports").id
    return ids


def test_failed_list(run: Run, failures: dict[str, int]) -> None:
    found = run("failed", "list", "--json").json()
    assert sorted(t["name"] for t in found) == ["f1", "f2", "f3", "f4", "f5"]
    assert all(t["status"] == "failed" and t["error_message"] == "boom" for t in found)
    stamps = [t["failed_at"] for t in found]
    assert stamps == sorted(stamps, reverse=True)  # newest failure first
    assert len(run("failed", "list", "--limit", "2", "--json").json()) == 2
    rest = run("failed", "list", "--limit", "10", "--offset", "3", "--json").json()
    assert [t["id"] for t in rest] == [t["id"] for t in found[3:]]

    text = run("failed", "list")
    assert text.code == 0, text.err
    assert "5 failed task(s)" in text.out
    assert "LookupError: boom" in text.out
    assert "│ w " not in text.out


def test_failed_list_says_how_many_it_shows(run: Run, failures: dict[str, int]) -> None:
    def header(*args: str) -> str:
        return run("failed", "list", *args).out.splitlines()[0].strip()

    assert header("--limit", "2") == "2 of 5 failed task(s)"
    assert header("--limit", "5") == "5 failed task(s)"
    assert header("--limit", "4", "--offset", "3") == "2 of 5 failed task(s), after the first 3"


def test_failed_show(run: Run, queue: QueueService) -> None:
    task_id = make_failed_by_worker(queue)
    shown = run("failed", "show", str(task_id), "--json").json()
    assert shown["task"]["status"] == "failed"
    assert "ValueError: cannot convert 7" in shown["task"]["error_stack"]
    assert [e["attempt"] for e in shown["attempt_errors"]] == [1, 2]
    text = run("failed", "show", str(task_id))
    assert text.code == 0, text.err
    assert "ValueError: cannot convert 7" in text.out
    assert "attempt history" in text.out
    line = one_error_line(run("failed", "show", "424242"), (1,))
    assert "#424242" in line


def test_failed_stats(run: Run, failures: dict[str, int]) -> None:
    stats = run("failed", "stats", "--json").json()
    inbox = stats.pop("by_fingerprint")
    assert stats == {
        "total": 5,
        "by_executor": {"convert": 3, "mail": 2},
        "by_group": {"reports": 2, "billing": 2, "null": 1},
        "by_code": {"LookupError": 3, "ValueError": 2},
        "counted_from": "kept counts",
    }
    assert sum(entry["count"] for entry in inbox) == 5
    text = run("failed", "stats")
    assert text.code == 0, text.err
    assert "5 failed task(s)" in text.out
    for title in ("by executor", "by group", "by error code", "convert", "billing"):
        assert title in text.out


def test_failed_stats_when_nothing_failed(run: Run) -> None:
    assert run("failed", "stats", "--json").json() == {
        "total": 0,
        "by_executor": {},
        "by_group": {},
        "by_code": {},
        "by_fingerprint": [],
        "counted_from": "kept counts",
    }
    assert "0 failed task(s)" in run("failed", "stats").out
    assert run("failed", "list", "--json").json() == []


def test_failed_retry_ids(run: Run, db_url: str, failures: dict[str, int]) -> None:
    result = run("failed", "retry", str(failures["f1"]), str(failures["f4"]))
    assert result.code == 0, result.err
    assert "retried: 2 succeeded, 0 failed" in result.out
    now = statuses(db_url)
    assert now[failures["f1"]] == now[failures["f4"]] == "waiting"
    assert [now[failures[n]] for n in ("f2", "f3", "f5")] == ["failed"] * 3


def test_failed_retry_id_that_is_not_failed(
    run: Run, db_url: str, failures: dict[str, int]
) -> None:
    result = run("failed", "retry", str(failures["f2"]), str(failures["w"]), "999999")
    assert "retried: 1 succeeded, 2 failed" in result.out
    assert statuses(db_url)[failures["f2"]] == "waiting"
    assert statuses(db_url)[failures["w"]] == "waiting"


def test_failed_retry_of_an_id_that_is_not_failed_exits_1(
    run: Run, failures: dict[str, int]
) -> None:
    result = run("failed", "retry", str(failures["w"]))
    assert "retried: 0 succeeded, 1 failed" in result.out
    assert result.code == 1


def test_failed_retry_all_asks_first(run: Run, db_url: str, failures: dict[str, int]) -> None:
    before = statuses(db_url)
    refused = run("failed", "retry", "--all", stdin="n\n")
    assert refused.code == 1
    assert "5 failed task(s) match" in refused.out
    assert "Retry 5 task(s)?" in refused.err
    assert "aborted" in refused.err
    assert "Traceback" not in refused.err
    assert statuses(db_url) == before

    no_answer = run("failed", "retry", "--all", "--executor", "mail")  # stdin at EOF
    assert no_answer.code == 1
    assert statuses(db_url) == before

    agreed = run("failed", "retry", "--all", "--code", "ValueError", stdin="y\n")
    assert agreed.code == 0, agreed.err
    assert "2 failed task(s) match" in agreed.out
    assert "retried: 2 succeeded, 0 failed" in agreed.out
    now = statuses(db_url)
    assert [now[failures[n]] for n in ("f2", "f5")] == ["waiting", "waiting"]
    assert [now[failures[n]] for n in ("f1", "f3", "f4")] == ["failed"] * 3


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--executor", "convert"], {"f1", "f2", "f3"}),
        (["--group", "billing"], {"f3", "f4"}),
        (["--code", "LookupError"], {"f1", "f3", "f4"}),
        (["--executor", "convert", "--group", "reports", "--code", "LookupError"], {"f1"}),
        ([], {"f1", "f2", "f3", "f4", "f5"}),
    ],
)
def test_failed_retry_all_with_filters(
    run: Run, db_url: str, failures: dict[str, int], filters: list[str], expected: set[str]
) -> None:
    result = run("failed", "retry", "--all", *filters, "--yes")
    assert result.code == 0, result.err
    assert f"{len(expected)} failed task(s) match" in result.out
    assert f"retried: {len(expected)} succeeded, 0 failed" in result.out
    assert "?" not in result.err  # --yes: no question
    now = statuses(db_url)
    retried = {name for name, task_id in failures.items() if name != "w"}
    for name in retried:
        assert now[failures[name]] == ("waiting" if name in expected else "failed"), name


def test_failed_retry_all_matching_nothing(run: Run, db_url: str, failures: dict[str, int]) -> None:
    before = statuses(db_url)
    result = run("failed", "retry", "--all", "--group", "nobody")
    assert result.code == 0, result.err
    assert "0 failed task(s) match" in result.out
    assert result.err == ""
    assert statuses(db_url) == before


def test_failed_retry_usage(run: Run, db_url: str, failures: dict[str, int]) -> None:
    before = statuses(db_url)
    for args in ([], ["--all", "1"], ["1", "--executor", "convert"], ["one"]):
        one_error_line(run("failed", "retry", *args), (2,))
    assert statuses(db_url) == before
