"""Jobs that run past their timeout, for tests/test_worker_timeouts.py.

Imported by ``python -m pyresque work --import pyjobs_timeouts`` (alongside
pyjobs_signals, whose ``Quick`` job shows the worker going on). Like those
jobs, these report to Redis lists outside the namespace (``t:*``):
``t:started`` gets ``tag:pid`` when a job starts, ``t:on_failure`` gets
``Class:exception:pid`` when an ``on_failure`` hook runs, ``t:caught`` gets
``tag`` each time a job swallows its :class:`~pyresque.JobTimeout`.
"""

from __future__ import annotations

import os
import signal
import time

import pyresque
from pyresque.failure import exception_name
from pyjobs_signals import _redis

TIMEOUT_S = 0.5
# A job that is never interrupted still ends, so a broken timeout fails a
# test instead of hanging it.
STUCK_FOR_S = 30.0


def _started(tag: str) -> None:
    _redis().rpush("t:started", f"{tag}:{os.getpid()}")


def _on_failure(name: str):
    def hook(exc, *args):
        _redis().rpush("t:on_failure", f"{name}:{exception_name(exc)}:{os.getpid()}")

    return hook


def stuck_here(limit_s: float = STUCK_FOR_S) -> None:
    """Where a stuck job spends its time (so its backtrace names this)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.01)


@pyresque.job("Sleepy", timeout=TIMEOUT_S)
def sleepy(tag):
    """Runs far past its own timeout."""
    _started(tag)
    stuck_here()
    _redis().rpush("t:done", tag)


sleepy.on_failure(_on_failure("Sleepy"))


@pyresque.job("Slow")
def slow(tag):
    """Like Sleepy but with no timeout of its own: the worker's applies."""
    _started(tag)
    stuck_here()
    _redis().rpush("t:done", tag)


slow.on_failure(_on_failure("Slow"))


@pyresque.job("Stubborn", timeout=TIMEOUT_S)
def stubborn(tag, mode):
    """Catches its JobTimeout and carries on.

    ``ignore-term``: also ignores SIGTERM and swallows every JobTimeout, so
    only its worker's SIGKILL ends it. ``catch-once``: swallows the first
    only, so the JobTimeout its worker's SIGTERM raises ends it.
    """
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _started(tag)
    caught = 0
    deadline = time.monotonic() + STUCK_FOR_S
    while time.monotonic() < deadline:
        try:
            stuck_here(deadline - time.monotonic())
        except pyresque.JobTimeout:
            if mode == "catch-once" and caught:
                raise
            caught += 1
            _redis().rpush("t:caught", tag)
    _redis().rpush("t:done", tag)


stubborn.on_failure(_on_failure("Stubborn"))
