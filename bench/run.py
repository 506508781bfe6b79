"""`make bench`: every library measured the same way, side by side, on the same databases.

Each library runs through its adapter (bench/adapters/, contract in bench/ADAPTERS.md) in its own
virtualenv (bench/.venvs/, built from the `# requires:` line of the adapter). Every run starts
from a fresh database and must verify that each task ran exactly once. The table (median and
min-max over the repetitions, the ratio of stratix-queue to each peer, and the CPU the workers
and the database server used) goes to stdout and to bench/RESULTS.md, the raw runs to
bench/results.json.

    python bench/run.py            # full: N=10,000, 3 repetitions, W5 (about 17 minutes)
    python bench/run.py --quick    # N=2,000, 1 repetition, no W5 (under 2 minutes)
    python bench/run.py --quick --backends postgres --workloads W3:2 --out /tmp/r.md

A run with filters (--backends, --workloads, --only) writes its table only where --out says
(and the raw runs beside it, as .json); only a run without filters writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
PG_ADMIN = "postgresql://root@127.0.0.1:5432/test"
MYSQL_ADMIN = ("127.0.0.1", 3306, "root")
REDIS_URL = "redis://127.0.0.1:6379/5"
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class Library:
    name: str
    adapter: str
    backends: tuple[str, ...]
    own_venv: bool = True
    runs: tuple[tuple[str, int], ...] | None = None  # (workload, variant) it runs; None: all


OURS, RAW, LOOP = "stratix-queue", "raw SQL", "stratix-queue (no worker)"
NOT_PEERS = (OURS, RAW, LOOP)  # the columns no ratio is computed against


LIBRARIES = (
    Library(OURS, "stratix_adapter.py", ("sqlite", "postgres", "mysql"), own_venv=False),
    Library(
        RAW,
        "raw_sql.py",
        ("sqlite", "postgres", "mysql"),
        own_venv=False,
        runs=(("W1", 1), ("W2", 1), ("W3", 1)),
    ),
    Library(LOOP, "stratix_loop.py", ("sqlite", "postgres", "mysql"), False, (("W3", 1),)),
    Library("pgqueuer", "pgqueuer_adapter.py", ("postgres",)),
    Library("procrastinate", "procrastinate_adapter.py", ("postgres",)),
    Library("huey", "huey_adapter.py", ("sqlite",)),
    Library("celery", "celery_adapter.py", ("redis",)),
    Library("rq", "rq_adapter.py", ("redis",)),
)
BACKENDS = ("postgres", "sqlite", "mysql", "redis")
# (workload, variant): the variant is the number of worker processes, or W5's backlog
WORKLOADS = (("W1", 1), ("W2", 1), ("W3", 1), ("W3", 2), ("W4", 1))
W5_BACKLOGS = {"sqlite": (100_000,), "postgres": (100_000, 1_000_000), "mysql": (100_000,)}


def requirements(adapter: Path) -> list[str]:
    for line in adapter.read_text().splitlines()[:15]:
        if line.startswith("# requires:"):
            return line.split(":", 1)[1].split()
    return []


def python_for(library: Library) -> Path:
    """The library's own virtualenv, built (once per requirement set) from PyPI."""
    if not library.own_venv:
        return PROJECT_PYTHON
    adapter = HERE / "adapters" / library.adapter
    wanted = requirements(adapter)
    venv = VENVS / library.name
    stamp = venv / ".requirements"
    if not stamp.exists() or stamp.read_text() != " ".join(wanted):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *wanted], check=True)
        stamp.write_text(" ".join(wanted))
    return venv / "bin" / "python"


def compile_project() -> None:
    """Byte-compile the project as pip compiles a peer's package when it installs it. The
    project is installed in editable mode, and with PYTHONDONTWRITEBYTECODE set (as on this
    machine) every worker process would otherwise compile its modules from source at start-up
    (~50 ms of a drain), a cost no peer pays."""
    for folder in (ROOT / "src", HERE / "adapters"):
        compileall.compile_dir(folder, quiet=1)


