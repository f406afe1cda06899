"""Helpers shared by tests/, compat-tests/ and bench/ (never imported by pyresque)."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition", step_s: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Tests wait on conditions, never on fixed sleeps; ``what`` names the
    condition in the failure message when ``timeout_s`` runs out.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(step_s)


class Dashboard:
    """``python -m pyresque web`` (waitress) on a free loopback port, for tests and the benchmark.

    ``with Dashboard(redis_url) as web: web.base`` is its URL; ``web.get_json``
    and ``web.text`` read it, ``web.post`` sends a form with the CSRF token a
    browser would carry (read from ``token_page``).
    """

    def __init__(self, redis_url: str, *args: str, env: "dict[str, str] | None" = None) -> None:
        import os
        import sys
        from pathlib import Path

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        root = Path(__file__).resolve().parent
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PYRESQUE_WEB_") and k not in ("RESQUE_NAMESPACE", "FAILURE_BACKEND")}
        full_env.update(REDIS_URL=redis_url, PYTHONPATH=str(root), **(env or {}))
        self.argv = [sys.executable, "-m", "pyresque", "web", "--port", str(self.port), *args]
        self.env, self.cwd = full_env, str(root)
        self.proc: Any = None
        self.cookies = ""

    def __enter__(self) -> "Dashboard":
        import subprocess

        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"pyresque web exited: {self.proc.stderr.read().decode()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, 30, "pyresque web to listen", step_s=0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stderr.close()

    def _open(self, path: str, data: "bytes | None" = None) -> Any:
        import urllib.request

        req = urllib.request.Request(self.base + path, data=data, headers={"Cookie": self.cookies} if self.cookies else {})
        resp = urllib.request.urlopen(req, timeout=30)
        for header in resp.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0]
            if pair.startswith("pyresque_csrf="):
                self.cookies = pair
        return resp

    def text(self, path: str) -> str:
        with self._open(path) as resp:
            return resp.read().decode("utf-8")

    def get_json(self, path: str) -> Any:
        import json

        return json.loads(self.text(path))

    def post(self, path: str, fields: "dict[str, Any]", token_page: str = "/workers") -> str:
        import re
        import urllib.parse

        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', self.text(token_page)).group(1)
        body = urllib.parse.urlencode(dict(fields, csrf_token=token)).encode()
        with self._open(path, body) as resp:
            return resp.read().decode("utf-8")
