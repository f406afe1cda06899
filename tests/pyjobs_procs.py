"""Starting and watching real ``python -m pyresque work`` processes in tests.

Not a job module: helpers only. Every process is started in its own session
so teardown can kill the worker *and* any child it forked, by process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from testsupport import wait_until

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def env_for(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUEUES", "QUEUE", "INTERVAL", "COUNT", "PIDFILE", "BACKGROUND", "FORK_PER_JOB",
                        "TERM_CHILD", "GRACEFUL_TERM", "RESQUE_TERM_TIMEOUT", "RESQUE_PRE_SHUTDOWN_TIMEOUT",
                        "RESQUE_PROCLINE_PREFIX", "FAILURE_BACKEND", "RESQUE_NAMESPACE", "PYRESQUE_JOBS",
                        "MIN_INTERVAL", "MAX_INTERVAL", "BACKOFF_INTERVAL", "PYRESQUE_JOB_TIMEOUT")}
    env["REDIS_URL"] = redis_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra)
    return env


def pyresque_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyresque", *args]


class Procs:
    """The processes a test started; ``kill_all`` ends each by its own group."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []
        self.extra_pids: list[int] = []

    def worker(self, redis_url: str, *args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
        """``pyresque work --import pyjobs_signals ARGS`` in its own session."""
        cmd = pyresque_cmd("work", "--import", "pyjobs_signals", *args)
        return self.run(cmd, env or env_for(redis_url), **popen)

    def run(self, cmd: list[str], env: dict[str, str], **popen: Any) -> subprocess.Popen:
        popen.setdefault("stdout", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), start_new_session=True, **popen)
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for pid in self.extra_pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def title(pid: int) -> str:
    """The process title as ``ps`` and Ruby's prune see it."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def wait_title(pid: int, pattern: str, timeout_s: float = 10.0) -> re.Match:
    return wait_until(lambda: re.fullmatch(pattern, title(pid)), timeout_s, f"title of {pid} to match {pattern!r} (is {title(pid)!r})")


def started_pid(r: Any, tag: str, timeout_s: float = 10.0) -> int:
    """Wait for a Block/IgnoreTerm job ``tag`` to start; the pid that runs it."""
    def find() -> int | None:
        for item in r.lrange("t:started", 0, -1):
            name, _, pid = item.decode().rpartition(":")
            if name == tag:
                return int(pid)
        return None
    return wait_until(find, timeout_s, f"job {tag} to start")


def stop(proc: subprocess.Popen, sig: int = signal.SIGQUIT, timeout_s: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout_s)


def failures(r: Any, key: str = "resque:failed") -> list[dict]:
    import json

    return [json.loads(x) for x in r.lrange(key, 0, -1)]
