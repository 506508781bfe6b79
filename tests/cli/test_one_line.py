"""Every error is one line on stderr with the documented exit code, never a traceback: deep JSON,
files that are not UTF-8, odd URLs, applications that cannot be loaded, an unreachable database
for a one-process worker. Also what `add` stores without and with --app."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stratix_queue import InvalidInputError, QueueService
from stratix_queue.urls import URL_ENV
from tests.cli.conftest import Run, cli, one_error_line, rows

DEEP_JSON = "[" * 5000 + "]" * 5000
PASSWORD = "s3cretQ"


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_deep_payload_on_the_command_line(run: Run, db_url: str) -> None:
    line = one_error_line(run("add", "t", "--executor", "e", "--payload", DEEP_JSON), (2,))
    assert "--payload" in line and "nested too deeply" in line
    assert rows(db_url) == 0


def test_deep_payload_in_a_file(run: Run, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"name": "ok", "executor": "e"})
    path.write_text(f'{good}\n{{"name": "t", "executor": "e", "payload": {DEEP_JSON}}}\n')
    line = one_error_line(run("add", "--file", str(path)), (1,))
    assert "line 2" in line and "nested too deeply" in line
    assert rows(db_url) == 0


def test_deep_payload_through_the_api(queue: QueueService, db_url: str) -> None:
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        queue.add_task(name="t", executor="e", payload=deep_list(5000))
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        queue.add_tasks([{"name": "ok", "executor": "e"}, {"name": "t", "executor": "e",
                         "payload": deep_list(5000)}])  # fmt: skip
    assert rows(db_url) == 0


def test_file_that_is_not_utf8(run: Run, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"name": "ok", "executor": "e"}\n{"name": "caf\xe9", "executor": "e"}\n')
    line = one_error_line(run("add", "--file", str(path)), (1,))
    assert "line 2" in line and "not UTF-8" in line and "0xe9" in line
    assert rows(db_url) == 0


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://root@127.0.0.1:1/db?password={PASSWORD}", "cannot connect to PostgreSQL"),
        (f"postgresql://root:other@127.0.0.1:1/db?password={PASSWORD}", "127.0.0.1:1"),
        (f"mysql://root@127.0.0.1:1/db?password={PASSWORD}", "cannot connect to MySQL"),
        (f"postgresql://u:{PASSWORD}@[::1/db", "malformed database URL"),
        (f"mysql://u:{PASSWORD}@[::1/db", "malformed database URL"),
        (f"postgresql:/u:{PASSWORD}@host/db", "not a database URL"),
    ],
)
def test_odd_urls_fail_in_one_line_without_the_password(run_bare: Run, url: str, says: str) -> None:
    result = run_bare("--url", url, "stats")
    line = one_error_line(result, (1,))
    assert says in line, line
    assert PASSWORD not in result.err + result.out


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1:1", "mariadb://root@127.0.0.1:1/"])
def test_mysql_url_without_a_database(run_bare: Run, url: str) -> None:
    line = one_error_line(run_bare("--url", url, "stats"), (1,))
    assert "names no database" in line  # said before connecting: port 1 would refuse


def test_unexpected_error_is_one_line_and_debug_shows_it(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: QueueService) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(QueueService, "queue_stats", broken)
    line = one_error_line(run("stats"), (1,))
    assert "unexpected RuntimeError: a bug" in line and "--debug" in line
    with pytest.raises(RuntimeError):
        run("--debug", "stats")


# -- --app --------------------------------------------------------------------------------------

APPS = {
    "raises_runtime": 'raise RuntimeError("boom at import \\x1b]0;pwned\\x07")\n',
    "raises_syntax": "queue = (\n",
    "raises_custom": "class Oops(Exception):\n    pass\n\n\nraise Oops('custom')\n",
    "exits": "import sys\n\nsys.exit(3)\n",
    "needs_missing": "import no_such_dependency_here\n",
    "shop": (
        "from stratix_queue import QueueService\n\n"
        "queue = QueueService()\n"
        "not_a_queue = 42\n\n\n"
        "@queue.executor('report', max_attempts=3)\n"
        "def report(payload):\n    pass\n"
    ),
    "no_queue": "other = 1\n",
}


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    for name, source in APPS.items():
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    return tmp_path


def worker(folder: Path, db_url: str, app: str, *more: str) -> tuple[int, list[str]]:
    done = cli("worker", "--app", app, "--burst", *more, env={URL_ENV: db_url}, cwd=folder)
    assert "Traceback" not in done.stderr + done.stdout
    return done.returncode, done.stderr.splitlines()


@pytest.mark.parametrize(
    ("app", "says"),
    [
        (
            "raises_runtime",
            "cannot import 'raises_runtime' for --app: RuntimeError: boom at import",
        ),
        ("raises_syntax", "cannot import 'raises_syntax' for --app: SyntaxError:"),
        ("raises_custom:queue", "cannot import 'raises_custom' for --app: Oops: custom"),
        ("exits", "cannot import 'exits' for --app: SystemExit: 3"),
        ("needs_missing", "ModuleNotFoundError: No module named 'no_such_dependency_here'"),
        ("shop:nope", "module 'shop' has no attribute 'nope'"),
        ("shop:not_a_queue", "shop:not_a_queue is a int, not a QueueService"),
        ("no_queue", "module 'no_queue' has no attribute 'queue' (--app no_queue means"),
    ],
)
def test_app_that_cannot_be_loaded(apps: Path, db_url: str, app: str, says: str) -> None:
    code, lines = worker(apps, db_url, app)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("stratix-queue: error: "), lines
    assert says in lines[0], lines[0]
    assert "\x1b" not in lines[0] and "\x07" not in lines[0]  # the app's message, escaped


@pytest.mark.parametrize("processes", ["2", "3"])
def test_app_that_raises_stops_every_process_at_once(
    apps: Path, db_url: str, processes: str
) -> None:
    """The supervisor does not import the app when --url is given: each child does, fails, and
    the supervisor says it once and exits 1 instead of restarting them."""
    started = time.monotonic()
    code, lines = worker(apps, db_url, "raises_runtime", "--processes", processes)
    assert code == 1
    assert time.monotonic() - started < 20
    naming = [line for line in lines if "raises_runtime" in line]
    assert len(naming) == 1, lines
    assert naming[0].startswith("stratix-queue: error: worker processes cannot run: cannot import")
    assert "RuntimeError: boom at import" in naming[0]
    assert not [line for line in lines if "restarting" in line], lines


@pytest.mark.parametrize("app", ["bad app", "shop:", ":queue", "shop:a:b", "shop.:queue"])
def test_malformed_app_is_a_usage_error(run: Run, app: str) -> None:
    line = one_error_line(run("worker", "--app", app, "--burst"), (2,))
    assert "--app" in line and "package.module[:attribute]" in line


def test_app_defaults_to_its_queue_attribute(apps: Path, db_url: str) -> None:
    code, lines = worker(apps, db_url, "shop")
    assert code == 0, lines
    assert any("started" in line for line in lines), lines  # the CLI's own logging still works


@pytest.mark.parametrize("processes", ["1", "2"])
def test_burst_worker_on_an_unreachable_database(apps: Path, processes: str) -> None:
    started = time.monotonic()
    code, lines = worker(apps, "postgresql://root@127.0.0.1:1/x", "shop", "--processes", processes)
    assert code == 1
    assert time.monotonic() - started < 20
    assert len(lines) == 1 and "cannot connect to PostgreSQL at 127.0.0.1:1" in lines[0], lines


# -- add and executor defaults ------------------------------------------------------------------


def test_add_says_what_it_stored_without_app(run: Run, queue: QueueService) -> None:
    result = run("add", "t", "--executor", "report")
    assert result.code == 0, result.err
    [job] = queue.list_tasks()
    assert job.max_attempts == 1
    assert result.out.strip() == (
        f"added task #{job.id} (waiting); max attempts 1 (executor defaults need --app)"
    )
    given = run("add", "t", "--executor", "report", "--max-attempts", "4")
    assert given.out.strip().endswith("; max attempts 4")


def test_add_with_app_takes_the_executor_defaults(
    run: Run, queue: QueueService, apps: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(apps)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "shop", raising=False)
    result = run("add", "t", "--executor", "report", "--app", "shop")
    assert result.code == 0, result.err
    [job] = queue.list_tasks()
    assert job.max_attempts == 3  # as add_task in the application's process would store
    assert result.out.strip() == f"added task #{job.id} (waiting); max attempts 3"
    path = apps / "tasks.jsonl"
    path.write_text(json.dumps({"name": "f", "executor": "report"}) + "\n", encoding="utf-8")
    added = run("add", "--file", str(path), "--app", "shop:queue")
    assert added.out.strip() == f"added 1 tasks from {path}"
    plain = run("add", "--file", str(path))
    assert "1 without max_attempts got 1 (executor defaults need --app)" in plain.out
    assert [j.max_attempts for j in queue.list_tasks()] == [3, 3, 1]
    line = one_error_line(run("add", "t", "--executor", "report", "--app", "shop:nope"), (1,))
    assert "no attribute 'nope'" in line
    sys.modules.pop("shop", None)  # each test's shop.py is another file


# -- the library's logging ----------------------------------------------------------------------


def test_library_logger_has_a_null_handler() -> None:
    """In a process of its own: the CLI, which configures logging, takes it off (test_logformat)."""
    found = subprocess.run(
        [sys.executable, "-c", "import stratix_queue, logging\n"
         "print([type(h).__name__ for h in logging.getLogger('stratix_queue').handlers])"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert found.stdout.strip() == "['NullHandler']"


def test_library_logs_nothing_unless_configured() -> None:
    """Without logging configured, a library warning does not reach stderr through logging's
    last resort (the CLI configures its own: see test_app_defaults_to_its_queue_attribute)."""
    quiet = subprocess.run(
        [sys.executable, "-c", "import stratix_queue, logging\n"
         "logging.getLogger('stratix_queue.worker').warning('hello')"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