class Databases:
    """A fresh database per run on each server; dropped afterwards."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-db-"))

    def create(self, backend: str) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        if backend == "redis":
            return REDIS_URL
        self._admin(backend, f"CREATE DATABASE {name}")
        if backend == "postgres":
            return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        return f"mysql://root@{MYSQL_ADMIN[0]}:{MYSQL_ADMIN[1]}/{name}"

    def drop(self, backend: str, url: str) -> None:
        if backend == "sqlite":  # the file and its WAL (W5's backlog makes it 100 MB)
            for suffix in ("", "-wal", "-shm"):
                Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
        if backend in ("postgres", "mysql"):
            name = url.rsplit("/", 1)[1]
            suffix = " WITH (FORCE)" if backend == "postgres" else ""
            self._admin(backend, f"DROP DATABASE IF EXISTS {name}{suffix}")

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _admin(backend: str, sql: str) -> None:
        if backend == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql)  # a CREATE/DROP DATABASE of a generated name
            return
        import pymysql

        host, port, user = MYSQL_ADMIN
        mysql = pymysql.connect(host=host, port=port, user=user, autocommit=True)
        try:
            mysql.cursor().execute(sql)
        finally:
            mysql.close()


def busy_cpu_seconds() -> float:
    """Seconds of CPU the whole machine spent busy (all processes, all cores)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def run_once(
    library: Library, backend: str, workload: str, n: int, variant: int, dbs: Databases
) -> dict[str, Any]:
    url = dbs.create(backend)
    args = [str(python_for(library)), str(HERE / "adapters" / library.adapter), workload]
    args += ["--n", str(n), "--url", url]
    if workload == "W5":
        args += ["--backlog", str(variant)]
    else:
        args += ["--processes", str(variant)]
    cpu = busy_cpu_seconds()
    try:
        done = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
        lines = done.stdout.strip().splitlines()
        result = (
            json.loads(lines[-1])
            if done.returncode == 0 and lines
            else {"verified": False, "error": (done.stderr or done.stdout).strip()[-300:]}
        )
    except subprocess.TimeoutExpired:
        result = {"verified": False, "error": f"timed out after {RUN_TIMEOUT} s"}
    finally:
        dbs.drop(backend, url)
    result["machine_cpu_s"] = round(busy_cpu_seconds() - cpu, 2)
    return result


def summarise(results: list[dict[str, Any]], workload: str) -> tuple[float, float, float] | None:
    """(median, min, max) of tasks/s, or of p99 latency for W4, over verified runs only."""
    if workload == "W4":
        values = [
            r["latency_ms"]["p99"] for r in results if r.get("verified") and r.get("latency_ms")
        ]
    else:
        values = [r["tasks_per_s"] for r in results if r.get("verified") and r.get("tasks_per_s")]
    if not values or len(values) < len(results):
        return None
    return statistics.median(values), min(values), max(values)


def cell(summary: tuple[float, float, float] | None, results: list[dict[str, Any]]) -> str:
    if summary is None:
        notes = {r.get("note") or r.get("error") or "not verified" for r in results}
        return "n/a (" + "; ".join(sorted(str(n)[:60] for n in notes)) + ")"
    median, low, high = summary
    return (
        f"{median:,.0f} ({low:,.0f}-{high:,.0f})"
        if median >= 100
        else (f"{median:.1f} ({low:.1f}-{high:.1f})")
    )


def ratio(
    ours: tuple[float, float, float] | None,
    theirs: tuple[float, float, float] | None,
    workload: str,
) -> str:
    if not ours or not theirs or not theirs[0] or not ours[0]:
        return "-"
    if workload == "W4":  # latency: how many times lower ours is
        return f"{theirs[0] / ours[0]:.2f}x lower"
    return f"{ours[0] / theirs[0]:.2f}x"


def label(workload: str, variant: int, n: int) -> str:
    names = {
        "W1": "W1 enqueue, 1 per txn (tasks/s)",
        "W2": "W2 enqueue, batches of 500 (tasks/s)",
        "W3": f"W3 drain of {n:,}, {variant} process(es) (tasks/s)",
        "W4": "W4 latency p99 (ms)",
        "W5": f"W5 drain of {n:,} with {variant:,} queued, 1 process (tasks/s)",
    }
    return names[workload]


