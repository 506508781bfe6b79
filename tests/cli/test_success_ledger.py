"""`stratix-queue stats --since --by`, `prune --rollups/--removed`, and `tasks show` of a task
that succeeded, on every backend."""

from __future__ import annotations

from stratix_queue import QueueService
from tests import dbs
from tests.cli.conftest import Run, make_succeeded

OLD = "2000-01-01 00:00:00"


def test_stats_since_by_executor(run: Run, queue: QueueService, db_url: str) -> None:
    for _ in range(3):
        make_succeeded(queue, group="reports")
    job = queue.add_task(name="n", executor="\x1b[2Jevil", group="b")
    assert queue.repository.move_to_success(job, 2_500)

    text = run("stats", "--since", "24h", "--by", "executor")
    assert text.code == 0, text.err
    lines = {line.split("│")[1].strip(): line for line in text.out.splitlines() if "│" in line}
    assert "e" in lines and " 3 " in lines["e"]
    assert "\\x1b[2Jevil" in lines  # the terminal escape from the database is shown, not obeyed
    assert "2,500" in lines["\\x1b[2Jevil"]
    assert "\x1b[2J" not in text.out
    assert "estimated from run-time buckets" in text.out

    data = run("stats", "--since", "1h", "--by", "group", "--json").json()
    assert data["by"] == "group" and data["since_seconds"] == 3600
    found = {row["key"]: row for row in data["rows"]}
    assert found["reports"]["succeeded"] == 3 and found["b"]["max_ms"] == 2_500
    assert found["b"]["p99_ms"] <= 2_500 and "estimated" in found["b"]["percentiles"]

    dbs.query(db_url, "UPDATE queue_rollups SET minute = %s", (OLD,))
    assert run("stats", "--since", "1h", "--json").json()["rows"] == []
    plain = run("stats")  # without --since: the counts by status, as before
    assert plain.code == 0 and "queue_jobs by status" in plain.out


def test_stats_by_needs_a_known_grouping(run: Run) -> None:
    result = run("stats", "--since", "1h", "--by", "worker")
    assert result.code == 2 and "worker" in result.err


def test_prune_rollups_and_removed(run: Run, queue: QueueService, db_url: str) -> None:
    make_succeeded(queue)
    dbs.query(
        db_url,
        "INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded) "
        "VALUES (%s, 'e', '', 0, 5)",
        (OLD,),
    )
    dry = run("prune", "--rollups", "90d", "--removed", "30d", "--dry-run", "--json").json()
    assert dry["counts"]["rollups"] == 1 and dry["counts"]["removed"] == 0
    assert "successes" not in dry["counts"]  # not asked for: kept
    done = run("prune", "--rollups", "90d")
    assert done.code == 0, done.err
    assert "deleted 1 rollups row(s)" in done.out
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_rollups") == 1  # this minute's
    assert dbs.scalar(db_url, "SELECT COUNT(*) FROM queue_success") == 1
    nothing = run("prune")
    assert nothing.code == 2 and "--older-than" in nothing.err


def test_tasks_show_a_succeeded_task(run: Run, queue: QueueService) -> None:
    task_id = make_succeeded(queue, name="report", group="g")
    shown = run("tasks", "show", str(task_id))
    assert shown.code == 0, shown.err
    assert "queue_success" in shown.out and "succeeded" in shown.out
    assert "5 ms" in shown.out and "report" in shown.out
    data = run("tasks", "show", str(task_id), "--json").json()
    assert data["where"] == "queue_success"
    assert data["task"]["execution_time_ms"] == 5 and data["task"]["status"] == "succeeded"
    missing = run("tasks", "show", str(task_id + 1000))
    assert missing.code == 1 and "pruned" in missing.err
