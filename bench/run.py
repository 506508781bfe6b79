"""`make bench`: every library measured the same way, side by side, on the same databases.

Each library runs through its adapter (bench/adapters/, contract in bench/ADAPTERS.md) in its own
virtualenv (bench/.venvs/, built from the `# requires:` line of the adapter). Every run starts
from a fresh database and must verify that each task ran exactly once. The table (median and
min-max over the repetitions, and the ratio of stratix-queue to each peer) goes to stdout and to
bench/RESULTS.md.

    python bench/run.py            # full: N=10,000, 3 repetitions, W5 with 100,000
    python bench/run.py --quick    # N=2,000, 1 repetition, no W5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


LIBRARIES = (
    Library("stratix-queue", "stratix_adapter.py", ("sqlite", "postgres", "mysql"), own_venv=False),
    Library("raw SQL", "raw_sql.py", ("sqlite", "postgres", "mysql"), own_venv=False),
    Library("pgqueuer", "pgqueuer_adapter.py", ("postgres",)),
    Library("procrastinate", "procrastinate_adapter.py", ("postgres",)),
    Library("huey", "huey_adapter.py", ("sqlite",)),
    Library("celery", "celery_adapter.py", ("redis",)),
    Library("rq", "rq_adapter.py", ("redis",)),
)
WORKLOADS = (("W1", 1), ("W2", 1), ("W3", 1), ("W3", 2), ("W4", 1))


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
        if backend in ("postgres", "mysql"):
            name = url.rsplit("/", 1)[1]
            suffix = " WITH (FORCE)" if backend == "postgres" else ""
            self._admin(backend, f"DROP DATABASE IF EXISTS {name}{suffix}")

    @staticmethod
    def _admin(backend: str, sql: str) -> None:
        if backend == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql)  # a CREATE/DROP DATABASE of a generated name
            return
        import pymysql

        host, port, user = MYSQL_ADMIN
        conn = pymysql.connect(host=host, port=port, user=user, autocommit=True)
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()


def busy_cpu_seconds() -> float:
    """Seconds of CPU the whole machine spent busy (all processes, all cores)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def run_once(
    library: Library, backend: str, workload: str, n: int, processes: int, dbs: Databases
) -> dict[str, Any]:
    url = dbs.create(backend)
    args = [
        str(python_for(library)),
        str(HERE / "adapters" / library.adapter),
        workload,
        "--n",
        str(n),
        "--processes",
        str(processes),
        "--url",
        url,
    ]
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


def label(workload: str, processes: int) -> str:
    names = {
        "W1": "W1 enqueue, 1 per txn (tasks/s)",
        "W2": "W2 enqueue, batches of 500 (tasks/s)",
        "W3": f"W3 drain, {processes} process(es) (tasks/s)",
        "W4": "W4 latency p99 (ms)",
        "W5": f"W5 drain with a backlog of {processes:,} (tasks/s)",
    }
    return names[workload]


def measure(args: argparse.Namespace) -> dict[tuple[str, str, str, int], list[dict[str, Any]]]:
    dbs = Databases()
    found: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for library in LIBRARIES:
        if args.only and library.name not in args.only:
            continue
        if not (HERE / "adapters" / library.adapter).exists():
            continue
        for backend in library.backends:
            for workload, processes in WORKLOADS:
                if library.name == "raw SQL" and workload == "W4":
                    continue
                if library.name == "raw SQL" and (workload, processes) == ("W3", 2):
                    continue
                n = 200 if workload == "W4" else args.n
                runs = [
                    run_once(library, backend, workload, n, processes, dbs)
                    for _ in range(args.reps)
                ]
                found[(library.name, backend, workload, processes)] = runs
                print(
                    f"{library.name:14s} {backend:8s} {workload} p={processes}: "
                    f"{cell(summarise(runs, workload), runs)}",
                    flush=True,
                )
    if args.backlog:
        for backend in ("sqlite", "postgres", "mysql"):
            runs = [run_once(LIBRARIES[0], backend, "W5", args.backlog, 1, dbs)]
            found[("stratix-queue", backend, "W5", args.backlog)] = runs
            print(
                f"stratix-queue  {backend:8s} W5 backlog={args.backlog}: "
                f"{cell(summarise(runs, 'W5'), runs)}",
                flush=True,
            )
    return found


def report(
    found: dict[tuple[str, str, str, int], list[dict[str, Any]]], args: argparse.Namespace
) -> str:
    lines = [
        f"# Benchmark results ({'quick' if args.quick else 'full'} run)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, N={args.n}, "
        f"{args.reps} repetition(s); median (min-max); every run verified exactly-once.",
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
    for backend in ("postgres", "sqlite", "mysql", "redis"):
        libs = [
            lib.name
            for lib in LIBRARIES
            if backend in lib.backends and any(k[0] == lib.name and k[1] == backend for k in found)
        ]
        if not libs:
            continue
        peers = [name for name in libs if name not in ("stratix-queue", "raw SQL")]
        header = ["workload", *libs, *[f"stratix / {p}" for p in peers]]
        lines += [f"## {backend}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        keys = sorted({(k[2], k[3]) for k in found if k[1] == backend})
        for workload, processes in keys:
            summaries = {
                lib: summarise(found.get((lib, backend, workload, processes), []), workload)
                for lib in libs
            }
            row = [label(workload, processes)]
            row += [
                cell(summaries[lib], found.get((lib, backend, workload, processes), []))
                if (lib, backend, workload, processes) in found
                else "-"
                for lib in libs
            ]
            row += [ratio(summaries.get("stratix-queue"), summaries[p], workload) for p in peers]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += [
        "CPU (seconds of the whole machine busy per run, median) and worker CPU are in the "
        "raw JSON: bench/results.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=2,000, 1 repetition, no W5")
    parser.add_argument("--n", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--backlog", type=int, help="W5 backlog size (0: skip)")
    parser.add_argument("--only", nargs="*", help="only these libraries")
    args = parser.parse_args()
    args.n = args.n or (2000 if args.quick else 10_000)
    args.reps = args.reps or (1 if args.quick else 3)
    args.backlog = args.backlog if args.backlog is not None else (0 if args.quick else 100_000)
    started = time.monotonic()
    found = measure(args)
    text = report(found, args)
    print("\n" + text)
    (HERE / "RESULTS.md").write_text(text + f"\n(run took {time.monotonic() - started:.0f} s)\n")
    raw = {" ".join(map(str, key)): runs for key, runs in found.items()}
    (HERE / "results.json").write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
