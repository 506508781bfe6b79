"""What every adapter shares (bench/ADAPTERS.md). Standard library only: each peer's adapter
imports it from its own virtualenv.

- the arguments and the one-line JSON result;
- the sink: a file per worker process, a line per task run, `index latency_ms|- unix_time`;
- the one timing rule: a timed part starts when the first worker process is started (or the
  first enqueue call is made) and ends when the last task ran (the latest time on a sink line),
  not when the worker processes have exited;
- worker processes: started in their own process group with a log file each, watched, stopped
  with the library's graceful signal, killed on a time-out or when the adapter is stopped;
- CPU: of the workers (reaped children), of the enqueuing process, and of the database server
  (read from /proc), over the timed part;
- the W3 drain and the W4 latency procedures, the same for every library.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SINK_ENV = "BENCH_SINK_DIR"  # where worker processes write their sink files
W4_TASKS = 200  # W4 is always 200 tasks, 20 ms apart, whatever --n says
W4_GAP = 0.020
BULK = 500  # W2's batch size
POLL = 0.02  # how often the adapter reads the sink while it waits


# --- arguments and result --------------------------------------------------------------------


def parser(
    per_task_timeout: float = 0.01, workloads: Sequence[str] = ("W1", "W2", "W3", "W4")
) -> argparse.ArgumentParser:
    """The arguments every adapter takes; `_worker` is the adapter's own worker sub-command.
    The default --timeout is 120 s plus `per_task_timeout` per task."""
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=[*workloads, "_worker"])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--url", required=True)
    p.add_argument(
        "--backlog",
        type=int,
        default=0,
        help="W5: tasks queued when the worker starts (n of them are drained)",
    )
    p.add_argument("--timeout", type=float, help="hard limit for the run (s)")
    p.add_argument("--mode", choices=["drain", "continuous"], help=argparse.SUPPRESS)
    p.set_defaults(per_task_timeout=per_task_timeout)
    return p


def parse_args(p: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    args = (p or parser()).parse_args()
    if args.workload == "W4":
        args.n = W4_TASKS
    if args.timeout is None:
        args.timeout = 120 + (args.n + args.backlog) * args.per_task_timeout
    return args


def result(library: str, version: str, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """The result line's fields, unmeasured."""
    out: dict[str, Any] = {"library": library, "version": version, "backend": backend}
    processes = args.processes if args.workload in ("W3", "W5") else 1
    out |= {"workload": args.workload, "n": args.n, "processes": processes}
    out |= dict.fromkeys(("seconds", "tasks_per_s", "latency_ms", "worker_cpu_s", "db_cpu_s"))
    out["verified"] = False
    return out


def emit(out: dict[str, Any]) -> None:
    """Print the result as the last stdout line (tasks/s computed for the throughput runs)."""
    if out["workload"] != "W4" and out.get("seconds") and out.get("tasks_per_s") is None:
        out["tasks_per_s"] = round(out["n"] / out["seconds"], 1)
    for key in ("seconds", "wall_s", "first_task_s", "worker_cpu_s", "client_cpu_s", "db_cpu_s"):
        if out.get(key) is not None:
            out[key] = round(out[key], 3)
    print(json.dumps(out), flush=True)


# --- the sink ----------------------------------------------------------------------------------


