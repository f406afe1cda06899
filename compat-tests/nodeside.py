"""Running the real node-resque (npm, pinned in compat-tests/node/package-lock.json).

Every call runs ``node compat-tests/node/resque.js`` against the test's
private redis-server, namespace ``resque``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "resque.js"
RESULTS_KEY = "pyresque-test:node-results"
RELEASE_KEY = "pyresque-test:release"
INSTALL_HINT = (
    "the node-resque compat tests need Node.js 20 and npm (`apt-get install nodejs npm`) and the pinned "
    "packages: `cd compat-tests/node && npm ci` (dev/setup does both)"
)


def node_problem() -> str | None:
    """Why node-resque cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node not found"
    probe = subprocess.run(["node", "-e", 'require("node-resque")'], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"node-resque does not load: {probe.stderr.strip()[-300:]}"
    return None


@dataclass
class Node:
    """node-resque connected to one Redis URL (namespace ``resque``)."""

    redis_url: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REDIS_URL"] = self.redis_url
        env.pop("RESQUE_NAMESPACE", None)
        return env

    def run(self, *args: str, timeout_s: float = 60) -> str:
        proc = subprocess.run(["node", str(SCRIPT), *args], cwd=NODE_DIR, capture_output=True, text=True,
                              timeout=timeout_s, env=self.env())
        if proc.returncode != 0:
            raise AssertionError(f"node resque.js {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def enqueue(self, queue: str, klass: str, args: list[Any]) -> str:
        """Queue#enqueue; the exact payload node-resque pushed."""
        return json.loads(self.run("enqueue", queue, klass, json.dumps(args)))

    def enqueue_at(self, ts: int, queue: str, klass: str, args: list[Any]) -> None:
        self.run("enqueue-at", str(ts), queue, klass, json.dumps(args))

    def work(self, queues: str, count: int) -> None:
        """A node-resque Worker until ``count`` jobs ended, then a clean end()."""
        self.run("work", queues, str(count))

    def retry_failed(self, index: int) -> None:
        self.run("retry-failed", str(index))

    def failed(self) -> list[dict[str, Any]]:
        return json.loads(self.run("failed"))

    def serve(self, queues: str, command: str = "serve") -> subprocess.Popen:
        """A node-resque Worker (``serve-multi``: a MultiWorker) running until terminated; returns once it is polling."""
        proc = subprocess.Popen(["node", str(SCRIPT), command, queues], cwd=NODE_DIR, env=self.env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, start_new_session=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            stop(proc)
            raise AssertionError(f"node worker did not start: {line!r}")
        return proc


def stop(proc: subprocess.Popen) -> int:
    """End a ``serve`` worker cleanly (SIGTERM: node-resque's end(), which unregisters it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode
