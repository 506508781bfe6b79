# requires: huey==3.5.4
"""Benchmark adapter for Huey with its SQLite storage (SqliteHuey), per bench/ADAPTERS.md.

    python huey_adapter.py W1|W2|W3|W4 --n N [--processes P] --url sqlite:////tmp/x.db

How Huey is driven (its defaults unless said otherwise):
- storage: `SqliteHuey("bench", filename=...)`: WAL journal, results on (a no-op's None result is
  not stored); `huey.flush()` empties queue, schedule, results and counters first;
- enqueue: calling the task, one INSERT transaction per task (W1). Huey has no bulk enqueue API:
  W2 reports a null rate with "no bulk API" (its tasks are still enqueued one by one and run);
- workers: P consumer processes, each the programmatic form of
  `huey_consumer app.huey -w 4 -k thread` (the Consumer class, 4 worker threads, default
  polling: 0.1 s initial delay, x1.15 backoff up to 10 s when idle), started by this script as
  its `_worker` sub-command and stopped with SIGINT (Huey's graceful stop).
Every task appends "index start_time latency" to a sink file of its process; the run is verified
from those files (W1/W2 drain their queue afterwards, untimed, to verify). A run that exceeds
--timeout seconds (default 120 + n/100) kills its workers and exits 1.
"""

import argparse
import contextlib
import ctypes
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import huey
from huey import SqliteHuey

THREADS = 4  # worker threads per consumer process (huey_consumer -w 4 -k thread)
LIBRARY = "huey"
_sink_lock = threading.Lock()
_sink = {"pid": None, "fd": None}


def make_huey(url):
    if not url.startswith("sqlite:///"):
        raise SystemExit(f"expected a sqlite:/// URL, got {url!r}")
    return SqliteHuey("bench", filename=url[len("sqlite:///") :])


def sink_write(line):
    """Append one line to this process's sink file (O_APPEND, one write per line)."""
    with _sink_lock:
        if _sink["pid"] != os.getpid():
            path = os.path.join(os.environ["BENCH_SINK"], f"{os.getpid()}.txt")
            _sink["fd"] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _sink["pid"] = os.getpid()
    os.write(_sink["fd"], line.encode())


def register(h):
    @h.task(name="noop")
    def noop(payload):
        now = time.time()
        lat = now - payload["t"] if "t" in payload else 0.0
        sink_write(f"{payload['i']} {now!r} {lat!r}\n")

    return noop


