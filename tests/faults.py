"""Fault injection for tests: servers that hang.

Not a test module: helpers only, shared by the tests that prove pyresque
under faults, so each scenario reads as set up, inject the fault, assert.

- :class:`SilentServer`: a TCP port that accepts connections and never
  answers (a hung Redis, a half-open connection, a TLS handshake that never
  completes).
- :class:`UnacceptingServer`: a TCP port whose accept queue is full, so a
  connect hangs (a firewall dropping SYNs).
"""

from __future__ import annotations

import os
import select
import socket
import threading
from typing import Any

LOOPBACK = "127.0.0.1"


class SilentServer:
    """Accepts every connection on ``port`` and never sends a byte.

    Use as a context manager; leaving closes the listener and every
    connection it accepted.
    """

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = os.pipe()
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)

    def __enter__(self) -> "SilentServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        for conn in self._accepted:
            conn.close()
        self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            conn, _ = self._listener.accept()
            self._accepted.append(conn)  # held open, never read, never answered


class UnacceptingServer:
    """A listening ``port`` whose accept queue is full: a new connect hangs."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []

    def __enter__(self) -> "UnacceptingServer":
        for _ in range(16):
            filler = socket.socket()
            filler.settimeout(0.2)
            self._fillers.append(filler)
            try:
                filler.connect((LOOPBACK, self.port))
            except socket.timeout:
                return self  # the queue is full: this SYN, and the next, are dropped
        raise RuntimeError("could not fill the accept queue")

    def __exit__(self, *exc: Any) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()
