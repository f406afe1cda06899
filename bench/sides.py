"""How the benchmark starts each side's worker and Ruby's enqueue loop.

Both workers run as separate processes started the way a user starts them
(``python -m pyresque work`` and Ruby's ``rake resque:work`` equivalent,
ruby-fixtures/scripts/bench_work.rb), with the same queue, the same job
payloads and the same environment, so they are measured the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, IO

from bench.jobs import REDIS_URL_ENV

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "ruby-fixtures"
QUEUE = "bench"
SIDES = ("pyresque", "ruby")


@dataclass
class Worker:
    """A running worker process and where its output goes."""

    side: str
    proc: subprocess.Popen
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        """Ask for a graceful shutdown (QUIT, as for Resque), kill if it will not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self.log.close()
        return self.proc.returncode


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("QUEUE", "QUEUES", "INTERVAL", "FORK_PER_JOB", "RESQUE_NAMESPACE", "VERBOSE", "VVERBOSE"):
        env.pop(name, None)
    env.update({"REDIS_URL": redis_url, REDIS_URL_ENV: redis_url, "QUEUES": QUEUE})
    env.update(extra)
    return env


def start_worker(side: str, redis_url: str, log_path: Path, *, interval_s: float | None = None,
                 fork: bool | None = None, queues: str = QUEUE, count: int = 1,
                 jobs_per_child: int | None = None) -> Worker:
    """Start ``side``'s worker on ``queues`` (the bench queue unless told, e.g. ``*``).

    ``interval_s=None`` and ``fork=None`` leave that side's defaults alone
    (Ruby: 5 s and fork per job). ``interval_s=0`` drains the queue and exits.
    ``count`` and ``jobs_per_child`` are pyresque's ``--count`` and
    ``--jobs-per-child``; Ruby has neither flag (start N Ruby workers instead).
    """
    if side == "ruby" and (count != 1 or jobs_per_child is not None):
        raise ValueError("a Ruby worker is one process running a fresh child per job")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    if side == "ruby":
        extra: dict[str, str] = {}
        if interval_s is not None:
            extra["INTERVAL"] = _number(interval_s)
        if fork is False:
            extra["FORK_PER_JOB"] = "false"
        argv = ["bundle", "exec", "ruby", "scripts/bench_work.rb"]
        cwd, env = FIXTURES, worker_env(redis_url, QUEUES=queues, **extra)
    elif side == "pyresque":
        # Quiet, as a Ruby worker is by default (it logs jobs only with VERBOSE).
        argv = [sys.executable, "-m", "pyresque", "work", "-q", queues, "--import", "bench.jobs", "--log-level", "warning"]
        if interval_s is not None:
            argv += ["-i", _number(interval_s)]
        if fork is not None:
            argv.append("--fork" if fork else "--no-fork")
        if count != 1:
            argv += ["--count", str(count)]
        if jobs_per_child is not None:
            argv += ["--jobs-per-child", str(jobs_per_child)]
        cwd, env = ROOT, worker_env(redis_url)
    else:
        raise ValueError(f"unknown side {side!r}")
    log.write((" ".join(argv) + "\n").encode())
    log.flush()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return Worker(side, proc, log)


def ruby_script(script: str, *args: str, redis_url: str, timeout_s: float) -> Any:
    """Run a ruby-fixtures script to completion and return the JSON it printed."""
    proc = subprocess.run(
        ["bundle", "exec", "ruby", f"scripts/{script}", *args],
        cwd=FIXTURES, env=worker_env(redis_url), capture_output=True, text=True, timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ruby {script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ruby_versions(redis_url: str) -> dict[str, str]:
    code = 'require "./lib/fixtures"; puts JSON.generate("ruby" => RUBY_VERSION, "resque" => Resque::VERSION)'
    proc = subprocess.run(["bundle", "exec", "ruby", "-e", code], cwd=FIXTURES, env=worker_env(redis_url),
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot run Ruby Resque: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(pid: int) -> dict[str, int]:
    """Memory of a worker: its own RSS, and RSS and PSS of it plus every descendant.

    RSS counts a page once per process that maps it, so a forked child whose
    pages are still shared copy-on-write with its parent doubles the summed
    RSS without using that memory. PSS divides each shared page among the
    processes sharing it: the tree's PSS is what the worker really costs.
    """
    tree = _descendants(pid)
    return {
        "worker_rss": _status_bytes(pid, "VmRSS:"),
        "tree_rss": sum(_status_bytes(p, "VmRSS:") for p in tree),
        "tree_pss": sum(_pss_bytes(p) for p in tree),
        "processes": len(tree),
    }


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (forked children included)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                # The command name may contain spaces: fields restart after its ')'.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _status_bytes(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def wait_exit(worker: Worker, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while worker.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not worker.running()
