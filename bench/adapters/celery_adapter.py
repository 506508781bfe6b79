# requires: celery==5.7.0 kombu==5.7.0 redis==8.1.0 packaging==26.4
"""Benchmark adapter for Celery with its Redis broker, per bench/ADAPTERS.md.

    python celery_adapter.py W1|W2|W3|W4 --n N [--processes P] --url redis://127.0.0.1:6379/5

How Celery is driven (its defaults unless said otherwise):
- broker: the Redis transport at --url (the db is FLUSHDB'ed first); no result backend, the task
  ignores results; early acks (task_acks_late=False, the default);
  worker_prefetch_multiplier=64, as the Optimizing guide advises for many short tasks;
- enqueue: `noop.delay({"i": i})`, one call (one LPUSH) per task (W1). W2 publishes the same
  messages through kombu's `Producer.batch(500)` (one Redis pipeline per 500 messages), passing
  the producer to `apply_async`; Celery's own group() publishes one message per round trip;
- workers: `celery worker --pool prefork --concurrency P` (via `app.worker_main`, started by
  this script as its `_worker` sub-command): one worker node with P pool processes, mingle and
  gossip on (defaults; mingle waits up to 1 s at start-up), stopped with SIGTERM (warm shutdown).
Every task appends "index start_time latency" to a sink file of its process; the run is verified
from those files and an empty queue (W1/W2 drain their queue afterwards, untimed, to verify).
A run that exceeds --timeout seconds (default 120 + n/100) kills its workers and exits 1.
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
import time
import warnings

import celery
import redis
from celery import Celery
from celery.exceptions import SecurityWarning
from celery.signals import worker_process_init

LIBRARY = "celery"
BULK = 500
PREFETCH = 64  # the Optimizing guide: large for many short tasks ("Say 64, or 128")
_sink = {"pid": None, "fd": None}

app = Celery("bench")
app.conf.update(
    task_ignore_result=True,
    task_acks_late=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(payload):
    now = time.time()
    lat = now - payload["t"] if "t" in payload else 0.0
    if _sink["pid"] != os.getpid():  # prefork: one process runs one task at a time
        path = os.path.join(os.environ["BENCH_SINK"], f"{os.getpid()}.txt")
        _sink["fd"] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _sink["pid"] = os.getpid()
    os.write(_sink["fd"], f"{payload['i']} {now!r} {lat!r}\n".encode())


def die_with_parent(**_kwargs):
    """Let the kernel kill this process if its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


worker_process_init.connect(die_with_parent)  # pool processes die with the worker node


def run_worker(args):
    die_with_parent()
    app.conf.broker_url = args.url
    app.conf.worker_prefetch_multiplier = args.prefetch
    warnings.simplefilter("ignore", SecurityWarning)  # "running as root", on a bench machine
    argv = ["--quiet", "worker", "--pool=prefork", f"--concurrency={args.processes}"]
    argv += ["--loglevel=WARNING", "--hostname=bench@%h"]
    app.worker_main(argv + ["--without-mingle"] * args.no_mingle)


