"""The failure ledger's reads at scale (issue 15): a fresh database per backend filled with
ROWS failed tasks (and some waiting ones) by one INSERT ... SELECT over a generated series, its
kept counts by one INSERT ... SELECT ... GROUP BY (as migration 006 fills them), then each read
timed through QueueService. Results as a Markdown table (bench/README.md, issue 15).

    .venv/bin/python bench/ledger_scale.py --backends sqlite postgres mysql --rows 1000000

The spread: 50 executors, 20 groups (and tasks without one), 30 error codes, 300 fingerprints
(a few big, many small), messages naming one of 150 currencies, failures over 30 days.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import dbs
from tests.ledger import REFILL_COUNTS

from stratix_queue import QueueService
from stratix_queue.triage import encode_cursor
from stratix_queue.urls import parse_url

FINGERPRINTS = 300
SPAN_SECONDS = 30 * 86400
REPEAT = 5

# n: 1..ROWS. k: the task's fingerprint number, skewed (k = 300 * r^2: low numbers are common).
# Each dialect's series and expressions; the values are the same on all three.
SERIES = {
    "postgres": "SELECT n FROM generate_series(CAST(1 AS BIGINT), {rows}) AS s(n)",
    "mysql": "SELECT seq AS n FROM seq_1_to_{rows}",
    "sqlite": "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) "
    "SELECT n FROM s",
}
HEX = {
    "postgres": "lpad(to_hex(k * 2654435761), 16, '0')",
    "mysql": "lpad(lower(hex(k * 2654435761)), 16, '0')",
    "sqlite": "printf('%016x', k * 2654435761)",
}
TEXT = {  # a || b
    "postgres": "({a} || {b})",
    "mysql": "CONCAT({a}, {b})",
    "sqlite": "({a} || {b})",
}
ANALYZE = {
    "postgres": "VACUUM ANALYZE",
    "mysql": "ANALYZE TABLE queue_jobs, queue_failure_counts",
    "sqlite": "ANALYZE",
}
AGO = {  # the UTC time `s` seconds ago
    "postgres": "(timezone('UTC', now()) - make_interval(secs => {s}))",
    "mysql": "(UTC_TIMESTAMP(6) - INTERVAL {s} SECOND)",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({s}) || ' seconds')",
}


def _lit(text: str) -> str:
    return "'" + text + "'"


def _fill_sql(dialect: str, rows: int, waiting: int) -> list[str]:
    def cat(*parts: str) -> str:
        joined = parts[0]
        for part in parts[1:]:
            joined = TEXT[dialect].format(a=joined, b=part)
        return joined

    seconds = f"CAST(({rows} - n) * {SPAN_SECONDS} AS FLOAT) / {rows}"
    if dialect == "mysql":
        seconds = f"(({rows} - n) * {SPAN_SECONDS} DIV {rows})"  # whole seconds: INTERVAL
    failed_at = AGO[dialect].format(s=seconds)
    created = AGO[dialect].format(s=f"({seconds}) + 60")
    skew = "(((n * 2654435761) % 1000003) * 1.0 / 1000003)"
    integer = "SIGNED" if dialect == "mysql" else "INTEGER"
    series = SERIES[dialect].format(rows=rows)
    keyed = f"SELECT n, CAST({FINGERPRINTS} * {skew} * {skew} AS {integer}) AS k FROM ({series}) s"
    columns = [
        cat(_lit("task_"), "(n % 100)"),
        cat(_lit("exec_"), "((k + n % 3) % 50)"),
        f"CASE WHEN n % 23 = 0 THEN NULL ELSE {cat(_lit('group_'), '(n % 20)')} END",
        cat(_lit('{"n": '), "n", _lit("}")),
        "'failed'",
        "0",
        "1 + n % 5",
        "5",
        created,
        created,
        failed_at,
        cat(_lit("error "), "k", _lit(": no exchange rate for C"), "(n % 150)"),
        cat(_lit("Traceback (most recent call last): File app.py, line "), "k"),
        cat(_lit("Code"), "(k % 30)"),
        failed_at,
        HEX[dialect],
    ]
    statements = [
        "INSERT INTO queue_jobs (job_name, executor, group_name, payload, status, priority, "
        "attempts, max_attempts, run_at, created_at, updated_at, error_message, error_stack, "
        f"error_code, failed_at, fingerprint) SELECT {', '.join(columns)} FROM ({keyed}) t"
    ]
    if waiting:
        statements.append(
            "INSERT INTO queue_jobs (job_name, executor, payload, status) "
            f"SELECT 'w', {cat(_lit('exec_'), '(n % 50)')}, '{{}}', 'waiting' "
            f"FROM ({SERIES[dialect].format(rows=waiting)}) s"
        )
    statements.append(REFILL_COUNTS)  # as migration 006 fills it
    statements.append(ANALYZE[dialect])
    return statements


def _new_url(dialect: str, directory: str) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{os.path.join(directory, 'ledger.db')}"
    return dbs.create_database(dialect)


def _fill(url: str, dialect: str, rows: int, waiting: int) -> float:
    with QueueService(url) as queue:
        queue.migrate()
    started = time.perf_counter()
    conn = dbs.connect(url)
    try:
        for sql in _fill_sql(dialect, rows, waiting):
            if dialect == "mysql":
                cursor = conn.cursor()
                cursor.execute(sql)
                cursor.fetchall()
            else:
                conn.execute(sql)
    finally:
        conn.close()
    return time.perf_counter() - started


def _ms(call: Callable[[], Any]) -> tuple[float, float]:
    """Median and best of REPEAT timed calls, in ms (the best: the cost without the noise of
    other work on the machine)."""
    call()  # warm: the first call also opens the connection
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def _cursor_at(queue: QueueService, depth: int) -> str:
    """The cursor after the task at ``depth`` of the newest-first list (read once, by offset)."""
    [job] = queue.get_failed_tasks(1, depth)
    return encode_cursor(job)


def _follow(queue: QueueService, pages: int, **fields: Any) -> None:
    cursor = None
    for _ in range(pages):
        page = queue.list_failed_tasks(limit=50, cursor=cursor, **fields)
        cursor = page.next_cursor


def _cases(queue: QueueService, rows: int) -> list[tuple[str, Callable[[], Any]]]:
    inbox = queue.get_failed_tasks_stats()
    fingerprint = inbox.by_fingerprint[len(inbox.by_fingerprint) // 2].fingerprint
    middle, deep = _cursor_at(queue, rows // 2), _cursor_at(queue, rows - rows // 100)
    filters: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        ("executor", {"executor": "exec_7"}),
        ("code", {"code": "Code12"}),
        ("fingerprint", {"fingerprint": fingerprint}),
        ("group", {"group": "group_3"}),
        ("message", {"message": "rate for C42"}),
        ("executor+code", {"executor": "exec_7", "code": "Code7"}),
    ]
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("stats (kept counts)", queue.get_failed_tasks_stats),
        (
            "inbox of one executor (kept counts)",
            lambda: queue.get_failed_tasks_stats(executor="exec_7"),
        ),
        ("stats of the last hour (rows)", lambda: queue.get_failed_tasks_stats(since="1h")),
        ("stats of the last day (rows)", lambda: queue.get_failed_tasks_stats(since="1d")),
        ("stats by message (rows)", lambda: queue.get_failed_tasks_stats(message="rate for C42")),
    ]
    for name, fields in filters:
        label = f"page by {name}" if name else "page"
        cases += [
            (f"{label}: top", lambda f=fields: queue.list_failed_tasks(limit=50, **f)),
            (
                f"{label}: at 50%",
                lambda f=fields: queue.list_failed_tasks(limit=50, cursor=middle, **f),
            ),
            (
                f"{label}: at 99%",
                lambda f=fields: queue.list_failed_tasks(limit=50, cursor=deep, **f),
            ),
        ]
    cases += [
        ("20 pages by cursor, per page", lambda: _follow(queue, 20)),
        ("count: all", queue.count_failed_tasks),
        ("count: executor+code", lambda: queue.count_failed_tasks(executor="exec_7", code="Code7")),
        ("count: fingerprint", lambda: queue.count_failed_tasks(fingerprint=fingerprint)),
        ("count: group", lambda: queue.count_failed_tasks(group="group_3")),
        ("count: since 1d", lambda: queue.count_failed_tasks(since="1d")),
        ("count: message", lambda: queue.count_failed_tasks(message="rate for C42")),
        (
            f"old get_failed_tasks(100, {rows - 100:,})",
            lambda: queue.get_failed_tasks(100, rows - 100),
        ),
    ]
    return cases


def run(
    dialect: str, rows: int, waiting: int, keep: bool, url: str | None = None
) -> dict[str, tuple[float, float]]:
    """Fill a new database (or time the one at ``url``, filled by an earlier --keep run)."""
    directory = tempfile.mkdtemp(prefix="ledger_scale_")
    given = url is not None
    keep = keep or given
    url = url or _new_url(dialect, directory)
    try:
        filled = 0.0 if given else _fill(url, dialect, rows, waiting)
        print(f"{dialect}: filled {rows:,} failed tasks in {filled:.1f} s", file=sys.stderr)
        results = {"fill, s": (filled, filled)}
        with QueueService(url, statement_timeout=None) as queue:
            for name, call in _cases(queue, rows):
                per = 20 if name.startswith("20 pages") else 1
                median, best = _ms(call)
                results[name] = (median / per, best / per)
                print(f"  {name}: {median / per:.1f} ms ({best / per:.1f})", file=sys.stderr)
        return results
    finally:
        if keep:
            print(f"kept: {url}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
            if dialect != "sqlite":
                dbs.drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres", "mysql"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=100_000, help="waiting tasks beside them")
    parser.add_argument("--keep", action="store_true", help="keep the databases (URLs printed)")
    parser.add_argument(
        "--url", nargs="+", default=[], help="time these databases of a --keep run (no fill)"
    )
    args = parser.parse_args()
    if args.url:
        given = {parse_url(url).dialect: url for url in args.url}
        results = {b: run(b, args.rows, 0, True, url) for b, url in given.items()}
    else:
        results = {b: run(b, args.rows, args.waiting, args.keep) for b in args.backends}
    print(
        f"| {args.rows:,} failed tasks: ms, median (best) of {REPEAT} | "
        + " | ".join(results)
        + " |"
    )
    print("|---|" + "---:|" * len(results))
    for name in next(iter(results.values())):
        cells = [f"{results[b][name][0]:.1f} ({results[b][name][1]:.1f})" for b in results]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
