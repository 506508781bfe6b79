"""Wake-up hints for idle workers in other processes: PostgreSQL LISTEN/NOTIFY; on SQLite and
MySQL/MariaDB a change marker checked every few milliseconds (SQLite's ``PRAGMA data_version``;
the newest task id and the waiting count on MySQL/MariaDB). Polling stays the safety net."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from stratix_queue.backends.driver import Driver
from stratix_queue.errors import StratixQueueError

log = logging.getLogger("stratix_queue.worker")
RECONNECT_FIRST = 0.5  # seconds before the first attempt to open a lost connection again
RECONNECT_MAX = 30.0  # the pause doubles up to this while the connection stays lost
# A LISTENing connection only receives; one that went silent would never say so. It is asked
# something this often, under the watchdog's deadline (backends/watchdog.py).
LISTEN_PING_SECONDS = 5.0


class WakeThread:
    """A daemon thread, on a connection of its own, that sets the worker's wake-up event. A lost
    connection is opened again, with a growing pause; meanwhile the worker polls. ``hungry`` is
    set while the worker would claim a new task at once (its last claim came back short)."""

    name = "stratix-queue-wake"

    def __init__(self, backend: Driver, wakeup: threading.Event, hungry: threading.Event) -> None:
        self.backend = backend
        self.wakeup = wakeup
        self.hungry = hungry
        self._delay = RECONNECT_FIRST
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        self._delay = RECONNECT_FIRST
        while not self._stop.is_set():
            try:
                self._watch()
            except StratixQueueError as exc:  # the worker polls meanwhile
                self.backend.health.failed(f"keep its {self.name} connection", exc)
            except Exception:  # a bug here must not end the wake-ups silently
                log.exception("%s failed; polling until it is back", self.name)
            self._stop.wait(self._delay)
            self._delay = min(self._delay * 2, RECONNECT_MAX)

    def _connected(self) -> None:
        """The connection is watching again: the next loss waits the shortest pause, and the
        worker claims once, for what was added while no one was watching (one claim, at worst
        an empty one)."""
        self._delay = RECONNECT_FIRST
        self.backend.health.ok()
        self.wakeup.set()

    def _watch(self) -> None:
        """Set the wake-up event on every sign of new work until stopped."""
        raise NotImplementedError


class Listener(WakeThread):
    """Holds one connection that LISTENs; every notification sets the worker's wake-up event."""

    name = "stratix-queue-listen"

    def _watch(self) -> None:
        with self.backend.dedicated_session() as session:
            self.backend.listen(session)
            log.info("listening for new tasks (LISTEN stratix_queue)")
            self._connected()
            ping_at = time.monotonic() + LISTEN_PING_SECONDS
            while not self._stop.is_set():
                for _ in session.notifications(timeout=1.0):
                    self.wakeup.set()
                if time.monotonic() >= ping_at:
                    self.backend.ping(session)
                    ping_at = time.monotonic() + LISTEN_PING_SECONDS


class ChangeWatcher(WakeThread):
    """Reads the backend's change marker (one row of counters) every ``change_watch_seconds``
    seconds and wakes the worker when one of them grew; only while the worker is hungry and has
    no wake-up it has not taken yet (a busy worker claims again as its slots free)."""

    name = "stratix-queue-watch"

    def _watch(self) -> None:
        interval = self.backend.capabilities.change_watch_seconds
        assert interval is not None
        with self.backend.dedicated_session() as session:
            seen = self.backend.change_marker(session)
            log.info("watching for new tasks (change marker every %.0f ms)", interval * 1000)
            self._connected()
            while not self._stop.wait(interval):
                if self.wakeup.is_set() or not self.hungry.is_set():
                    continue
                marker = self.backend.change_marker(session)
                if grew(seen, marker):
                    self.wakeup.set()
                seen = marker


def grew(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a counter of the change marker went up (NULL: an empty table, below any id)."""
    return any(
        value is not None and (before.get(key) is None or value > before[key])
        for key, value in after.items()
    )
