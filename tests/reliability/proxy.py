"""A TCP proxy between the workers and a database server, with the failures a network has:
``cut`` closes every open connection, ``refuse`` resets new ones, and ``freeze`` makes every open
connection stop carrying data without closing it (a dropped NAT entry, a wedged pooler, a
silent partition) while new connections still work. The database server itself is never
touched."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CHUNK = 65536
TICK = 0.05


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    server: socket.socket
    frozen: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Proxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or _default_port(parts.scheme))
        self._target_url = target_url
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._refusing = False
        self._stopped = False
        self.accepted = 0
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        """The target URL with the proxy's address in place of the server's."""
        parts = urlsplit(self._target_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for pair in self._pairs if not pair.closed.is_set())

    def freeze(self) -> int:
        """Every connection open now stops carrying data, in both directions, and stays open."""
        with self._lock:
            pairs = [pair for pair in self._pairs if not pair.closed.is_set()]
        for pair in pairs:
            pair.frozen.set()
        return len(pairs)

    def cut(self) -> int:
        """Close every connection open now."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close()
        return len(pairs)

    def refuse(self, refusing: bool) -> None:
        """While refusing, a new connection is reset as soon as it arrives."""
        self._refusing = refusing

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        self.cut()

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=_pump, args=(pair, source, sink), name="proxy-pump", daemon=True
                ).start()


def _pump(pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
    """Forward bytes from ``source`` to ``sink`` until either side closes; a frozen pair reads
    nothing more (the bytes wait in the kernel's buffers, acknowledged and never delivered)."""
    try:
        while not pair.closed.is_set():
            if pair.frozen.is_set():
                pair.closed.wait(TICK)
                continue
            readable, _, _ = select.select([source], [], [], TICK)
            if not readable or pair.frozen.is_set():
                continue
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    if not pair.frozen.is_set():
        pair.close()


def _default_port(scheme: str) -> int:
    return 5432 if scheme.startswith("postgres") else 3306
