"""Helpers shared by adapters that can import them (same directory, any virtualenv): argument
parsing, the sink that verifies exactly-once, percentiles and the one-line JSON result."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4", "W5"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--url", required=True)
    return parser.parse_args()


def sink_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    os.environ["BENCH_SINK_DIR"] = str(folder)
    return folder


def read_sink(folder: Path) -> tuple[Counter[int], list[float]]:
    """How often each task index ran, and the latencies (ms) recorded with them."""
    runs: Counter[int] = Counter()
    latencies: list[float] = []
    for path in folder.glob("sink-*.txt"):
        for line in path.read_text(encoding="ascii").splitlines():
            parts = line.split()
            runs[int(parts[0])] += 1
            if len(parts) > 1:
                latencies.append(float(parts[1]))
    return runs, latencies


def exactly_once(runs: Counter[int], n: int) -> bool:
    return set(runs) == set(range(n)) and all(count == 1 for count in runs.values())


def percentiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


def emit(result: dict[str, Any]) -> None:
    if result.get("seconds") and result.get("n") and result.get("tasks_per_s") is None:
        result["tasks_per_s"] = round(result["n"] / result["seconds"], 1)
    print(json.dumps(result))