Key = tuple[str, str, str, int]  # library, backend, workload, variant
Found = dict[Key, list[dict[str, Any]]]


def wanted(args: argparse.Namespace) -> list[tuple[Library, str, str, int]]:
    """The runs to make: every library on each of its backends, less what the filters leave
    out (--only, --backends, --workloads W3 or W3:2, W5 or W5:1000000)."""
    picks = [w.split(":") for w in args.workloads or ()]

    def picked(workload: str, variant: int) -> bool:
        return not picks or any(
            p[0] == workload and (len(p) == 1 or int(p[1]) == variant) for p in picks
        )

    runs = []
    for library in LIBRARIES:
        if args.only and library.name not in args.only:
            continue
        if not (HERE / "adapters" / library.adapter).exists():
            continue
        for backend in library.backends:
            if args.backends and backend not in args.backends:
                continue
            for workload, variant in WORKLOADS:
                if library.runs is not None and (workload, variant) not in library.runs:
                    continue
                if picked(workload, variant):
                    runs.append((library, backend, workload, variant))
            if library.name != OURS or backend not in W5_BACKLOGS:
                continue
            explicit = tuple(int(p[1]) for p in picks if p[0] == "W5" and len(p) > 1)
            if explicit:
                backlogs = explicit
            elif args.backlog is not None:
                backlogs = (args.backlog,) if args.backlog else ()
            elif args.quick and not any(p[0] == "W5" for p in picks):
                backlogs = ()  # --quick: no W5 unless asked for
            else:
                backlogs = W5_BACKLOGS[backend]
            runs += [(library, backend, "W5", b) for b in backlogs if picked("W5", b)]
    return runs


def measure(args: argparse.Namespace) -> Found:
    """Every wanted run, repetition by repetition: each round runs every library once (in turn
    forwards and backwards), so a change in the machine's speed during the run (this one's varies
    by 20% within minutes) falls on all of them alike, not on whichever ran at that time."""
    compile_project()  # once, before any run of the project's adapters
    dbs = Databases()
    plan = wanted(args)
    found: Found = {(lib.name, backend, w, v): [] for lib, backend, w, v in plan}
    spent = dict.fromkeys(found, 0.0)
    try:
        for rep in range(args.reps):
            for library, backend, workload, variant in plan[:: -1 if rep % 2 else 1]:
                key = (library.name, backend, workload, variant)
                n = 200 if workload == "W4" else args.n
                started = time.monotonic()
                found[key].append(run_once(library, backend, workload, n, variant, dbs))
                spent[key] += time.monotonic() - started
                runs = found[key]
                done = f"{cell(summarise(runs, workload), runs)}  [{spent[key]:.0f} s]"
                print(
                    f"{library.name:14s} {backend:8s} {workload}:{variant:<8d} "
                    + (done if rep == args.reps - 1 else f"round {rep + 1}/{args.reps}"),
                    flush=True,
                )
    finally:
        dbs.close()
    return found


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get("verified") and r.get(key) is not None]
    return statistics.median(values) if values else None


