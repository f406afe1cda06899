"""Running the real Ruby Resque from the compat tests.

Every call goes through ``bundle exec`` in ruby-fixtures/, against the
test's private redis-server and namespace.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "ruby-fixtures"
RESULTS_KEY = "pyresque-test:ruby-results"
INSTALL_HINT = (
    "the compat tests need Ruby, Bundler and the gems in ruby-fixtures/: "
    "`apt-get install ruby ruby-dev ruby-bundler build-essential` then "
    "`cd ruby-fixtures && bundle config set --local path vendor/bundle && bundle install`"
)


def default_resque_lib() -> Path | None:
    """``PYRESQUE_RESQUE_LIB``: another Resque's lib/ for every Ruby the compat
    tests run, e.g. ``ruby-fixtures/gems/resque-3.2.0/lib`` to run them all
    against Resque 3.2.0 (compat-tests/resque32.py)."""
    value = os.environ.get("PYRESQUE_RESQUE_LIB")
    return Path(value).resolve() if value else None


def ruby_failure_fields() -> list[str]:
    """The fields of a failure record the Ruby under test writes: 3.1+ adds ``failure_id``."""
    fields = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    return fields + ["failure_id"] if resque_version(default_resque_lib()) >= (3, 1) else fields


@functools.lru_cache(maxsize=None)
def _loaded_resque(lib: Path | None) -> tuple[str, str]:
    """(Resque::VERSION, the file it came from) as Ruby loads it with ``lib`` ahead of the bundle."""
    load = [] if lib is None else ["-I", str(lib)]
    probe = subprocess.run(
        ["bundle", "exec", "ruby", *load, "-e",
         'require "resque"; require "active_job"; puts Resque::VERSION, $LOADED_FEATURES.grep(%r{/resque/version\\.rb$}).first'],
        cwd=FIXTURES, capture_output=True, text=True, timeout=120,
    )
    if probe.returncode != 0:
        raise RuntimeError(f"the gems do not load: {probe.stderr.strip()[-500:]}")
    version, source = (probe.stdout.splitlines() + ["", ""])[:2]
    return version, source


def resque_version(lib: Path | None) -> tuple[int, ...]:
    """The version of the Resque Ruby actually runs with ``lib`` (not what its path says)."""
    return tuple(int(x) for x in _loaded_resque(lib)[0].split(".")[:2])


def ruby_problem() -> str | None:
    """Why Ruby Resque cannot run here, or None when it can."""
    if shutil.which("bundle") is None or shutil.which("ruby") is None:
        return "ruby/bundle not found"
    lib = default_resque_lib()
    if lib is not None and not (lib / "resque.rb").is_file():
        return f"PYRESQUE_RESQUE_LIB={lib} holds no resque.rb: point it at an unpacked Resque gem's lib/"
    try:
        version, source = _loaded_resque(lib)
    except RuntimeError as exc:
        return str(exc)
    if lib is not None and not source.startswith(str(lib) + "/"):
        return f"PYRESQUE_RESQUE_LIB={lib} is set, but Ruby loaded Resque {version} from {source}"
    return None


@dataclass
class Ruby:
    """Ruby Resque connected to one Redis URL and namespace."""

    redis_url: str
    namespace: str | None = None
    # Another Resque's lib/ loaded ahead of the bundled one (resque32.py: 3.2.0 from its unpacked gem).
    resque_lib: Path | None = field(default_factory=default_resque_lib)

    def ruby(self, env: dict[str, str] | None = None) -> list[str]:
        """``bundle exec ruby``, with -I for ``resque_lib`` unless ``env`` picks
        another set of gems (BUNDLE_GEMFILE), which brings its own Resque."""
        other_gems = env is not None and "BUNDLE_GEMFILE" in env
        lib = [] if self.resque_lib is None or other_gems else ["-I", str(self.resque_lib)]
        return ["bundle", "exec", "ruby", *lib]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["REDIS_URL"] = self.redis_url
        env.pop("RESQUE_NAMESPACE", None)
        if self.namespace:
            env["RESQUE_NAMESPACE"] = self.namespace
        env.update(extra)
        return env

    def run(self, script: str, *args: str, stdin: str = "", timeout_s: float = 120, **env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [*self.ruby(env), f"scripts/{script}", *args],
            cwd=FIXTURES, input=stdin, capture_output=True, text=True,
            timeout=timeout_s, env=self.env(**env),
        )
        if proc.returncode != 0:
            raise AssertionError(f"ruby {script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def eval(self, code: str) -> Any:
        """The value of Ruby ``code`` (last expression), through JSON."""
        return json.loads(self.run("eval.rb", stdin=code).stdout)

    def enqueue(self, queue: str, klass: str, args: list[Any]) -> str:
        """Enqueue from Ruby; returns the exact payload Ruby pushed."""
        return json.loads(self.run("enqueue.rb", queue, klass, stdin=json.dumps(args)).stdout)

    def work(self, queues: str, **env: str) -> subprocess.CompletedProcess:
        """Run a real Ruby worker until ``queues`` are drained."""
        return self.run("work.rb", QUEUES=queues, **env)

    def dump(self) -> dict[str, Any]:
        return json.loads(self.run("dump.rb").stdout)

    def spawn(self, script: str, *args: str, **env: str) -> subprocess.Popen:
        """Start a Ruby script in the background (e.g. a long-running worker)."""
        return subprocess.Popen(
            [*self.ruby(env), f"scripts/{script}", *args],
            cwd=FIXTURES, env=self.env(**env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
