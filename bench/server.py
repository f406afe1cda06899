"""The benchmark's private redis-server: 127.0.0.1, a free port, no persistence."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import Any

import redis as redis_py

from testsupport import free_port, wait_until


class RedisServer:
    """One redis-server for the whole run, stopped on exit (use as a context manager)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: `apt-get install redis-server` (or run dev/setup)")
        self._workdir = tempfile.mkdtemp(prefix="pyresque-bench-redis-")
        self.port = free_port()
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis_py.Redis.from_url(self.url)
        try:
            wait_until(self._ready, 10, "redis-server to accept connections")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self._proc.poll() is not None:
            raise SystemExit(f"redis-server exited with {self._proc.returncode} (port {self.port} taken?)")
        try:
            return bool(self.client.ping())
        except redis_py.ConnectionError:
            return False

    @property
    def version(self) -> str:
        return str(self.client.info("server")["redis_version"])

    def flush(self) -> None:
        """An empty keyspace and zeroed command statistics for the next phase."""
        self.client.flushall()
        self.client.config_resetstat()

    def stop(self) -> None:
        self.client.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
