"""`stratix-queue groups pause --until/--reason`, `limit` and `breaker`, on every backend; what
the database holds is printed as text, never as markup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratix_queue import QueueService
from tests import dbs
from tests.cli.conftest import Run, one_error_line, rows, statuses

MARKUP = "[red]x[/red] [link=https://example.com]y[/link]"


def test_pause_until_with_a_reason(run: Run, queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="r", executor="e", group="reports").id
    done = run("groups", "pause", "reports", "--until", "30m", "--reason", MARKUP)
    assert done.code == 0, done.err
    assert "paused group 'reports' until 30m: 1 task(s) paused" in done.out
    assert statuses(db_url)[job] == "paused"
    [group] = run("groups", "list", "--json").json()
    assert (group["paused"], group["reason"]) == (True, MARKUP)
    until = datetime.fromisoformat(group["until"])
    assert timedelta(minutes=29) < until - datetime.now(UTC) < timedelta(minutes=31)

    text = run("groups", "list")
    assert text.code == 0, text.err
    assert "[red]x[/red]" in text.out  # shown as typed, not turned into colour
    assert "[link=https://example.com]y[/link]" in " ".join(text.out.split()).replace("│ ", "")
    assert "\x1b" not in text.out
    assert until.strftime("%Y-%m-%d %H:%M") in text.out

    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    later = run("groups", "pause", "reports", "--until", at.isoformat())
    assert later.code == 0, later.err
    assert run("groups", "list", "--json").json()[0]["until"] == at.isoformat()

    resumed = run("groups", "resume", "reports")
    assert resumed.code == 0, resumed.err
    [group] = run("groups", "list", "--json").json()
    assert (group["paused"], group["reason"], group["until"]) == (False, None, None)


def test_pause_with_a_bad_until_writes_nothing(run: Run, queue: QueueService, db_url: str) -> None:
    job = queue.add_task(name="r", executor="e", group="reports").id
    for until in ("soon", "-5m", "2001-01-01T00:00:00", "0"):
        line = one_error_line(run("groups", "pause", "reports", "--until", until), (1,))
        assert "until" in line
    assert rows(db_url, "queue_groups") == 0
    assert statuses(db_url)[job] == "waiting"


def test_limit_and_clear(run: Run, queue: QueueService, db_url: str) -> None:
    queue.add_task(name="r", executor="e", group="reports")
    done = run("groups", "limit", "reports", "--concurrency", "5", "--rate", "100/m")
    assert done.code == 0, done.err
    assert "group 'reports': concurrency 5, rate 100/m" in done.out
    [group] = run("groups", "list", "--json").json()
    assert (group["concurrency"], group["rate"]) == (5, "100/m")
    assert "100/m" in run("groups", "list").out

    rate_only = run("groups", "limit", "reports", "--rate", "5/10s")
    assert rate_only.code == 0, rate_only.err
    [group] = run("groups", "list", "--json").json()
    assert (group["concurrency"], group["rate"]) == (None, "5/10s")  # replaced, not merged

    cleared = run("groups", "limit", "reports", "--clear")
    assert cleared.code == 0, cleared.err
    [group] = run("groups", "list", "--json").json()
    assert (group["concurrency"], group["rate"]) == (None, None)

    one_error_line(run("groups", "limit", "reports"), (2,))
    one_error_line(run("groups", "limit", "reports", "--clear", "--concurrency", "2"), (2,))
    assert "rate" in one_error_line(run("groups", "limit", "reports", "--rate", "fast"), (1,))
    assert "concurrency" in one_error_line(
        run("groups", "limit", "reports", "--concurrency", "0"), (1,)
    )
    assert dbs.scalar(db_url, "SELECT concurrency_limit FROM queue_groups") is None


def test_breaker_and_off(run: Run, queue: QueueService, db_url: str) -> None:
    done = run(
        "groups", "breaker", "api", "--threshold", "0.25", "--min-tasks", "8",
        "--window", "2m", "--cooldown", "30s",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "breaker opens at 25% failures of at least 8 outcomes in 120s" in done.out
    [group] = run("groups", "list", "--json").json()
    assert group["name"] == "api"  # listed without tasks: it has a breaker
    assert (group["breaker_state"], group["breaker_threshold"], group["breaker_min_tasks"]) == (
        "closed",
        0.25,
        8,
    )
    assert (group["breaker_window"], group["breaker_cooldown"]) == (120.0, 30.0)
    listed = run("groups", "list")
    assert "│ closed (25% of 8+ in 120s, pause 30s) │" in listed.out

    defaults = run("groups", "breaker", "api")
    assert defaults.code == 0, defaults.err
    [group] = run("groups", "list", "--json").json()
    assert (group["breaker_threshold"], group["breaker_min_tasks"]) == (0.5, 20)
    assert (group["breaker_window"], group["breaker_cooldown"]) == (300.0, 60.0)

    for args in (["--threshold", "0"], ["--threshold", "1.5"], ["--min-tasks", "0"]):
        one_error_line(run("groups", "breaker", "api", *args), (1,))
    one_error_line(run("groups", "breaker", "api", "--window", "soon"), (2,))
    assert dbs.scalar(db_url, "SELECT breaker_threshold FROM queue_groups") == 0.5

    off = run("groups", "breaker", "api", "--off")
    assert off.code == 0, off.err
    assert "group 'api': no breaker; 0 task(s) runnable again" in off.out
    assert run("groups", "list", "--json").json() == []
