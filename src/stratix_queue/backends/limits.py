"""How long a database server may take, and how a lost database is logged."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("stratix_queue.worker")
STATEMENT_TIMEOUT_SECONDS = 10.0
# The server cancels a slow statement itself after statement_seconds; the client abandons a
# connection that sent nothing back at all this much later (the server's cancel comes first).
DEADLINE_GRACE_SECONDS = 2.0
# Contention (a deadlock victim, a lock wait timeout, a busy SQLite file: the server rolled it
# back) is tried again this many times, after contention_pause(tries) each.
CONTENTION_RETRIES = 10


def contention_pause(tries: int) -> float:
    """Seconds to wait before trying a contended write again: random, growing to at most 0.2 s
    (random, so that two writers that collided do not collide again)."""
    return min(0.2, 0.005 * 2.0**tries) * random.random()


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-session limits on a database server; ``statement_seconds=None``: none at all (the
    migration runner's sessions: an ALTER TABLE may take minutes)."""

    statement_seconds: float | None = STATEMENT_TIMEOUT_SECONDS

    @property
    def lock_seconds(self) -> float | None:
        """A lock wait fails (and is retried) well before the statement would time out."""
        return None if self.statement_seconds is None else max(1.0, self.statement_seconds / 2)

    @property
    def idle_in_transaction_seconds(self) -> float | None:
        """The server ends a session left idle inside a transaction (its client went silent
        between two statements), releasing the row locks it held."""
        return None if self.statement_seconds is None else 2 * self.statement_seconds

    def session_params(self) -> dict[str, float]:
        """The parameters of the session_limits block: seconds, 0 for no limit."""
        return {
            "statement_s": self.statement_seconds or 0,
            "lock_s": round(self.lock_seconds or 0),
            "idle_s": round(self.idle_in_transaction_seconds or 0),
        }

    @property
    def deadline(self) -> float | None:
        """Seconds without any answer after which the client abandons the connection."""
        s = self.statement_seconds
        return None if s is None else s + DEADLINE_GRACE_SECONDS


UNLIMITED = Limits(None)


class Health:
    """Whether this process reaches the database, as its worker threads find out. An outage is
    logged once when the first thread meets it and once when one gets through again, however
    many threads and retries meet it in between."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._down_since: float | None = None
        self.recovered_at = 0.0  # time.monotonic() when the last outage ended
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, doing: str, error: object) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.error(
            "lost the database at %s (while trying to %s): %s; retrying until it answers",
            self.where,
            doing,
            error,
        )

    def ok(self) -> None:
        if self._down_since is None:  # the common case: one attribute read, no lock
            return
        with self._lock:
            since, self._down_since = self._down_since, None
            self.recovered_at = time.monotonic()
        if since is not None:
            log.warning(
                "the database at %s answers again (after %.1f s)",
                self.where,
                time.monotonic() - since,
            )
