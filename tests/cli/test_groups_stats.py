"""`stratix-queue groups`, `stats`, `prune`, `workers` and `migrate status`, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratix_queue import QueueService
from tests import dbs
from tests.cli.conftest import Run, make_failed, make_succeeded, one_error_line, rows, statuses

# A group's settings in `groups list --json` when it has none.
UNSET = {
    "reason": None,
    "until": None,
    "concurrency": None,
    "rate": None,
    "breaker_state": None,
    "breaker_threshold": None,
    "breaker_min_tasks": None,
    "breaker_window": None,
    "breaker_cooldown": None,
    "probe_task_id": None,
}


def test_groups_list_pause_resume(run: Run, queue: QueueService, db_url: str) -> None:
    now_ = queue.add_task(name="r1", executor="e", group="reports").id
    later = queue.add_task(name="r2", executor="e", group="reports", delay=3600).id
    failed = make_failed(queue, name="r3", group="reports")
    other = queue.add_task(name="b1", executor="e", group="billing").id
    loose = queue.add_task(name="x", executor="e").id

    assert run("groups", "list", "--json").json() == [
        {
            "name": "billing",
            "paused": False,
            "counts": {"waiting": 1, "executing": 0, "delayed": 0, "paused": 0, "failed": 0},
            **UNSET,
        },
        {
            "name": "reports",
            "paused": False,
            "counts": {"waiting": 1, "executing": 0, "delayed": 1, "paused": 0, "failed": 1},
            **UNSET,
        },
    ]

    paused = run("groups", "pause", "reports")
    assert paused.code == 0, paused.err
    assert "paused group 'reports': 2 task(s) paused" in paused.out
    state = statuses(db_url)
    assert (state[now_], state[later], state[failed]) == ("paused", "paused", "failed")
    assert (state[other], state[loose]) == ("waiting", "waiting")
    groups = {g["name"]: g for g in run("groups", "list", "--json").json()}
    assert groups["reports"]["paused"] is True
    assert groups["reports"]["counts"]["paused"] == 2
    assert groups["billing"]["paused"] is False
    text = run("groups", "list")
    assert text.code == 0, text.err
    assert "2 group(s)" in text.out
    assert "paused" in text.out

    # a task added to a paused group starts paused
    added = run("add", "r4", "--executor", "e", "--group", "reports")
    assert "(paused)" in added.out

    resumed = run("groups", "resume", "reports")
    assert resumed.code == 0, resumed.err
    assert "resumed group 'reports': 3 task(s) runnable again" in resumed.out
    state = statuses(db_url)
    assert (state[now_], state[later], state[failed]) == ("waiting", "delayed", "failed")
    assert [g["paused"] for g in run("groups", "list", "--json").json()] == [False, False]


def test_groups_empty_and_bad_names(run: Run, db_url: str) -> None:
    assert run("groups", "list", "--json").json() == []
    assert "0 group(s)" in run("groups", "list").out
    one_error_line(run("groups", "pause"), (2,))
    line = one_error_line(run("groups", "pause", " "), (1,))
    assert "group" in line
    assert rows(db_url, "queue_groups") == 0


def test_stats(run: Run, queue: QueueService, db_url: str) -> None:
    assert run("stats", "--json").json() == {
        "counts": {"waiting": 0, "executing": 0, "delayed": 0, "paused": 0, "failed": 0},
        "succeeded_last_hour": 0,
        "oldest_waiting_seconds": None,
        "running": 0,
        "prefetched": 0,
    }
    old = queue.add_task(name="old", executor="e").id
    queue.add_task(name="new", executor="e")
    queue.add_task(name="later", executor="e", delay=600)
    make_failed(queue)
    make_succeeded(queue)
    make_succeeded(queue)
    long_ago = make_succeeded(queue)
    dbs.query(db_url, "UPDATE queue_success SET completed_at = %s WHERE id = %s", [
        "2020-01-01 00:00:00", long_ago,
    ])  # fmt: skip
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    dbs.query(db_url, "UPDATE queue_jobs SET run_at = %s WHERE id = %s", [two_hours_ago, old])

    stats = run("stats", "--json").json()
    assert stats["counts"] == {"waiting": 2, "executing": 0, "delayed": 1, "paused": 0, "failed": 1}
    assert stats["succeeded_last_hour"] == 2
    assert 7190 <= stats["oldest_waiting_seconds"] <= 7300

    text = run("stats")
    assert text.code == 0, text.err
    assert "succeeded in the last hour: 2" in text.out
    assert "oldest waiting task: 2.0h" in text.out
    assert "waiting" in text.out


def test_prune(run: Run, queue: QueueService, db_url: str) -> None:
    recent = [make_succeeded(queue) for _ in range(2)]
    old = [make_succeeded(queue) for _ in range(3)]
    marks = ", ".join(["%s"] * len(old))
    dbs.query(
        db_url,
        f"UPDATE queue_success SET completed_at = '2020-01-01 00:00:00' WHERE id IN ({marks})",
        old,
    )
    waiting = queue.add_task(name="w", executor="e").id

    dry = run("prune", "--older-than", "7d", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would delete 3 succeeded task(s)" in dry.out
    assert rows(db_url, "queue_success") == 5

    done = run("prune", "--older-than", "7d")
    assert done.code == 0, done.err
    assert "deleted 3 succeeded task(s)" in done.out
    kept = sorted(int(r[0]) for r in dbs.query(db_url, "SELECT id FROM queue_success"))
    assert kept == sorted(recent)
    assert list(statuses(db_url)) == [waiting]

    again = run("prune", "--older-than", "7d")
    assert "deleted 0 succeeded task(s)" in again.out
    assert rows(db_url, "queue_success") == 2


def test_prune_bad_input_deletes_nothing(run: Run, queue: QueueService, db_url: str) -> None:
    make_succeeded(queue)
    dbs.query(db_url, "UPDATE queue_success SET completed_at = '2020-01-01 00:00:00'")
    for args, code in (
        (["prune", "--older-than", "abc"], 2),
        (["prune", "--older-than", "7x"], 2),
        (["prune"], 2),
        (["prune", "--older-than", "-1"], 1),
    ):
        one_error_line(run(*args), (code,))
    assert rows(db_url, "queue_success") == 1


def test_workers_when_none_run(run: Run) -> None:
    assert run("workers", "--json").json() == []
    text = run("workers")
    assert text.code == 0, text.err
    assert "0 worker(s)" in text.out


def test_migrate_status_and_latest(run: Run, queue: QueueService) -> None:
    expected = queue.migration_status()
    status = run("migrate", "status", "--json").json()
    assert status["current"] == status["latest"] == expected.current
    assert status["pending"] == []
    assert [a["version"] for a in status["applied"]] == list(range(1, expected.latest + 1))
    assert status["legacy"] is False
    again = run("migrate")
    assert again.code == 0, again.err
    assert f"schema is up to date (version {expected.latest})" in again.out
    text = run("migrate", "status")
    assert f"current version: {expected.latest} (latest: {expected.latest})" in text.out
