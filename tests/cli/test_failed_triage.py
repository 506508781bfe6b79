"""`stratix-queue failed list` with filters and cursors, `--print-filter`, and `failed stats`
as the fingerprint inbox, on every backend."""

from __future__ import annotations

import shlex

import pytest

from stratix_queue import QueueService
from tests.cli.conftest import Run, one_error_line
from tests.ledger import stack_at


def _fail(queue: QueueService, name: str, executor: str, message: str, line: str = "x") -> int:
    job = queue.add_task(name=name, executor=executor, group="fx" if name < "f4" else None)
    error = {"message": message, "stack": stack_at(f"raise E({line})"), "code": "LookupError"}
    assert queue.repository.mark_as_failed(job, error)
    return job.id


@pytest.fixture
def failures(queue: QueueService) -> dict[str, int]:
    """Seven failures: five of one kind (the currency differs), two of another line."""
    made = {}
    for i, currency in enumerate(("GBP", "JPY", "USD", "GBP", "CHF")):
        made[f"f{i}"] = _fail(queue, f"f{i}", "convert", f"no exchange rate for {currency}")
    made["f5"] = _fail(queue, "f5", "mail", "no exchange rate for GBP", line="y")
    made["f6"] = _fail(queue, "f6", "mail", "mailbox full", line="y")
    return made


def test_list_by_filter(run: Run, failures: dict[str, int]) -> None:
    found = run("failed", "list", "--executor", "mail", "--json").json()
    assert {t["id"] for t in found} == {failures["f5"], failures["f6"]}
    found = run("failed", "list", "--message", "GBP", "--group", "fx", "--json").json()
    assert {t["id"] for t in found} == {failures["f0"], failures["f3"]}
    text = run("failed", "list", "--executor", "mail")
    assert text.code == 0, text.err
    assert text.out.splitlines()[0].strip() == "2 failed task(s)"
    assert "mailbox full" in text.out


def test_list_by_cursor_in_json(run: Run, failures: dict[str, int]) -> None:
    seen: list[int] = []
    cursor = "first"
    while cursor:
        page = run("failed", "list", "--limit", "3", "--cursor", cursor, "--json").json()
        assert len(page["tasks"]) <= 3
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
    assert seen == [t["id"] for t in run("failed", "list", "--json").json()]
    assert sorted(seen) == sorted(failures.values())


def test_list_prints_the_command_of_the_next_page(run: Run, failures: dict[str, int]) -> None:
    seen: list[int] = []
    args = ["failed", "list", "--executor", "convert", "--limit", "2", "--json"]
    first = run(*args).json()
    seen += [t["id"] for t in first]
    text = run(*args[:-1])
    assert text.out.splitlines()[0].strip() == "2 of 5 failed task(s)"
    while True:
        [line] = [ln for ln in text.out.splitlines() if ln.startswith("next page: ")]
        command = shlex.split(line.removeprefix("next page: "))
        assert command[:3] == ["stratix-queue", "failed", "list"]
        assert "--executor" in command
        text = run(*command[1:])
        page = run(*command[1:], "--json").json()["tasks"]
        seen += [t["id"] for t in page]
        assert "after the cursor" in text.out.splitlines()[0]
        if "next page: " not in text.out:
            break
    assert sorted(seen) == sorted(failures[f"f{i}"] for i in range(5))


def test_print_filter_reproduces_the_same_tasks(run: Run, failures: dict[str, int]) -> None:
    options = ["--executor", "convert", "--message", "rate for GBP", "--since", "1h"]
    printed = run("failed", "list", *options, "--print-filter")
    assert printed.code == 0, printed.err
    line = printed.out.strip()
    assert line.startswith("stratix-queue failed list --executor convert --message 'rate for GBP'")
    assert "--since 20" in line  # a time, not "1h": the same set when run later
    again = run(*shlex.split(line)[1:], "--json").json()
    direct = run("failed", "list", *options, "--json").json()
    assert [t["id"] for t in again] == [t["id"] for t in direct]
    assert {t["id"] for t in again} == {failures["f0"], failures["f3"]}


def test_list_refuses_bad_paging(run: Run, failures: dict[str, int]) -> None:
    one_error_line(run("failed", "list", "--offset", "2", "--executor", "mail"), (2,))
    assert "cursor" in one_error_line(run("failed", "list", "--cursor", "nonsense"), (1,))
    one_error_line(run("failed", "list", "--fingerprint", "nothex"), (1,))
    one_error_line(run("failed", "list", "--since", "someday"), (1,))
    offset = run("failed", "list", "--offset", "5", "--json").json()
    assert len(offset) == 2


def test_stats_is_the_fingerprint_inbox(run: Run, failures: dict[str, int]) -> None:
    stats = run("failed", "stats", "--json").json()
    assert [(e["count"], e["executors"]) for e in stats["by_fingerprint"]] == [
        (5, {"convert": 5}),
        (1, {"mail": 1}),
        (1, {"mail": 1}),
    ]
    assert stats["by_fingerprint"][0]["groups"] == {"fx": 4, "null": 1}
    text = run("failed", "stats")
    assert text.code == 0, text.err
    assert "7 failed task(s)" in text.out
    assert "by fingerprint" in text.out
    assert stats["by_fingerprint"][0]["fingerprint"] in text.out
    assert "no exchange rate for" in text.out and "mailbox full" in text.out
    assert "convert / fx, -" in text.out


def test_stats_by_filter(run: Run, failures: dict[str, int]) -> None:
    mail = run("failed", "stats", "--executor", "mail", "--json").json()
    assert (mail["total"], mail["counted_from"]) == (2, "kept counts")
    text = run("failed", "stats", "--message", "GBP")
    assert text.code == 0, text.err
    first = text.out.splitlines()[0]
    assert first.startswith("3 failed task(s) matching stratix-queue failed stats --message GBP")
    assert "(counted from the failed tasks)" in first
