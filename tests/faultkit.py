"""Injecting faults into a real Redis, for the fault tests and the soak.

* :class:`RedisServer`: a redis-server of the test's own on a fixed port,
  which can be stopped, restarted (keeping its data with AOF on), or frozen
  with SIGSTOP: a server that accepts connections and never answers.
* :class:`Proxy`: a TCP proxy in front of it that can swallow the reply to
  one command and cut the connection, as a restart or a network cut does
  after Redis ran a command but before its reply arrived.
* :class:`UnacceptingServer`: a port whose accept queue is full, so a
  connect hangs (as behind a firewall that drops SYNs).
* :class:`SentinelCluster`: a primary, a replica and three Sentinels on
  loopback, with ways to fail the primary over and wait until the Sentinels
  agree again.

Nothing here is mocked: the worker under test talks RESP to a real server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import redis as redis_py

from testsupport import free_port, wait_until

LOOPBACK = "127.0.0.1"


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


def sentinel_binary() -> str | None:
    """The ``redis-sentinel`` executable, if installed."""
    return shutil.which("redis-sentinel")


class SentinelCluster:
    """A primary, a replica and three Sentinels monitoring them as ``service``.

    Quorum 2, ``down-after-milliseconds`` 1000, a short failover timeout:
    a killed primary is replaced within a few seconds. ``start`` returns
    once every Sentinel sees the replica and the other two Sentinels, so a
    failover can happen; ``stop`` kills everything and removes the directory.
    """

    QUORUM = 2
    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 3000

    def __init__(self, service: str = "mymaster", down_after_ms: int = DOWN_AFTER_MS) -> None:
        self.service = service
        self.down_after_ms = down_after_ms
        self.dir = Path(tempfile.mkdtemp(prefix="pyresque-sentinel-"))
        ports: list[int] = []
        while len(ports) < 5:
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.redis_ports, self.sentinel_ports = ports[:2], ports[2:]
        self.procs: dict[int, subprocess.Popen] = {}
        self._clients: dict[int, redis_py.Redis] = {}

    # Addresses ------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL of the service, database 0."""
        hosts = ",".join(f"{LOOPBACK}:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(LOOPBACK, p) for p in self.sentinel_ports]

    def client(self, port: int) -> redis_py.Redis:
        """A plain client for the Redis or Sentinel on ``port`` (closed by ``stop``)."""
        if port not in self._clients:
            self._clients[port] = redis_py.Redis(LOOPBACK, port, socket_timeout=2, socket_connect_timeout=2)
        return self._clients[port]

    def primary_port(self, sentinel_port: int | None = None) -> int | None:
        """The primary's port as one Sentinel reports it (None if unreachable)."""
        try:
            reply = self.client(sentinel_port or self.sentinel_ports[0]).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        except redis_py.RedisError:
            return None
        return int(reply[1]) if reply else None

    def role(self, port: int) -> str | None:
        try:
            return self.client(port).execute_command("ROLE")[0].decode()
        except redis_py.RedisError:
            return None

    # Lifecycle ------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> "SentinelCluster":
        primary, replica = self.redis_ports
        self._redis(primary)
        self._redis(replica, "--replicaof", LOOPBACK, str(primary))
        wait_until(lambda: self._link_up(replica), timeout_s, "the replica to sync with the primary")
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind {LOOPBACK}\ndir {self.dir}\n"
                f"sentinel monitor {self.service} {LOOPBACK} {primary} {self.QUORUM}\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} {self.FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
            self._spawn(port, [sentinel_binary() or "redis-sentinel", str(conf), "--loglevel", "warning"])
        self.wait_settled(primary, timeout_s)
        self.wait_replica_known(timeout_s)
        return self

    def wait_settled(self, primary: int, timeout_s: float = 30.0) -> None:
        """Until every Sentinel names ``primary``, sees the two others, and ``primary`` is a master."""
        def settled() -> bool:
            for port in self.sentinel_ports:
                try:
                    state = self.client(port).sentinel_master(self.service)
                except redis_py.RedisError:
                    return False
                if int(state["port"]) != primary or state["num-other-sentinels"] < 2 or state["is_sdown"]:
                    return False
            return self.role(primary) == "master"
        wait_until(settled, timeout_s, f"the Sentinels to agree on the primary at port {primary}", step_s=0.1)

    def wait_replica_known(self, timeout_s: float = 30.0) -> None:
        """Until every Sentinel knows a live replica (needed to fail over)."""
        def known() -> bool:
            for port in self.sentinel_ports:
                try:
                    replicas = self.client(port).sentinel_slaves(self.service)
                except redis_py.RedisError:
                    return False
                if not any(not r["is_sdown"] and r.get("master-link-status") == "ok" for r in replicas):
                    return False
            return True
        wait_until(known, timeout_s, "every Sentinel to know the replica", step_s=0.1)

    def kill_primary(self) -> int:
        """SIGKILL the current primary (a crash); its port."""
        port = self.primary_port()
        assert port is not None, "no primary to kill"
        proc = self.procs[port]
        proc.kill()
        proc.wait(10)
        return port

    def wait_failover(self, old_primary: int, timeout_s: float = 30.0) -> int:
        """Until every Sentinel names a primary other than ``old_primary`` that answers as master; its port."""
        def new_primary() -> int | None:
            ports = {self.primary_port(p) for p in self.sentinel_ports}
            if len(ports) != 1:
                return None
            (port,) = ports
            return port if port not in (None, old_primary) and self.role(port) == "master" else None
        return wait_until(new_primary, timeout_s, f"a failover away from port {old_primary}", step_s=0.1)

    def restore(self, port: int, timeout_s: float = 30.0) -> None:
        """Start the server killed on ``port`` again, as a replica of the current
        primary, and wait until every Sentinel knows it: ready for another failover."""
        primary = self.primary_port()
        assert primary is not None and primary != port
        self._redis(port, "--replicaof", LOOPBACK, str(primary))
        wait_until(lambda: self._link_up(port), timeout_s, "the old primary to sync as a replica")
        self.wait_replica_known(timeout_s)

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    # Internals ------------------------------------------------------------
    def _redis(self, port: int, *extra: str) -> None:
        self._spawn(port, ["redis-server", "--port", str(port), "--bind", LOOPBACK, "--save", "",
                           "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning",
                           "--dbfilename", f"dump-{port}.rdb", "--repl-diskless-sync-delay", "0", *extra])
        wait_until(lambda: self.role(port) is not None, 10, f"redis-server on port {port}", step_s=0.05)

    def _spawn(self, port: int, cmd: list[str]) -> None:
        log = open(self.dir / f"{port}.log", "wb")
        self.procs[port] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _link_up(self, replica: int) -> bool:
        try:
            return self.client(replica).info("replication").get("master_link_status") == "up"
        except redis_py.RedisError:
            return False
