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
Every task records its index (and, W4, its latency) in its process's sink; the run is verified
from the sinks and an empty queue (W1/W2 drain their queue afterwards, untimed, to verify).
A run that exceeds --timeout seconds (default 120 + n/100) kills its workers and exits 1.
"""

import signal
import sys
from pathlib import Path

import huey
from huey import SqliteHuey

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

THREADS = 4  # worker threads per consumer process (huey_consumer -w 4 -k thread)
SINK = common.Sink()


def make_huey(url):
    if not url.startswith("sqlite:///"):
        raise SystemExit(f"expected a sqlite:/// URL, got {url!r}")
    return SqliteHuey("bench", filename=url[len("sqlite:///") :])


def register(h):
    @h.task(name="noop")
    def noop(payload):
        SINK.write(payload["i"], payload.get("t"))

    return noop


class Huey(common.Adapter):
    library = "huey"
    backend = "sqlite"
    script = __file__
    idle = 1.0
    stop = signal.SIGINT  # Huey's graceful stop
    bulk_api = False

    def add_arguments(self, parser):
        parser.add_argument("--threads", type=int, default=THREADS, help="threads per process")

    def worker_options(self):
        return ["--threads", str(self.args.threads)]

    def worker_main(self):
        h = make_huey(self.args.url)
        register(h)
        # The programmatic equivalent of `huey_consumer <app>.huey -w 4 -k thread`.
        h.create_consumer(workers=self.args.threads, worker_type="thread").run()

    def open(self):
        self.huey = make_huey(self.args.url)
        self.noop = register(self.huey)
        self.huey.flush()  # empty queue, schedule, results and counters
        return huey.__version__

    def close(self):
        self.huey.storage.close()

    def enqueue(self, i, sent=None):
        self.noop({"i": i} if sent is None else {"i": i, "t": sent})

    def drain(self, workers, n):
        if self.huey.storage.queue_size() != n:
            raise RuntimeError(f"{self.huey.storage.queue_size()} tasks queued, expected {n}")
        return super().drain(workers, n)

    def empty(self):
        return self.huey.storage.queue_size() == 0


if __name__ == "__main__":
    sys.exit(Huey().main())