def die_with_parent():
    """Let the kernel kill this worker if the adapter process dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_worker(args):
    die_with_parent()
    h = make_huey(args.url)
    register(h)
    # The programmatic equivalent of `huey_consumer <app>.huey -w 4 -k thread`.
    h.create_consumer(workers=args.threads, worker_type="thread").run()


class Run:
    """Workers, sink directory and clean-up for one benchmark run."""

    def __init__(self, args):
        self.args = args
        self.sink = tempfile.mkdtemp(prefix="bench-huey-sink-")
        self.procs = []
        self.offsets = {}
        self.lines = []

    def start_workers(self, count):
        env = dict(os.environ, BENCH_SINK=self.sink)
        a = self.args
        cmd = [sys.executable, os.path.abspath(__file__), "_worker", "--url", a.url]
        cmd += ["--threads", str(a.threads)]
        kw = {"stdin": subprocess.DEVNULL, "stdout": sys.stderr.fileno()}
        for _ in range(count):
            self.procs.append(subprocess.Popen(cmd, env=env, start_new_session=True, **kw))

    def stop_workers(self, graceful=True):
        """SIGINT is Huey's graceful stop; anything left after 15 s is killed."""
        for p in self.procs:
            if p.poll() is None:
                self._signal(p, signal.SIGINT if graceful else signal.SIGKILL)
        deadline = time.monotonic() + (15 if graceful else 5)
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(p, signal.SIGKILL)
                p.wait()
        for p in self.procs:  # also reap anything left in the workers' groups
            self._signal(p, signal.SIGKILL)
        clean = all(p.returncode == 0 for p in self.procs)
        self.procs = []
        return clean

    @staticmethod
    def _signal(p, sig):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)

    def read_new(self):
        """Parse lines appended to the sink files since the last call."""
        for name in os.listdir(self.sink):
            path = os.path.join(self.sink, name)
            with open(path, "rb") as f:
                f.seek(self.offsets.get(name, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            self.offsets[name] = self.offsets.get(name, 0) + end
            for raw in data[:end].splitlines():
                i, t, lat = raw.split()
                self.lines.append((int(i), float(t), float(lat)))

    def wait_for(self, count, index=None):
        """Block until `count` task lines (or the line of task `index`) arrived."""
        while True:
            self.read_new()
            if index is not None and any(i == index for i, _, _ in self.lines):
                return
            if index is None and len(self.lines) >= count:
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"worker {p.pid} exited with {p.returncode}")
            time.sleep(0.02)

    def verified(self, n):
        self.read_new()
        seen = sorted(i for i, _, _ in self.lines if i >= 0)
        return seen == list(range(n))


def enqueue_all(noop, n):
    for i in range(n):
        noop({"i": i})


def drain(run, n, processes):
    """Start `processes` consumers on a full queue, return (seconds, worker cpu)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    run.start_workers(processes)
    run.wait_for(n)
    t_last = max(t for i, t, _ in run.lines if i >= 0)
    if not run.stop_workers():
        raise RuntimeError("a worker did not stop cleanly")
    return t_last - t0, cpu_since(before)


def cpu_since(before):
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def check_queued(h, n):
    if h.storage.queue_size() != n:
        raise RuntimeError(f"{h.storage.queue_size()} tasks queued, expected {n}")


def bench(args, run):
    h = make_huey(args.url)
    noop = register(h)
    h.flush()  # empty queue, schedule, results and counters
    n = args.n
    out = {
        "library": LIBRARY,
        "version": huey.__version__,
        "backend": "sqlite",
        "workload": args.workload,
        "n": n,
        "processes": args.processes,
        "seconds": None,
        "tasks_per_s": None,
        "latency_ms": None,
        "verified": False,
        "worker_cpu_s": None,
    }
    if args.workload == "W1":
        t0 = time.perf_counter()
        enqueue_all(noop, n)
        out["seconds"] = time.perf_counter() - t0
        out["tasks_per_s"] = n / out["seconds"]
        check_queued(h, n)
        drain(run, n, args.processes)  # untimed: proves every enqueued task runs once
    elif args.workload == "W2":
        out["note"] = "no bulk API"
        enqueue_all(noop, n)  # still verify the tasks, one call each (untimed)
        check_queued(h, n)
        drain(run, n, args.processes)
    elif args.workload == "W3":
        enqueue_all(noop, n)
        out["seconds"], out["worker_cpu_s"] = drain(run, n, args.processes)
        out["tasks_per_s"] = n / out["seconds"]
    else:  # W4
        out["processes"] = 1
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.start_workers(1)
        noop({"i": -1})  # warm-up task: the worker is up once it has run
        run.wait_for(0, index=-1)
        time.sleep(1.0)  # let the worker sit idle
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i * 0.02 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            noop({"i": i, "t": time.time()})
        out["seconds"] = time.perf_counter() - t0
        run.wait_for(n + 1)
        if not run.stop_workers():
            raise RuntimeError("a worker did not stop cleanly")
        out["worker_cpu_s"] = cpu_since(before)
        lats = [lat * 1000 for i, _, lat in run.lines if i >= 0]
        q = statistics.quantiles(lats, n=100, method="inclusive")
        out["latency_ms"] = {
            "p50": round(statistics.median(lats), 3),
            "p95": round(q[94], 3),
            "p99": round(q[98], 3),
        }
    out["verified"] = run.verified(n) and h.storage.queue_size() == 0
    h.storage.close()
    for key in ("seconds", "tasks_per_s", "worker_cpu_s"):
        if out[key] is not None:
            out[key] = round(out[key], 4)
    return out


def on_signal(signum, frame):
    raise TimeoutError("timed out") if signum == signal.SIGALRM else SystemExit(128 + signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4", "_worker"])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=int, help="hard limit for the run (s)")
    parser.add_argument("--threads", type=int, default=THREADS, help="worker threads per process")
    args = parser.parse_args()
    if args.workload == "_worker":
        return run_worker(args)
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.alarm(args.timeout or 120 + args.n // 100)
    run = Run(args)
    try:
        out = bench(args, run)
    except BaseException as exc:
        signal.alarm(0)
        print(f"{LIBRARY} {args.workload} failed: {exc!r}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        run.stop_workers(graceful=False)
        for name in os.listdir(run.sink):
            os.unlink(os.path.join(run.sink, name))
        os.rmdir(run.sink)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
