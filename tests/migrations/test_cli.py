"""`stratix-queue migrate`, run as a real subprocess on each backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stratix_queue import QueueService
from stratix_queue.urls import URL_ENV
from tests.migrations import helpers as h

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    return subprocess.run(
        [sys.executable, "-m", "stratix_queue", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def version(url: str) -> int:
    with QueueService(url) as queue:
        return queue.migration_status().current


def test_cli_migrate_status_down_and_sql(fresh_url: str) -> None:
    status = cli("--url", fresh_url, "migrate", "status")
    assert status.returncode == 0, status.stderr
    assert f"current version: 0 (latest: {h.LATEST})" in status.stdout
    assert "pending  001_initial" in status.stdout

    up = cli("--url", fresh_url, "migrate")
    assert up.returncode == 0, up.stderr
    assert [line.split() for line in up.stdout.splitlines()] == [
        ["up", f"{v:03d}_{name}", "(installed", "from", "schema.sql)"] for v, name in h.ALL_VERSIONS
    ]
    assert h.version_rows(fresh_url) == h.ALL_VERSIONS

    again = cli("--url", fresh_url, "migrate")
    assert again.returncode == 0, again.stderr
    assert f"up to date (version {h.LATEST})" in again.stdout

    status = cli("--url", fresh_url, "migrate", "status")
    assert status.returncode == 0, status.stderr
    assert f"current version: {h.LATEST} (latest: {h.LATEST})" in status.stdout
    assert f"applied  {h.LATEST:03d}_{h.ALL_VERSIONS[-1][1]}" in status.stdout
    assert "pending" not in status.stdout

    # --sql prints what --to 1 would run and changes nothing
    before = h.schema(fresh_url)
    printed = cli("--url", fresh_url, "migrate", "--to", "1", "--sql")
    assert printed.returncode == 0, printed.stderr
    assert f"-- down: {h.LATEST:03d}_{h.ALL_VERSIONS[-1][1]}" in printed.stdout
    assert "-- down: 002_add_failed_status" in printed.stdout
    assert "DELETE FROM stratix_queue_migrations WHERE version = 2;" in printed.stdout
    with QueueService(fresh_url) as queue:
        assert printed.stdout == queue.migration_sql(1)
    assert version(fresh_url) == h.LATEST
    assert h.schema(fresh_url) == before

    down = cli("--url", fresh_url, "migrate", "--to", "1")
    assert down.returncode == 0, down.stderr
    assert [line.split() for line in down.stdout.splitlines()] == [
        ["down", f"{v:03d}_{name}"] for v, name in reversed(h.ALL_VERSIONS) if v > 1
    ]
    assert version(fresh_url) == 1
    assert "queue_failures" in h.schema(fresh_url)["tables"]


def test_cli_sql_output_applied_by_hand(fresh_url: str) -> None:
    printed = cli("--url", fresh_url, "migrate", "--to", "2", "--sql")
    assert printed.returncode == 0, printed.stderr
    assert h.schema(fresh_url)["tables"] == []  # printing created nothing
    h.apply_script(fresh_url, printed.stdout)
    assert version(fresh_url) == 2
    assert h.version_rows(fresh_url) == [(1, "initial"), (2, "add_failed_status")]
    status = cli("--url", fresh_url, "migrate", "status")
    assert "pending  003_worker_leases" in status.stdout


def test_cli_bad_target_fails_cleanly(fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=2)
    before = h.schema(fresh_url)
    result = cli("--url", fresh_url, "migrate", "--to", "99")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "99" in lines[0]
    assert "Traceback" not in result.stderr
    assert h.schema(fresh_url) == before


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stratix-queue: error:")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("args", [["migrate"], ["migrate", "status"], ["migrate", "--sql"]])
def test_cli_unknown_url_scheme(args: list[str]) -> None:
    result = cli("--url", "foo://x", *args)
    _assert_one_line_error(result, "foo")
    assert result.stdout == ""


def test_cli_unreachable_postgres_is_one_line() -> None:
    result = cli("--url", "postgresql://root@127.0.0.1:1/nowhere", "migrate", "status")
    _assert_one_line_error(result, "127.0.0.1")


def test_cli_unreachable_mysql_is_one_line() -> None:
    result = cli("--url", "mysql://root@127.0.0.1:1/nowhere", "migrate", "status")
    _assert_one_line_error(result, "127.0.0.1")


def test_cli_status_and_migrate_say_002_was_adopted(backend: str, fresh_url: str) -> None:
    with QueueService(fresh_url) as queue:
        queue.migrate(to=1)
    hand_run = h.SQLITE_ADD_COLUMNS if backend == "sqlite" else h.SEED_MANUAL_MIGRATION
    h.apply_script(fresh_url, hand_run)

    before = cli("--url", fresh_url, "migrate", "status")
    assert before.returncode == 0, before.stderr
    assert "pending  002_add_failed_status  (error_columns" in before.stdout
    assert "found in place: `migrate` will adopt it)" in before.stdout
    as_json = json.loads(cli("--url", fresh_url, "migrate", "status", "--json").stdout)
    assert as_json["in_place"]["2"][0] == "error_columns"

    up = cli("--url", fresh_url, "migrate")
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines()[0].split()[:3] == ["up", "002_add_failed_status", "(adopted:"]

    after = cli("--url", fresh_url, "migrate", "status")
    assert "002_add_failed_status" in after.stdout
    line = next(ln for ln in after.stdout.splitlines() if "002_add_failed_status" in ln)
    assert line.strip().startswith("applied") and line.endswith(
        "(adopted: its schema was found in place)"
    )
    as_json = json.loads(cli("--url", fresh_url, "migrate", "status", "--json").stdout)
    assert [a["method"] for a in as_json["applied"]][:2] == ["applied", "adopted"]
    assert as_json["in_place"] == {}
