"""Injecting faults into a real Redis, for the fault tests and the soak.

* :class:`RedisServer`: a redis-server of the test's own on a fixed port,
  which can be stopped, restarted (keeping its data with AOF on), or frozen
  with SIGSTOP: a server that accepts connections and never answers.
* :class:`Proxy`: a TCP proxy in front of it that can swallow the reply to
  one command and cut the connection, as a restart or a network cut does
  after Redis ran a command but before its reply arrived.

Nothing here is mocked: the worker under test talks RESP to a real server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import redis as redis_py

from testsupport import free_port, wait_until


class RedisServer:
    """A private redis-server on ``port`` with its data in ``workdir``."""

    def __init__(self, workdir: Path, *, appendonly: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(port=self.port, socket_timeout=10)

    def start(self) -> redis_py.Redis:
        cmd = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--dir", str(self.workdir), "--loglevel", "warning",
               "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        client = self.client()
        wait_until(lambda: _pings(client), 15, f"redis-server on port {self.port}")
        return client

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it: SIGTERM is a clean shutdown (AOF flushed), SIGKILL a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def restart(self, sig: int = signal.SIGTERM) -> redis_py.Redis:
        self.stop(sig)
        return self.start()

    def freeze(self) -> None:
        """Accept connections, answer nothing (as a hung server does)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(15)


def _pings(client: redis_py.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_py.RedisError:
        return False


class Proxy:
    """Forwards loopback TCP to a Redis; :meth:`lose_reply_to` arms a fault.

    Once armed with a command name, the next connection that sends that
    command has the server's reply swallowed and is closed: the command ran
    in Redis, and the client never hears of it.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._armed: bytes | None = None
        self._remaining = 0
        self.lost_replies = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_to(self, command: str, times: int = 1) -> None:
        with self._lock:
            self._armed = b"\r\n" + command.upper().encode() + b"\r\n"
            self._remaining = times

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            doomed = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, doomed), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(client, server)
                return
            with self._lock:
                if self._armed is not None and self._armed in data.upper() and self._remaining > 0:
                    self._remaining -= 1
                    if self._remaining == 0:
                        self._armed = None
                    doomed.set()
            try:
                server.sendall(data)
            except OSError:
                _close(client, server)
                return

    def _downstream(self, server: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data or doomed.is_set():
                if data:
                    with self._lock:
                        self.lost_replies += 1
                _close(client, server)
                return
            try:
                client.sendall(data)
            except OSError:
                _close(client, server)
                return

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
