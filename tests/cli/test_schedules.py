"""`stratix-queue schedules list|add|pause|resume|run-now|remove`, on every backend."""

from __future__ import annotations

from stratix_queue import QueueService
from tests import dbs
from tests.cli.conftest import Run, one_error_line, rows


def test_add_list_pause_resume_run_now_remove(run: Run, queue: QueueService, db_url: str) -> None:
    added = run(
        "schedules",
        "add",
        "nightly-report",
        "--cron",
        "0 3 * * *",
        "--executor",
        "report",
        "--payload",
        '{"kind": "daily"}',
        "--group",
        "reports",
        "--timezone",
        "Europe/Paris",
        "--missed",
        "once",
        "--priority",
        "3",
        "--max-attempts",
        "2",
        "--task-name",
        "report run",
    )
    assert added.code == 0, added.err
    assert "schedule 'nightly-report' saved (active): next tick " in added.out
    saved = queue.get_schedule("nightly-report")
    assert saved is not None
    assert (saved.cron, saved.timezone, saved.missed, saved.group) == (
        "0 3 * * *",
        "Europe/Paris",
        "once",
        "reports",
    )
    assert (saved.payload, saved.priority, saved.max_attempts, saved.task_name) == (
        {"kind": "daily"},
        3,
        2,
        "report run",
    )

    [listed] = run("schedules", "list", "--json").json()
    assert listed["name"] == "nightly-report"
    assert listed["status"] == "active"
    assert listed["next_run_at"] == saved.next_run_at.isoformat()
    text = run("schedules", "list")
    assert text.code == 0, text.err
    assert "1 schedule(s)" in text.out
    assert "nightly-report" in text.out
    assert "Europe/Paris" in text.out

    paused = run("schedules", "pause", "nightly-report")
    assert paused.code == 0, paused.err
    assert "paused schedule 'nightly-report'" in paused.out
    assert run("schedules", "list", "--json").json()[0]["status"] == "paused"

    now = run("schedules", "run-now", "nightly-report")
    assert now.code == 0, now.err
    [(task_id, name, status)] = dbs.query(db_url, "SELECT id, job_name, status FROM queue_jobs")
    assert (name, status) == ("report run", "waiting")
    assert f"schedule 'nightly-report': added task {task_id} (waiting)" in now.out

    resumed = run("schedules", "resume", "nightly-report")
    assert resumed.code == 0, resumed.err
    assert "resumed schedule 'nightly-report': next tick " in resumed.out
    assert run("schedules", "list", "--json").json()[0]["last_job_id"] == task_id

    removed = run("schedules", "remove", "nightly-report")
    assert removed.code == 0, removed.err
    assert "removed schedule 'nightly-report'" in removed.out
    assert run("schedules", "list", "--json").json() == []
    assert rows(db_url) == 1  # its task stays


def test_errors_are_one_line_and_write_nothing(run: Run, db_url: str) -> None:
    bad_cron = run("schedules", "add", "s", "--cron", "99 * * * *", "--executor", "e")
    assert "is not a cron expression" in one_error_line(bad_cron, (1,))
    bad_zone = run(
        "schedules", "add", "s", "--cron", "* * * * *", "--executor", "e", "--timezone", "X/Y"
    )
    assert "is not a known IANA time zone" in one_error_line(bad_zone, (1,))
    bad_json = run(
        "schedules", "add", "s", "--cron", "* * * * *", "--executor", "e", "--payload", "{"
    )
    assert "not JSON" in one_error_line(bad_json, (2,))
    bad_missed = run(
        "schedules", "add", "s", "--cron", "* * * * *", "--executor", "e", "--missed", "all"
    )
    one_error_line(bad_missed, (2,))
    assert rows(db_url, "queue_schedules") == 0
    for command in ("pause", "resume", "run-now", "remove"):
        missing = run("schedules", command, "nope")
        assert "no schedule named 'nope'" in one_error_line(missing, (1,))
    assert rows(db_url) == 0


def test_text_from_the_database_is_shown_literally(run: Run, queue: QueueService) -> None:
    name = "[bold]x[/bold]\x1b[2J"
    queue.schedule(name, cron="0 3 * * *", executor="[link=http://evil.example/]e[/link]")
    text = run("schedules", "list")
    assert text.code == 0, text.err
    assert "[bold]x[/bold]\\x1b[2J" in text.out
    assert "[link=http://evil.example/]e[/link]" in text.out
    assert "\x1b" not in text.out
    paused = run("schedules", "pause", name)
    assert paused.code == 0, paused.err
    assert "\x1b" not in paused.out
    assert "[bold]x[/bold]" in paused.out
