"""Scheduler processes for the compat tests: pyresque's and resque-scheduler's.

Both start in their own process group (see webside), log to the test's
log directory, and are stopped by :class:`webside.Procs` at teardown.
"""

from __future__ import annotations

import os
import subprocess
import sys

from rubyside import FIXTURES
from webside import HERE, ROOT, Procs


def _spawn_logged(procs: Procs, argv: list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen:
    log_path = os.path.join(procs.log_dir, f"scheduler-{len(procs.procs)}.log")
    with open(log_path, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    procs.procs.append(proc)
    return proc


def log_of(proc: subprocess.Popen) -> str:
    """What a scheduler started here has logged so far."""
    with open(proc.log_path) as f:  # type: ignore[attr-defined]
        return f.read()


def py_scheduler(procs: Procs, *args: str, **env: str) -> subprocess.Popen:
    """``python -m pyresque scheduler`` with the pyjobs_worker jobs registered."""
    full_env = dict(os.environ)
    full_env.update(REDIS_URL=procs.redis_url, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    full_env.pop("RESQUE_NAMESPACE", None)
    full_env.update(env)
    return _spawn_logged(procs, [sys.executable, "-m", "pyresque", "scheduler", "--import", "pyjobs_worker", *args],
                         str(HERE), full_env)


def ruby_scheduler(procs: Procs, **env: str) -> subprocess.Popen:
    """The real resque-scheduler loop (scripts/scheduler.rb)."""
    full_env = dict(os.environ)
    full_env.pop("RESQUE_NAMESPACE", None)
    full_env.update(REDIS_URL=procs.redis_url)
    full_env.update(env)
    return _spawn_logged(procs, ["bundle", "exec", "ruby", "scripts/scheduler.rb"], str(FIXTURES), full_env)