def results_table(found: Found, backend: str, n: int) -> list[str]:
    libs = [
        lib.name
        for lib in LIBRARIES
        if backend in lib.backends and any(k[0] == lib.name and k[1] == backend for k in found)
    ]
    if not libs:
        return []
    peers = [name for name in libs if name not in NOT_PEERS]
    header = ["workload", *libs, *[f"stratix / {p}" for p in peers]]
    lines = [f"## {backend}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = {"W1": 0, "W2": 1, "W3": 2, "W5": 3, "W4": 4}
    keys = sorted({(k[2], k[3]) for k in found if k[1] == backend}, key=lambda k: (order[k[0]], k))
    w3 = summarise(found.get((OURS, backend, "W3", 1), []), "W3")
    for workload, variant in keys:
        runs = {lib: found.get((lib, backend, workload, variant), []) for lib in libs}
        summaries = {lib: summarise(runs[lib], workload) for lib in libs}
        row = [label(workload, variant, n)]
        w5 = summaries[OURS] if workload == "W5" else None
        if w5 and w3:
            row[0] += f"; {w5[0] / w3[0]:.2f}x W3's 1 process"
        row += [cell(summaries[lib], runs[lib]) if runs[lib] else "-" for lib in libs]
        row += [ratio(summaries.get(OURS), summaries[p], workload) for p in peers]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def cpu_table(found: Found) -> list[str]:
    """W3's CPU seconds (median): the worker processes', and the database server's."""

    def seconds(value: float | None, backend: str) -> str:
        if backend == "sqlite" and value is None:
            return "in the workers"
        return "-" if value is None else f"{value:.2f}"

    lines = [
        "## CPU during the W3 drain (CPU seconds, median)",
        "",
        "Workers: the worker processes (children reaped by the adapter; for the raw SQL and "
        "the no-worker loop, the adapter process itself); database: the whole "
        "server process tree (PostgreSQL postmaster and backends, mariadbd, redis-server), "
        "from /proc, over the timed part. SQLite runs inside the workers.",
        "",
        "| backend | library | 1 process: workers | 1 process: database "
        "| 2 processes: workers | 2 processes: database |",
        "|---|---|---|---|---|---|",
    ]
    for backend in BACKENDS:
        for lib in LIBRARIES:
            cells = []
            for processes in (1, 2):
                runs = found.get((lib.name, backend, "W3", processes))
                cells += (
                    [
                        seconds(median_of(runs, "worker_cpu_s"), backend),
                        seconds(median_of(runs, "db_cpu_s"), backend),
                    ]
                    if runs
                    else ["-", "-"]
                )
            if cells != ["-"] * 4:
                lines.append(f"| {backend} | {lib.name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def median_rate(
    found: Found, library: str, backend: str, workload: str, variant: int
) -> float | None:
    """The median of a row's cells: tasks/s, or W4's p99 in ms; None if a run failed or none."""
    summary = summarise(found.get((library, backend, workload, variant), []), workload)
    return summary[0] if summary else None


def after_start_up(runs: list[dict[str, Any]]) -> float | None:
    """tasks/s from the first task run to the last (the drain without the start-up), median."""
    rates = [
        r["n"] / (r["seconds"] - r["first_task_s"])
        for r in runs
        if r.get("verified")
        and r.get("first_task_s") is not None
        and r["seconds"] > r["first_task_s"]
    ]
    return statistics.median(rates) if rates else None


def where_table(found: Found) -> list[str]:
    """W3 with one process, from the bare SQL to the worker: raw SQL on a table of four columns,
    stratix-queue's own claim and batched success from Python with no worker, the worker."""
    lines = [
        "## Where the W3 drain goes (1 process, tasks/s, median)",
        "",
        "raw SQL: the lifecycle on a table of four columns; no worker: stratix-queue's own claim "
        "and batched success called in a loop from one thread (its tables, its statements, the "
        "Jobs built from the rows; nothing run, nothing logged); worker: `stratix-queue worker`, "
        "from the process start (start-up: to the first task run; after: from the first task "
        "to the last).",
        "",
        "| backend | raw SQL | no worker | worker | worker start-up (s) | worker after start-up "
        "| no worker / raw | worker / raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgres", "mysql"):
        row = where_row(found, backend)
        if row:
            lines.append(row)
    return [*lines, ""]


def where_row(found: Found, backend: str) -> str | None:
    raw = median_rate(found, RAW, backend, "W3", 1)
    loop = median_rate(found, LOOP, backend, "W3", 1)
    ours = median_rate(found, OURS, backend, "W3", 1)
    if ours is None:
        return None
    runs = found.get((OURS, backend, "W3", 1), [])
    start_up = median_of(runs, "first_task_s")

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    def share(value: float | None) -> str:
        return "-" if value is None or not raw else f"{value / raw:.0%}"

    return (
        f"| {backend} | {rate(raw)} | {rate(loop)} | {rate(ours)} | "
        f"{'-' if start_up is None else f'{start_up:.3f}'} | {rate(after_start_up(runs))} | "
        f"{share(loop)} | {share(ours)} |"
    )


Target = tuple[str, str, bool | None, str]  # what, measured, met (None: not measured), why not


Cell = tuple[str, str, str, int]  # library, backend, workload, variant
RatioTarget = tuple[str, Cell, Cell, float]  # what, our cell, the other cell, times


def versus(what: str, backend: str, workload: str, other: str, times: float) -> RatioTarget:
    """Ours at least `times` the `other` library on the same backend and workload."""
    return (what, (OURS, backend, workload, 1), (other, backend, workload, 1), times)


def drains(what: str, backend: str, other: Cell, times: float) -> list[RatioTarget]:
    """The W3 drain with 1 and with 2 processes against `other`'s (its process count follows)."""
    return [
        (f"{what}, {p} process(es)", (OURS, backend, "W3", p), (*other[:3], p), times)
        for p in (1, 2)
    ]


# The throughput targets: ours (a cell) at least `times` the other cell.
RATIO_TARGETS: tuple[RatioTarget, ...] = (
    *drains("PostgreSQL W3 drain >= 2x pgqueuer", "postgres", ("pgqueuer", "postgres", "W3", 1), 2),
    versus("PostgreSQL W2 batch enqueue >= pgqueuer", "postgres", "W2", "pgqueuer", 1),
    versus("PostgreSQL W1 single enqueue >= pgqueuer", "postgres", "W1", "pgqueuer", 1),
    *drains("SQLite W3 drain >= 5x Huey", "sqlite", ("huey", "sqlite", "W3", 1), 5),
    versus("SQLite W1 single enqueue >= 3x Huey", "sqlite", "W1", "huey", 3),
    *drains(
        "MariaDB W3 drain >= half of our PostgreSQL's (no peer runs on it)",
        "mysql",
        (OURS, "postgres", "W3", 1),
        0.5,
    ),
    *(
        (
            f"W5 on {backend}: {backlog:,} queued within 20% of W3's 1 process",
            (OURS, backend, "W5", backlog),
            (OURS, backend, "W3", 1),
            0.8,
        )
        for backend, backlog in (
            ("postgres", 1_000_000),
            ("postgres", 100_000),
            ("sqlite", 100_000),
            ("mysql", 100_000),
        )
    ),
)
# W4: our p99 at most that of the other cell, or under a bound in ms.
LATENCY_TARGETS: tuple[tuple[str, str, Cell | float], ...] = (
    ("PostgreSQL W4 p99 <= pgqueuer's", "postgres", ("pgqueuer", "postgres", "W4", 1)),
    ("SQLite W4 p99 < 20 ms", "sqlite", 20.0),
)


def targets(found: Found, took: float, quick: bool, n: int) -> list[Target]:
    """The issue's targets, judged from this run's medians."""
    rows: list[Target] = []
    for what, ours_cell, other_cell, times in RATIO_TARGETS:
        ours, other = median_rate(found, *ours_cell), median_rate(found, *other_cell)
        if ours is None or other is None:
            rows.append((what, "not measured", None, ""))
        else:
            shown = f"{ours:,.0f} vs {other:,.0f}: {ours / other:.2f}x"
            rows.append((what, shown, ours >= times * other, ""))
    for what, backend, bound in LATENCY_TARGETS:
        p99 = median_rate(found, OURS, backend, "W4", 1)
        limit = bound if isinstance(bound, float) else median_rate(found, *bound)
        if p99 is None or limit is None:
            rows.append((what, "not measured", None, ""))
        else:
            shown = f"{p99:.1f} ms" if isinstance(bound, float) else f"{p99:.1f} vs {limit:.1f} ms"
            rows.append(
                (what, shown, p99 < limit if isinstance(bound, float) else p99 <= limit, "")
            )
    for backend, name in (("postgres", "PostgreSQL"), ("sqlite", "SQLite"), ("mysql", "MariaDB")):
        rows.append(raw_share(found, backend, name, n))
    limit_s = 180 if quick else 1800
    rows.append(
        (f"the run under {limit_s // 60} minutes", f"{took / 60:.1f} min", took <= limit_s, "")
    )
    return rows


def raw_share(found: Found, backend: str, name: str, n: int) -> Target:
    what = f"{name} W3 drain (1 process) >= 25% of the raw SQL"
    ours, raw = (
        median_rate(found, OURS, backend, "W3", 1),
        median_rate(found, RAW, backend, "W3", 1),
    )
    if ours is None or raw is None:
        return (what, "not measured", None, "")
    met = ours >= 0.25 * raw
    why = ""
    loop = median_rate(found, LOOP, backend, "W3", 1)
    start_up = median_of(found.get((OURS, backend, "W3", 1), []), "first_task_s")
    if not met and loop is not None and start_up is not None:
        best = n / (start_up + n / loop)  # a worker that added nothing to the no-worker loop
        why = (
            f"stratix-queue's own claim and batched success alone (no worker: nothing run, "
            f"nothing logged) reach {loop / raw:.0%} of the raw SQL ({loop:,.0f}/s); a worker "
            f"that added nothing to them would still need its start-up ({start_up:.2f} s) plus "
            f"their {n / loop:.2f} s: {best / raw:.0%} of the raw SQL, where 25% allows "
            f"{4 * n / raw:.2f} s for all {n:,} tasks, start-up included (bench/README.md)"
        )
    return (what, f"{ours:,.0f} vs {raw:,.0f}/s: {ours / raw:.1%}", met, why)


def targets_table(found: Found, took: float, quick: bool, n: int) -> list[str]:
    lines = [
        "## The issue's targets, judged from this run",
        "",
        "| target | measured (median) | met | why not |",
        "|---|---|---|---|",
    ]
    for what, measured, met, why in targets(found, took, quick, n):
        verdict = "-" if met is None else ("yes" if met else "**no**")
        why = why or ("" if met is not False else "bench/README.md, Status")
        lines.append(f"| {what} | {measured} | {verdict} | {why} |")
    return [*lines, ""]


def report(found: Found, args: argparse.Namespace, took: float) -> str:
    lines = [
        f"# Benchmark results ({'quick' if args.quick else 'full'} run)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, N={args.n}, "
        f"{args.reps} repetition(s); median (min-max) over verified runs (every task ran "
        "exactly once; a cell with a failed run says n/a). A drain is timed from the start of "
        "the first worker process to the last task run.",
        "",
    ]
    versions = sorted(
        {
            f"{r['library']} {r.get('version', '?')}"
            for runs in found.values()
            for r in runs
            if r.get("library")
        }
    )
    lines += ["Versions: " + ", ".join(versions), ""]
    for backend in BACKENDS:
        lines += results_table(found, backend, args.n)
    if any(k[2] == "W3" for k in found):
        lines += where_table(found)
        lines += cpu_table(found)
    lines += targets_table(found, took, args.quick, args.n)
    lines += [
        "The raw runs (also the whole machine's busy CPU per run, and the workers' and the "
        "database's CPU for every workload) are in results.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=2,000, 1 repetition, no W5")
    parser.add_argument("--n", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument(
        "--backlog", type=int, help="W5 with this backlog on every backend (0: no W5)"
    )
    parser.add_argument("--only", nargs="+", help="only these libraries")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, help="only these backends")
    parser.add_argument(
        "--workloads", nargs="+", help="only these: W1..W5, or one variant: W3:2, W5:1000000"
    )
    parser.add_argument("--out", type=Path, help="write the table here (and the runs as .json)")
    args = parser.parse_args()
    for pick in args.workloads or ():
        if not re.fullmatch(r"W[1-5](:[0-9]+)?", pick):
            parser.error(f"--workloads takes W1..W5 or W3:2, W5:1000000, not {pick!r}")
    args.n = args.n or (2000 if args.quick else 10_000)
    args.reps = args.reps or (1 if args.quick else 3)
    filtered = bool(args.only or args.backends or args.workloads)
    out = args.out or (None if filtered else HERE / "RESULTS.md")
    started = time.monotonic()
    found = measure(args)
    took = time.monotonic() - started
    text = report(found, args, took) + f"\n(run took {took:.0f} s)\n"
    print("\n" + text)
    if out is None:
        print("(a filtered run: nothing written; --out FILE writes the table)")
        return
    out.write_text(text)
    raw = {" ".join(map(str, key)): runs for key, runs in found.items()}
    json_path = HERE / "results.json" if out == HERE / "RESULTS.md" else out.with_suffix(".json")
    json_path.write_text(json.dumps(raw, indent=1))
    print(f"wrote {out} and {json_path}")


if __name__ == "__main__":
    main()
