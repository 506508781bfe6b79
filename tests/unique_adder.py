"""A concurrent adder of tests/behaviour/test_unique_tasks.py, in a module of its own: each
adder is a spawned process, which imports this (and not pytest nor the test module)."""

from __future__ import annotations

from typing import Any

from stratix_queue import QueueService


def add_at_once(url: str, start: Any, answers: Any, number: int) -> None:
    """One of the concurrent adders: connect, wait for the others, add_task with the shared key;
    wait again, then add_tasks with two shared keys (half of the adders in the other order)."""
    try:
        with QueueService(url) as queue:
            queue.get_task(1)  # the connection is open before the start
            start.wait(timeout=30)
            job = queue.add_task(name="n", executor="e", unique_key="invoice:42")
            answer = {"invoice:42": (job.id, job.duplicate)}
            start.wait(timeout=30)
            shared = ["both:1", "both:2"] if number % 2 else ["both:2", "both:1"]
            jobs = queue.add_tasks(
                [
                    {"name": "a", "executor": "e", "unique_key": shared[0]},
                    {"name": "own", "executor": "e", "unique_key": f"own:{number}"},
                    {"name": "plain", "executor": "e"},
                    {"name": "b", "executor": "e", "unique_key": shared[1]},
                ]
            )
            answer.update({job.unique_key or "plain": (job.id, job.duplicate) for job in jobs})
            answers.put(answer)
    except Exception as exc:  # reported to the test, which fails on it
        answers.put({"error": repr(exc)})