class Run:
    """Workers, sink directory and clean-up for one benchmark run."""

    def __init__(self, args):
        self.args = args
        self.sink = tempfile.mkdtemp(prefix="bench-celery-sink-")
        self.procs = []
        self.offsets = {}
        self.lines = []

    def start_worker(self, processes):
        env = dict(os.environ, BENCH_SINK=self.sink)
        a = self.args
        cmd = [sys.executable, os.path.abspath(__file__), "_worker", "--url", a.url]
        cmd += ["--processes", str(processes), "--prefetch", str(a.prefetch)]
        cmd += ["--without-mingle"] * a.no_mingle
        kw = {"stdin": subprocess.DEVNULL, "stdout": sys.stderr.fileno()}
        self.procs.append(subprocess.Popen(cmd, env=env, start_new_session=True, **kw))

    def stop_workers(self, graceful=True):
        """SIGTERM is Celery's warm shutdown; anything left after 15 s is killed."""
        for p in self.procs:
            if p.poll() is None:
                self._signal(p, signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + (15 if graceful else 5)
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(p, signal.SIGKILL)
                p.wait()
        for p in self.procs:  # pool processes left in the worker's group, if any
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


def enqueue_all(n):
    for i in range(n):
        noop.delay({"i": i})


def enqueue_bulk(n):
    with app.producer_or_acquire() as producer:
        for start in range(0, n, BULK):
            with producer.batch(BULK):
                for i in range(start, min(n, start + BULK)):
                    noop.apply_async(({"i": i},), producer=producer)


def cpu_since(before):
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def drain(run, n, processes):
    """Start a worker on a full queue; return (seconds to the last task, worker cpu)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    run.start_worker(processes)
    run.wait_for(n)
    t_last = max(t for i, t, _ in run.lines if i >= 0)
    if not run.stop_workers():
        raise RuntimeError("the worker did not stop cleanly")
    return t_last - t0, cpu_since(before)


def queued(client):
    """Messages still in the queue or delivered but not acknowledged."""
    return client.llen("celery") + client.hlen("unacked")


def bench(args, run):
    client = redis.Redis.from_url(args.url)
    client.flushdb()
    app.conf.broker_url = args.url
    n = args.n
    out = {
        "library": LIBRARY,
        "version": celery.__version__,
        "backend": "redis",
        "workload": args.workload,
        "n": n,
        "processes": args.processes,
        "seconds": None,
        "tasks_per_s": None,
        "latency_ms": None,
        "verified": False,
        "worker_cpu_s": None,
    }
    if args.workload in ("W1", "W2"):
        bulk = args.workload == "W2"
        t0 = time.perf_counter()
        (enqueue_bulk if bulk else enqueue_all)(n)
        out["seconds"] = time.perf_counter() - t0
        out["tasks_per_s"] = n / out["seconds"]
        if bulk:
            out["note"] = "kombu Producer.batch(500) + apply_async; Celery has no bulk API"
        if queued(client) != n:
            raise RuntimeError(f"{queued(client)} messages queued, expected {n}")
        drain(run, n, args.processes)  # untimed: proves every enqueued task runs once
    elif args.workload == "W3":
        enqueue_all(n)
        out["seconds"], out["worker_cpu_s"] = drain(run, n, args.processes)
        out["tasks_per_s"] = n / out["seconds"]
    else:  # W4
        out["processes"] = 1
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.start_worker(1)
        noop.delay({"i": -1})  # warm-up task: the worker is up once it has run
        run.wait_for(0, index=-1)
        time.sleep(1.0)  # let the worker sit idle
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i * 0.02 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            noop.delay({"i": i, "t": time.time()})
        out["seconds"] = time.perf_counter() - t0
        run.wait_for(n + 1)
        if not run.stop_workers():
            raise RuntimeError("the worker did not stop cleanly")
        out["worker_cpu_s"] = cpu_since(before)
        lats = [lat * 1000 for i, _, lat in run.lines if i >= 0]
        q = statistics.quantiles(lats, n=100, method="inclusive")
        out["latency_ms"] = {
            "p50": round(statistics.median(lats), 3),
            "p95": round(q[94], 3),
            "p99": round(q[98], 3),
        }
    out["verified"] = run.verified(n) and queued(client) == 0
    client.close()
    for key in ("seconds", "tasks_per_s", "worker_cpu_s"):
        if out[key] is not None:
            out[key] = round(out[key], 4)
    return out


def on_signal(signum, _frame):
    raise TimeoutError("timed out") if signum == signal.SIGALRM else SystemExit(128 + signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4", "_worker"])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=int, help="hard limit for the run (s)")
    parser.add_argument("--prefetch", type=int, default=PREFETCH, help="prefetch multiplier")
    parser.add_argument("--without-mingle", dest="no_mingle", action="store_true")
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
