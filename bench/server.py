"""The benchmark's private redis-server: 127.0.0.1, a free port, no persistence."""

from __future__ import annotations

import os
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

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far (user + system)."""
        with open(f"/proc/{self._proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


class MachineLoad:
    """How much CPU other processes used while the benchmark ran.

    The machine's busy time (/proc/stat) minus what the benchmark itself used
    (this process, its waited-for children and grandchildren, the Redis
    server), averaged over the run, in CPUs. Anything well above zero means
    other work competed with the measurements and the numbers are noisy.
    """

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        import resource
        import time

        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        busy_s = (sum(cpu[:8]) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours_s = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + self.server.cpu_s()
        return time.monotonic(), busy_s, ours_s

    def other_cpus(self) -> float:
        now = self._sample()
        wall_s = now[0] - self._start[0]
        other_s = (now[1] - self._start[1]) - (now[2] - self._start[2])
        return max(0.0, other_s / wall_s) if wall_s > 0 else 0.0
