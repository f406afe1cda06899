"""Real processes for the worker/web compat tests: resque-web, Python and Ruby workers.

* :class:`ResqueWeb` runs the real ``resque-web`` (Sinatra on puma) from
  ruby-fixtures/ on a free port and reads its pages with urllib.
* :func:`py_worker` / :func:`ruby_worker` start long-running workers in
  their own process group, so a test can SIGKILL a worker *and* its forked
  child at once; :func:`stop` always cleans up.
"""

from __future__ import annotations

import contextlib

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from rubyside import FIXTURES, default_resque_lib, resque_version
from testsupport import free_port, wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = socket.gethostname()


class ResqueWeb:
    """``resque-web -F -L`` on 127.0.0.1:<free port>, against one Redis and namespace."""

    def __init__(self, redis_url: str, namespace: str = "resque", config: Path | None = None,
                 resque_lib: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.config = config
        self.extra_env = dict(env or {})  # e.g. BUNDLE_GEMFILE for another set of gems
        # Another Resque's lib/ (and its bin/resque-web) instead of the bundled one; not
        # with another set of gems, which brings its own Resque.
        if resque_lib is None and "BUNDLE_GEMFILE" not in self.extra_env:
            resque_lib = default_resque_lib()
        self.resque_lib = resque_lib
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app_dir = tempfile.mkdtemp(prefix="pyresque-web-")
        self.proc: subprocess.Popen | None = None
        self._log = open(os.path.join(self.app_dir, "web.log"), "w+")

    def start(self) -> "ResqueWeb":
        env = dict(os.environ)
        env.pop("RESQUECONFIG", None)
        if self.config is not None:
            env["RESQUECONFIG"] = str(self.config)
        env.update(self.extra_env)
        command = ["bundle", "exec", "resque-web"]
        if self.resque_lib is not None:
            command = ["bundle", "exec", "ruby", "-I", str(self.resque_lib), str(self.resque_lib.parent / "bin" / "resque-web")]
        self.proc = subprocess.Popen(
            [*command, "-F", "-L", "-p", str(self.port), "-o", "127.0.0.1",
             "-r", self.redis_url, "-N", self.namespace, "--app-dir", self.app_dir],
            cwd=FIXTURES, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"resque-web exited {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/overview", timeout=2) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, ConnectionError, OSError):
                return False

        wait_until(answers, 60, "resque-web to answer HTTP", step_s=0.05)
        return self

    @contextlib.contextmanager
    def running(self) -> Iterator["ResqueWeb"]:
        """Started for the ``with`` block, stopped after it whatever happens."""
        try:
            yield self.start()
        finally:
            self.stop()

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:]

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc, signal.SIGTERM)
            self.proc = None
        self._log.close()
        shutil.rmtree(self.app_dir, ignore_errors=True)

    # HTTP ------------------------------------------------------------------
    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> str:
        """The body of a 200 answer (redirects followed); anything else fails the test."""
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                     method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200, f"{path}: HTTP {resp.status}"
                return resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read().decode("utf-8", "replace")
            raise AssertionError(f"{path}: HTTP {exc.code}\n{text_of(body)[:3000]}\n--- log:\n{self.log()}") from None

    def get(self, path: str, xhr: bool = False) -> str:
        return self.request(path, headers={"X-Requested-With": "XMLHttpRequest"} if xhr else None)

    @property
    def post_only(self) -> bool:
        """Whether retry and remove of one failure are POST-only (resque-web 3.2+)."""
        return resque_version(self.resque_lib) >= (3, 2)

    def act(self, path: str, xhr: bool = False) -> str:
        """Retry or remove one failure as resque-web's own page does: the GET its
        3.0 links send, the POST its 3.2 forms send."""
        headers = {"X-Requested-With": "XMLHttpRequest"} if xhr else None
        return self.request(path, data=b"" if self.post_only else None, headers=headers)

    def retry_control(self, path: str) -> str:
        """The Retry control the Failed page shows for ``path``: a link in 3.0, a form in 3.2."""
        if self.post_only:
            return f'<form method="POST" action="{path}" class="retry">'
        return f'<a href="{path}" rel="retry">Retry</a>'

    def post(self, path: str) -> str:
        return self.request(path, data=b"")


