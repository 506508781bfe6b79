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
Every task records its index (and, W4, its latency) in its process's sink; the run is verified
from the sinks and an empty queue (W1/W2 drain their queue afterwards, untimed, to verify).
A run that exceeds --timeout seconds (default 120 + n/100) kills its workers and exits 1.
"""

import signal
import sys
import warnings
from pathlib import Path

import celery
import redis
from celery import Celery
from celery.exceptions import SecurityWarning
from celery.signals import worker_process_init

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

PREFETCH = 64  # the Optimizing guide: large for many short tasks ("Say 64, or 128")
SINK = common.Sink()

app = Celery("bench")
app.conf.update(
    task_ignore_result=True,
    task_acks_late=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(payload):
    SINK.write(payload["i"], payload.get("t"))


worker_process_init.connect(common.die_with_parent)  # pool processes die with the worker node


class CeleryRedis(common.Adapter):
    library = "celery"
    backend = "redis"
    script = __file__
    idle = 1.0
    stop = signal.SIGTERM  # Celery's warm shutdown

    def add_arguments(self, parser):
        parser.add_argument("--prefetch", type=int, default=PREFETCH, help="prefetch multiplier")
        parser.add_argument("--without-mingle", dest="no_mingle", action="store_true")

    def worker(self, mode, processes):
        """One worker node with `processes` pool processes (mode: it runs until stopped)."""
        options = ["--processes", str(processes), "--prefetch", str(self.args.prefetch)]
        options += ["--without-mingle"] * self.args.no_mingle
        return common.worker_command(self.script, self.args.url, *options), 1

    def worker_main(self):
        args = self.args
        app.conf.broker_url = args.url
        app.conf.worker_prefetch_multiplier = args.prefetch
        warnings.simplefilter("ignore", SecurityWarning)  # "running as root", on a bench machine
        argv = ["--quiet", "worker", "--pool=prefork", f"--concurrency={args.processes}"]
        argv += ["--loglevel=WARNING", "--hostname=bench@%h"]
        app.worker_main(argv + ["--without-mingle"] * args.no_mingle)

    def open(self):
        self.client = redis.Redis.from_url(self.args.url)
        self.client.flushdb()
        app.conf.broker_url = self.args.url
        return celery.__version__

    def close(self):
        self.client.close()

    def enqueue(self, i, sent=None):
        noop.delay({"i": i} if sent is None else {"i": i, "t": sent})

    def enqueue_bulk(self, n):
        """kombu's Producer.batch(500): one Redis pipeline per 500 messages."""
        with app.producer_or_acquire() as producer:
            for start in range(0, n, common.BULK):
                with producer.batch(common.BULK):
                    for i in range(start, min(n, start + common.BULK)):
                        noop.apply_async(({"i": i},), producer=producer)

    def fill(self, n):
        self.enqueue_all(n)

    def measure(self, workers, out):
        super().measure(workers, out)
        if self.args.workload == "W2":
            out["note"] = "kombu Producer.batch(500) + apply_async; Celery has no bulk API"

    def queued(self):
        """Messages still in the queue or delivered but not acknowledged."""
        return self.client.llen("celery") + self.client.hlen("unacked")

    def drain(self, workers, n):
        if self.queued() != n:
            raise RuntimeError(f"{self.queued()} messages queued, expected {n}")
        return super().drain(workers, n)

    def empty(self):
        return self.queued() == 0


if __name__ == "__main__":
    sys.exit(CeleryRedis().main())