class Sink:
    """A worker process's record of the tasks it ran: one line per task, written when the task
    runs. Unbuffered (the default) writes each line at once with one O_APPEND write, safe
    across threads, for sinks the adapter reads while the worker runs; `buffered` ones
    (single-threaded workers that exit by themselves) are written out at close(). A forked
    child opens its own file."""

    def __init__(self, buffered: bool = False) -> None:
        self.buffered = buffered
        self.pid = 0
        self.fd = -1
        self.file: Any = None
        self.lock = threading.Lock()

    def write(self, index: int, sent: float | None = None) -> None:
        """Task `index` runs now; `sent`: its enqueue time.time(), for latency runs."""
        now = time.time()
        late = "-" if sent is None else f"{(now - sent) * 1000:.3f}"
        line = f"{index} {late} {now!r}\n"
        if self.pid != os.getpid():
            self._open()
        if self.buffered:
            self.file.write(line)
        else:
            os.write(self.fd, line.encode())

    def _open(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            path = Path(os.environ[SINK_ENV]) / f"sink-{os.getpid()}.txt"
            if self.buffered:
                self.file = path.open("a", encoding="ascii")
            else:
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.pid = os.getpid()

    def close(self) -> None:
        if self.file is not None and self.pid == os.getpid():
            self.file.close()


class SinkData:
    """What the sink files say so far (read incrementally): how often each task ran (indices
    below 0 are warm-ups, left out), the latencies and when the last task ran."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runs: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.warmed_up = False
        self._offsets: dict[str, int] = {}
        self._last: dict[str, float] = {}  # per file: the latest time a line carries
        self._first: dict[str, float] = {}  # and the earliest

    def read(self) -> SinkData:
        for path in self.folder.glob("sink-*.txt"):
            offset = self._offsets.get(path.name, 0)
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            self._offsets[path.name] = offset + end
            for line in data[:end].decode("ascii").splitlines():
                self._line(path.name, line.split())
        return self

    def _line(self, name: str, parts: list[str]) -> None:
        index = int(parts[0])
        if len(parts) > 2:
            at = float(parts[2])
            self._last[name] = max(self._last.get(name, 0.0), at)
            self._first[name] = min(self._first.get(name, at), at)
        if index < 0:
            self.warmed_up = True
            return
        self.runs[index] += 1
        if len(parts) > 1 and parts[1] != "-":
            self.latencies.append(float(parts[1]))

    @property
    def count(self) -> int:
        return sum(self.runs.values())

    def last_task_at(self) -> float:
        """When the last task ran: the latest time on a sink line."""
        times = list(self._last.values())
        if not times:
            raise RuntimeError("no task ran")
        return max(times)

    def first_task_at(self) -> float | None:
        """When the first task ran (warm-ups included): the earliest time on a sink line."""
        return min(self._first.values(), default=None)


def exactly_once(runs: Counter[int], n: int) -> bool:
    return set(runs) == set(range(n)) and all(count == 1 for count in runs.values())


def percentiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "p99": round(cuts[98], 3)}


# --- CPU -------------------------------------------------------------------------------------


def children_cpu() -> float:
    """User+system CPU of this process's children that have been reaped (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of /proc/<pid>/stat, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def _ticks(fields: list[str], reaped: bool = False) -> int:
    """utime+stime (fields 14, 15 of /proc/<pid>/stat), plus cutime+cstime (16, 17) of the
    children it has reaped."""
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped else 0)


def _postmasters() -> list[int]:
    pids = []
    for path in Path("/var/run/postgresql").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pids.append(int(path.read_text().split()[0]))
    return pids


def server_cpu(backend: str) -> float | None:
    """CPU seconds the database server has used so far, or None where there is no server
    process to read (SQLite runs inside the workers; a server this user cannot see).
    PostgreSQL: the postmaster, the backends it has reaped (cutime/cstime) and its live
    children (backends, WAL writer, checkpointer...); MariaDB: mariadbd; Redis: redis-server.
    The whole server: another client's work at the same time counts too."""
    names = {"mysql": ("mariadbd", "mysqld"), "redis": ("redis-server",)}.get(backend)
    if backend == "postgres":
        roots = set(_postmasters())
    elif names:
        roots = set()
    else:
        return None
    ticks = 0
    found = False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat(entry.name)
        if stat is None:
            continue
        comm, fields = stat
        pid, ppid = int(entry.name), int(fields[1])
        if pid in roots or (names and comm in names):
            ticks += _ticks(fields, reaped=pid in roots)
            found = True
        elif ppid in roots:
            ticks += _ticks(fields)
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


