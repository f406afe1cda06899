"""Jobs and worker hooks for the real-process worker tests (tests/test_worker_*.py).

Imported by ``python -m pyresque work --import pyjobs_signals``. Everything a
job or hook does is written to Redis lists outside the ``resque:`` namespace
(``t:*``), so a test can watch a worker from outside without sleeping.
"""

from __future__ import annotations

import os
import signal
import time

import redis as redis_py

import pyresque
from pyresque import registry as _registry

_client: redis_py.Redis | None = None


def _redis() -> redis_py.Redis:
    # Connect lazily, in whichever process runs the job (a forked child too).
    global _client
    if _client is None or _client.connection_pool.pid != os.getpid():
        _client = redis_py.Redis.from_url(os.environ["REDIS_URL"])
    return _client


def _wait_for_release(tag: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not _redis().exists(f"t:release:{tag}"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"t:release:{tag} never set")
        time.sleep(0.01)


@pyresque.job("Block")
def block(tag):
    """Announce ``tag:pid`` in t:started, run until t:release:<tag> exists, then t:done."""
    _redis().rpush("t:started", f"{tag}:{os.getpid()}")
    _wait_for_release(tag)
    _redis().rpush("t:done", tag)


@pyresque.job("Quick")
def quick(tag):
    _redis().rpush("t:done", tag)


@pyresque.job("IgnoreTerm")
def ignore_term(tag):
    """A job that shrugs off SIGTERM (only SIGKILL stops it)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _redis().rpush("t:started", f"{tag}:{os.getpid()}")
    _wait_for_release(tag)
    _redis().rpush("t:done", tag)


@pyresque.job("Boom")
def boom(tag):
    raise ValueError(f"boom {tag}")


def _hook(kind: str):
    def hook(*args):
        _redis().rpush("t:hooks", f"{kind}:{os.getpid()}")

    hook.__name__ = f"record_{kind}"
    return hook


# PYJOBS_NO_HOOKS=1 leaves the worker hooks out: a before_fork hook turns
# pre-forking off, and tests/test_worker_prefork.py needs it on.
if not os.environ.get("PYJOBS_NO_HOOKS"):
    for _kind in ("before_first_fork", "before_fork", "after_fork", "before_pause",
                  "after_pause", "queue_empty", "worker_exit", "shutdown"):
        _registry.default_registry.add_worker_hook(_kind, _hook(_kind))
