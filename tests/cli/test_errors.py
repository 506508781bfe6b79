"""Bad input and the process boundary: one line on stderr, a meaningful exit code, no traceback
(unless --debug), nothing written. Also env-var URLs, --help examples and shell completion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratix_queue import QueueService, StratixQueueError
from stratix_queue.urls import URL_ENV
from tests.cli.conftest import Run, cli, make_failed, one_error_line, rows, statuses

USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["tasks", "frobnicate"], "No such command 'frobnicate'"),
    (["stats", "--colour"], "No such option"),
    (["add", "t", "--executor", "e", "--payload", "{'single': 1}"], "not JSON"),
    (["add", "t", "--executor", "e", "--delay", "3x"], "not a duration"),
    (["prune", "--older-than", "abc"], "not a duration"),
]


def test_usage_errors_exit_2(run: Run, db_url: str) -> None:
    for args, says in USAGE_ERRORS:
        line = one_error_line(run(*args), (2,))
        assert says in line, (args, line)
        assert "--help" in line, line  # says where to look
    assert rows(db_url) == 0


def test_unknown_task_id_exits_1(run: Run, queue: QueueService, db_url: str) -> None:
    task_id = make_failed(queue)
    before = statuses(db_url)
    for args in (["tasks", "show", "31337"], ["failed", "show", "31337"]):
        assert "#31337" in one_error_line(run(*args), (1,))
    assert statuses(db_url) == before == {task_id: "failed"}


@pytest.mark.parametrize("url", ["postgresql://root@127.0.0.1:1/x", "mysql://root@127.0.0.1:1/x"])
@pytest.mark.parametrize(
    "args", [["stats"], ["add", "t", "--executor", "e"], ["tasks", "list", "--json"]]
)
def test_unreachable_database(run_bare: Run, url: str, args: list[str]) -> None:
    result = run_bare("--url", url, *args)
    line = one_error_line(result, (1,))
    assert "127.0.0.1:1" in line
    assert result.out == ""


@pytest.mark.parametrize("url", ["redis://localhost/0", "nonsense"])
def test_unknown_url_scheme(run_bare: Run, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    line = one_error_line(run_bare("--url", url, "stats"), (1,))
    assert "URL" in line
    monkeypatch.setenv(URL_ENV, url)
    assert one_error_line(run_bare("stats"), (1,)) == line


def test_url_from_the_environment(
    run_bare: Run, db_url: str, queue: QueueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, db_url)
    assert run_bare("add", "from-env", "--executor", "e").code == 0
    assert [t["name"] for t in run_bare("tasks", "list", "--json").json()] == ["from-env"]
    assert [j.name for j in queue.list_tasks()] == ["from-env"]


def test_debug_lets_the_error_through(run_bare: Run) -> None:
    with pytest.raises(StratixQueueError, match=r"127\.0\.0\.1:1"):
        run_bare("--debug", "--url", "postgresql://root@127.0.0.1:1/x", "stats")


def test_debug_shows_a_traceback_in_a_process() -> None:
    quiet = cli("--url", "postgresql://root@127.0.0.1:1/x", "stats")
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    assert len(quiet.stderr.splitlines()) == 1
    loud = cli("--debug", "--url", "postgresql://root@127.0.0.1:1/x", "stats")
    assert loud.returncode != 0
    assert "Traceback (most recent call last)" in loud.stderr
    assert "DatabaseUnavailableError" in loud.stderr
    assert "127.0.0.1:1" in loud.stderr


COMMANDS = [
    [],
    ["migrate"],
    ["migrate", "status"],
    ["worker"],
    ["workers"],
    ["add"],
    ["tasks"],
    ["tasks", "list"],
    ["tasks", "show"],
    ["failed"],
    ["failed", "list"],
    ["failed", "show"],
    ["failed", "stats"],
    ["failed", "retry"],
    ["groups"],
    ["groups", "list"],
    ["groups", "pause"],
    ["groups", "resume"],
    ["stats"],
    ["prune"],
]


def test_every_help_has_an_example(run_bare: Run) -> None:
    for command in COMMANDS:
        result = run_bare(*command, "--help")
        assert result.code == 0, (command, result.err)
        assert "Usage: stratix-queue" in result.out, command
        assert "Example" in result.out, f"no example in: stratix-queue {' '.join(command)} --help"
        for word in command:
            assert word in result.out.splitlines()[0], command


def test_help_and_version_in_a_process() -> None:
    helped = cli("failed", "retry", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Examples: stratix-queue failed retry 12 13" in helped.stdout
    assert "--yes" in helped.stdout
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("stratix-queue, version ")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script(shell: str) -> None:
    done = cli(env={"_STRATIX_QUEUE_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert "_STRATIX_QUEUE_COMPLETE" in done.stdout
    assert "stratix-queue" in done.stdout
    if shell == "bash":
        assert "complete -o nosort -F _stratix_queue_completion stratix-queue" in done.stdout


def test_shell_completion_of_commands() -> None:
    done = cli(
        env={
            "_STRATIX_QUEUE_COMPLETE": "bash_complete",
            "COMP_WORDS": "stratix-queue fa",
            "COMP_CWORD": "1",
        }
    )
    assert done.returncode == 0, done.stderr
    assert "plain,failed" in done.stdout.splitlines()


def test_no_command_prints_readable_help(run_bare: Run) -> None:
    result = run_bare()
    assert result.code in (0, 2)
    assert "error:" not in result.err
    assert "\nCommands:\n" in result.out + result.err


def test_end_to_end_in_a_process(db_url: str, tmp_path: Path) -> None:
    """add --file, a failure, failed retry --all answered on stdin, tasks list --json."""
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        "\n".join(json.dumps({"name": f"t{i}", "executor": "x", "group": "g"}) for i in range(3)),
        encoding="utf-8",
    )
    env = {URL_ENV: db_url}
    added = cli("add", "--file", str(path), env=env)
    assert added.returncode == 0, added.stderr
    assert "added 3 tasks" in added.stdout
    with QueueService(db_url) as queue:
        [first, *_] = queue.list_tasks()
        assert queue.repository.mark_as_failed(first, {"message": "m", "code": "C"})
    no = cli("failed", "retry", "--all", stdin="n\n", env=env)
    assert no.returncode == 1
    assert "aborted" in no.stderr
    assert statuses(db_url)[first.id] == "failed"
    yes = cli("failed", "retry", "--all", "--group", "g", stdin="y\n", env=env)
    assert yes.returncode == 0, yes.stderr
    assert "retried: 1 succeeded, 0 failed" in yes.stdout
    listed = cli("tasks", "list", "--status", "waiting", "--json", env=env)
    assert [t["name"] for t in json.loads(listed.stdout)] == ["t0", "t1", "t2"]


def test_worker_burst_in_a_process(db_url: str, queue: QueueService, tmp_path: Path) -> None:
    for i in range(3):
        queue.add_task(name=f"c{i}", executor="count", group="g")
    done = cli(
        "--url", db_url, "worker", "--app", "tests.reliability.app:queue", "--burst",
        "--concurrency", "2", "--poll", "0.05",
        env={"STRATIX_TEST_RUNS_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rows(db_url) == 0
    assert rows(db_url, "queue_success") == 3
    assert run_lines(tmp_path) == 3

    bad = cli("--url", db_url, "worker", "--app", "no_such_module:queue", "--burst")
    assert bad.returncode == 1
    assert len(bad.stderr.splitlines()) == 1
    assert "no_such_module" in bad.stderr


def run_lines(folder: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("runs-*.log"))