class Meter:
    """The timed part of a run, from its creation: wall time (time.time(), the clock of the
    sink lines), this process's CPU, its reaped children's CPU and the database server's."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.db = server_cpu(backend)
        self.own = time.process_time()
        self.children = children_cpu()
        self.started = time.time()

    def read(self, ended: float | None = None) -> dict[str, float | None]:
        """seconds to `ended` (default: now), CPU seconds used since the start."""
        ended = time.time() if ended is None else ended
        db = server_cpu(self.backend)
        return {
            "seconds": ended - self.started,
            "client_cpu_s": time.process_time() - self.own,
            "worker_cpu_s": children_cpu() - self.children,
            "db_cpu_s": None if db is None or self.db is None else db - self.db,
        }

    def enqueue(self) -> dict[str, float | None]:
        """W1/W2 (timed in-process, no worker): the enqueuing process's CPU as worker_cpu_s."""
        read = self.read()
        read["worker_cpu_s"] = read.pop("client_cpu_s")
        return read


# --- worker processes --------------------------------------------------------------------------


def worker_command(adapter: str, url: str, *options: str) -> list[str]:
    """The adapter's own worker sub-command, run by this Python."""
    return [sys.executable, os.path.abspath(adapter), "_worker", "--url", url, *options]


def die_with_parent(**_kwargs: Any) -> None:
    """Let the kernel kill this (worker) process if the adapter dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Workers:
    """The worker processes of one run, the sink folder they write to (SINK_ENV in their
    environment) and the run's Meter, which starts with the first worker process. Past `timeout`
    seconds, or on SIGTERM/SIGINT, the workers are killed and the adapter exits non-zero."""

    def __init__(self, library: str, backend: str, timeout: float) -> None:
        self.library = library
        self.backend = backend
        self.folder = Path(tempfile.mkdtemp(prefix=f"bench-{library}-"))
        self.sink = SinkData(self.folder)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.meter: Meter | None = None
        self.exited: float | None = None
        self._watchdog(timeout)

    def _watchdog(self, timeout: float) -> None:
        def fire(why: str, code: int) -> None:
            print(f"{self.library} adapter: {why}; killing the workers", file=sys.stderr)
            self.kill()
            shutil.rmtree(self.folder, ignore_errors=True)
            os._exit(code)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _: fire(f"got signal {signum}", 128 + signum))
        self.timer = threading.Timer(timeout, fire, (f"timed out after {timeout:.0f} s", 3))
        self.timer.daemon = True
        self.timer.start()

    def start(self, cmd: Sequence[str], count: int = 1, **popen: Any) -> None:
        """Start `count` processes of `cmd`; the first one starts the run's Meter."""
        popen["env"] = {**popen.get("env", os.environ), SINK_ENV: str(self.folder)}
        for _ in range(count):
            log = (self.folder / f"worker-{len(self.procs)}.log").open("wb")
            if self.meter is None:
                self.meter = Meter(self.backend)
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen,
            )
            log.close()
            self.procs.append(proc)

    def _signal(self, sig: int) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def wait_exit(self) -> None:
        """Wait for workers that exit by themselves (the watchdog bounds it); each must exit 0."""
        for proc in self.procs:
            proc.wait()
        self.exited = time.time()
        codes = [proc.returncode for proc in self.procs]
        if any(codes):
            raise RuntimeError(f"a worker exited with code {max(codes, key=abs)}")

    def stop(self, sig: int, grace: float = 15) -> bool:
        """Stop the workers with the library's graceful signal (to each process group);
        anything left after `grace` seconds is killed. True if every worker exited 0."""
        self._signal(sig)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
        self.exited = time.time()
        self._signal(signal.SIGKILL)  # anything left in the workers' groups
        return all(proc.returncode == 0 for proc in self.procs)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()

    def wait_for(self, count: int = 0, warm_up: bool = False, timeout: float | None = None) -> None:
        """Until the sink holds `count` tasks (or, `warm_up`, a warm-up task); a worker that
        exits first is an error, and so is `timeout` seconds passing."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.sink.read()
            if self.sink.warmed_up if warm_up else self.sink.count >= count:
                return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {proc.pid} exited with {proc.returncode}")
            if deadline is not None and time.monotonic() > deadline:
                raise RuntimeError(f"{self.sink.count} of {count} tasks ran in {timeout} s")
            time.sleep(POLL)

    def measured(self) -> dict[str, Any]:
        """After the workers exited: seconds from the first worker process started to the last
        task run, wall_s to the workers exited, their CPU and the database server's."""
        assert self.meter is not None and self.exited is not None
        self.sink.read()
        read = self.meter.read(self.sink.last_task_at())
        read.pop("client_cpu_s")
        first = self.sink.first_task_at()  # start-up: to the first task run
        started = None if first is None else first - self.meter.started
        return {**read, "wall_s": self.exited - self.meter.started, "first_task_s": started}

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace")[-2000:] for p in self.folder.glob("*.log"))

    def close(self) -> None:
        """Kill whatever still runs and remove the sink folder."""
        self.timer.cancel()
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def drain(
    workers: Workers, cmd: Sequence[str], count: int, n: int, stop: int | None = None, **popen: Any
) -> dict[str, Any]:
    """W3: start `count` worker processes on a queue of n tasks and wait until every task has
    run: until they exit (`stop` None: they exit once the queue is empty) or, for workers that
    run until told, until the sink holds n tasks, then stop them with the graceful `stop`."""
    workers.start(cmd, count, **popen)
    if stop is None:
        workers.wait_exit()
    else:
        workers.wait_for(n)
        if not workers.stop(stop):
            raise RuntimeError("a worker did not stop cleanly")
    measured = workers.measured()
    return {**measured, "verified": exactly_once(workers.sink.runs, n)}