def text_of(page: str) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def quote_id(worker_id: str) -> str:
    return urllib.parse.quote(worker_id, safe=":,")


# Workers ---------------------------------------------------------------------
def py_worker(redis_url: str, queues: str, *, interval: str = "0.1", log_dir: str | None = None,
              **env: str) -> subprocess.Popen:
    """``python -m pyresque work`` with the pyjobs_worker jobs, in its own process group."""
    full_env = dict(os.environ)
    full_env.update(REDIS_URL=redis_url, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    for name in ("RESQUE_NAMESPACE", "FAILURE_BACKEND", "QUEUES", "QUEUE", "INTERVAL"):
        full_env.pop(name, None)
    full_env.update(env)
    return _spawn([sys.executable, "-m", "pyresque", "work", "-q", queues, "-i", interval, "--import", "pyjobs_worker"],
                  cwd=str(HERE), env=full_env, log_dir=log_dir)


def ruby_worker(redis_url: str, queues: str, *, interval: str = "0.1", log_dir: str | None = None,
                script: str = "work.rb", **env: str) -> subprocess.Popen:
    """A real ``Resque::Worker`` (scripts/work.rb, or ``script``) polling every ``interval`` s."""
    full_env = dict(os.environ)
    for name in ("RESQUE_NAMESPACE", "FAILURE_BACKEND"):
        full_env.pop(name, None)
    full_env.update(REDIS_URL=redis_url, QUEUES=queues, INTERVAL=interval)
    full_env.update(env)
    lib = default_resque_lib() if "BUNDLE_GEMFILE" not in env else None  # another gem set: its own Resque
    ruby = ["bundle", "exec", "ruby"] + (["-I", str(lib)] if lib else [])
    return _spawn([*ruby, f"scripts/{script}"], cwd=str(FIXTURES), env=full_env, log_dir=log_dir)


def _spawn(argv: list[str], cwd: str, env: dict[str, str], log_dir: str | None) -> subprocess.Popen:
    out = open(os.path.join(log_dir, f"proc-{os.getpid()}-{len(os.listdir(log_dir))}.log"), "w") if log_dir else None
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out or subprocess.DEVNULL, stderr=out or subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        if out is not None:
            out.close()


def worker_id(proc: subprocess.Popen, queues: str) -> str:
    return f"{HOST}:{proc.pid}:{queues}"


def stop(proc: subprocess.Popen, sig: int = signal.SIGQUIT, timeout_s: float = 20) -> int:
    """Signal the worker, wait for it, and kill its whole group if it lingers."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(proc, signal.SIGKILL)
    return proc.returncode


def kill_hard(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its forked child together, as a crash or OOM would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


class Procs:
    """Processes a test started; every one is stopped at teardown."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.procs: list[subprocess.Popen] = []
        self.log_dir = tempfile.mkdtemp(prefix="pyresque-procs-")

    def py(self, queues: str, **kw: str) -> subprocess.Popen:
        proc = py_worker(self.redis_url, queues, log_dir=self.log_dir, **kw)
        self.procs.append(proc)
        return proc

    def ruby(self, queues: str, **kw: str) -> subprocess.Popen:
        proc = ruby_worker(self.redis_url, queues, log_dir=self.log_dir, **kw)
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(self.log_dir)):
            with open(os.path.join(self.log_dir, name)) as f:
                out.append(f"--- {name}\n{f.read()[-3000:]}")
        return "\n".join(out)

    def close(self) -> None:
        try:
            for proc in self.procs:
                if proc.poll() is None:
                    stop(proc, signal.SIGTERM, 10)
                else:
                    _kill_group(proc, signal.SIGKILL)
        finally:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __iter__(self) -> Iterator[subprocess.Popen]:
        return iter(self.procs)