def latency(
    workers: Workers,
    cmd: Sequence[str],
    enqueue: Callable[[int, float | None], Any],
    idle: float,
    stop: int,
    **popen: Any,
) -> dict[str, Any]:
    """W4: one worker; a warm-up task (index -1) shows it is up; after `idle` seconds idle,
    W4_TASKS tasks enqueued one at a time on a fixed W4_GAP grid (an enqueue's own time does
    not drift it), each carrying its enqueue time; p50/p95/p99 of (start - enqueue) as the
    tasks measured them; then the worker is stopped with the graceful `stop` signal."""
    workers.start(cmd, **popen)
    enqueue(-1, None)
    workers.wait_for(warm_up=True, timeout=60)
    time.sleep(idle)
    started = time.perf_counter()
    for i in range(W4_TASKS):
        delay = started + i * W4_GAP - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        enqueue(i, time.time())
    seconds = time.perf_counter() - started
    workers.wait_for(W4_TASKS, timeout=30)
    clean = workers.stop(stop)
    measured = workers.measured()
    sink = workers.sink
    verified = clean and exactly_once(sink.runs, W4_TASKS) and len(sink.latencies) == W4_TASKS
    return {
        "seconds": seconds,  # the enqueue calls, for the record; W4's measure is latency_ms
        "latency_ms": percentiles(sink.latencies),
        "worker_cpu_s": measured["worker_cpu_s"],
        "db_cpu_s": measured["db_cpu_s"],
        "verified": verified,
    }


class Adapter:
    """One library under the contract. A subclass says how to set up a fresh queue, enqueue
    and run a worker; the workloads are run here, the same way for every library."""

    library = ""
    backend = ""
    workloads: Sequence[str] = ("W1", "W2", "W3", "W4")
    per_task_timeout = 0.01  # the default --timeout: 120 s plus this per task
    idle = 1.0  # W4: seconds the worker sits idle before the first task
    stop = signal.SIGTERM  # the library's graceful stop
    drains_and_exits = False  # its W3 workers exit by themselves once the queue is empty
    bulk_api = True  # W2: False reports "no bulk API" (the tasks are still enqueued and run)
    popen: dict[str, Any] = {}  # noqa: RUF012 - how the worker processes are started
    script = ""  # the adapter's file, whose `_worker` sub-command runs a worker process
    args: argparse.Namespace

    # --- what a library says --------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The library's own options (its settings, for the worker sub-command too)."""

    def worker_main(self) -> None:
        """The `_worker` sub-command: one worker process (`--mode drain` or `continuous`)."""
        raise NotImplementedError

    def open(self) -> str:
        """Connect and start from an empty queue; returns the library's version."""
        raise NotImplementedError

    def close(self) -> None:
        """Close what open() opened."""

    def enqueue(self, i: int, sent: float | None = None) -> None:
        """Enqueue task i, one call (one transaction); `sent`: its enqueue time (W4)."""
        raise NotImplementedError

    def enqueue_all(self, n: int) -> None:
        """W1: tasks 0..n-1, one call each."""
        for i in range(n):
            self.enqueue(i)

    def enqueue_bulk(self, n: int) -> None:
        """W2: tasks 0..n-1 in batches of BULK with the library's bulk API."""
        raise NotImplementedError

    def fill(self, n: int) -> None:
        """W3's untimed enqueue: the bulk API where there is one."""
        (self.enqueue_bulk if self.bulk_api else self.enqueue_all)(n)

    def worker(self, mode: str, processes: int) -> tuple[list[str], int]:
        """The command that runs `processes` worker processes, and how many to start."""
        options = ["--mode", mode, *self.worker_options()]
        return worker_command(self.script, self.args.url, *options), processes

    def worker_options(self) -> list[str]:
        """Options passed on to the worker sub-command (the library's settings)."""
        return []

    def enqueued(self, workers: Workers, n: int) -> bool:
        """W1/W2: were tasks 0..n-1 enqueued, once each? By default they are drained (untimed)
        and must each run once, leaving the queue empty."""
        return self.drain(workers, n)["verified"]

    def empty(self) -> bool:
        """After a drain: is the queue empty (for libraries where it can be asked)?"""
        return True

    def settings(self) -> dict[str, Any] | None:
        return None

    # --- the workloads, the same for every library -------------------------------------------

    def drain(self, workers: Workers, n: int) -> dict[str, Any]:
        cmd, count = self.worker("drain", self.args.processes)
        stop = None if self.drains_and_exits else self.stop
        drained = drain(workers, cmd, count, n, stop, **self.popen)
        drained["verified"] = drained["verified"] and self.empty()
        return drained

    def measure(self, workers: Workers, out: dict[str, Any]) -> None:
        n, workload = self.args.n, self.args.workload
        if workload == "W1" or (workload == "W2" and self.bulk_api):
            meter = Meter(self.backend)
            (self.enqueue_all if workload == "W1" else self.enqueue_bulk)(n)
            out.update(meter.enqueue())
            out["verified"] = self.enqueued(workers, n)
        elif workload == "W2":
            out["note"] = "no bulk API"
            self.enqueue_all(n)  # the tasks are still enqueued, one call each, and verified
            out["verified"] = self.enqueued(workers, n)
        elif workload == "W3":
            self.fill(n)
            out.update(self.drain(workers, n))
        else:
            cmd = self.worker("continuous", 1)[0]
            out.update(latency(workers, cmd, self.enqueue, self.idle, self.stop, **self.popen))
            out["verified"] = out["verified"] and self.empty()

    def main(self) -> int:
        """Parse the arguments, run the workload (or the worker sub-command), print the result.
        A failure prints the workers' logs to stderr and exits 1. Workers never outlive this."""
        p = parser(self.per_task_timeout, self.workloads)
        self.add_arguments(p)
        self.args = args = parse_args(p)
        if args.workload == "_worker":
            die_with_parent()
            self.worker_main()
            return 0
        version = self.open()
        try:
            out = result(self.library, version, self.backend, args)
            if self.settings():
                out["settings"] = self.settings()
            workers = Workers(self.library, self.backend, args.timeout)
            try:
                self.measure(workers, out)
            except Exception as exc:
                print(f"{self.library} {args.workload} failed: {exc!r}", file=sys.stderr)
                print(workers.logs(), file=sys.stderr)
                return 1
            finally:
                workers.close()
        finally:
            self.close()
        emit(out)
        return 0
