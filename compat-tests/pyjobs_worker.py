"""Python jobs for the worker/web compat tests, under the Ruby fixtures' wire names.

Imported by ``python -m pyresque work --import pyjobs_worker``. Jobs record
what they received in the same list the Ruby jobs use (outside any
namespace), tagged ``"side": "python"``, so a test can tell who ran what.
"""

from __future__ import annotations

import json
import os
import time

import redis as redis_py

import pyresque

RESULTS_KEY = "pyresque-test:ruby-results"

_client: redis_py.Redis | None = None


def _redis() -> redis_py.Redis:
    # Connect lazily, in whichever process runs the job (a forked child).
    global _client
    if _client is None or _client.connection_pool.pid != os.getpid():
        _client = redis_py.Redis.from_url(os.environ["REDIS_URL"])
    return _client


def record(name: str, args: list) -> None:
    _redis().rpush(RESULTS_KEY, json.dumps({"class": name, "args": args, "pid": os.getpid(), "side": "python"}))


@pyresque.job("Recorder", queue="record")
def recorder(*args):
    record("Recorder", list(args))


@pyresque.job("Mailers::Welcome", queue="mail")
def welcome(*args):
    record("Mailers::Welcome", list(args))


@pyresque.job("Exploder", queue="record")
def exploder(*args):
    raise ArgumentError(f"exploded with {list(args)!r}")


class ArgumentError(Exception):
    """Named like Ruby's, so records read the same on both sides."""


@pyresque.job("Waiter", queue="record")
def waiter(release_key, *args):
    """Runs until ``release_key`` is set (outside the namespace)."""
    record("Waiter", list(args))
    while not _redis().get(release_key):
        time.sleep(0.01)


@pyresque.job("Flaky", queue="record")
def flaky(gate_key, *args):
    """Fails until ``gate_key`` is set, then records: a job worth retrying."""
    if not _redis().get(gate_key):
        raise RuntimeError(f"gate {gate_key} closed")
    record("Flaky", list(args))


@pyresque.job("HookedWaiter", queue="record")
class HookedWaiter:
    """A Waiter whose on_failure hook records the exception it was given."""

    @staticmethod
    def perform(release_key, *args):
        record("HookedWaiter", list(args))
        while not _redis().get(release_key):
            time.sleep(0.01)

    @staticmethod
    def on_failure_record(exc, release_key, *args):
        from pyresque.failure import exception_name

        _redis().rpush(RESULTS_KEY, json.dumps({"class": "HookedWaiter", "hook": "on_failure",
                                                "exception": exception_name(exc), "args": list(args),
                                                "pid": os.getpid(), "side": "python"}))


@pyresque.job("Ticker", queue="record")
def ticker(release_key, counter_key, *args):
    """Counts its loops in ``counter_key`` until released, then records ``done``."""
    record("Ticker", list(args))
    while not _redis().get(release_key):
        _redis().incr(counter_key)
        time.sleep(0.01)
    record("Ticker", list(args) + ["done"])


@pyresque.job("Quitter", queue="record")
def quitter(code):
    """Ends the process running it with ``os._exit(code)``, raising nothing."""
    os._exit(code)


@pyresque.job("ChainedExploder", queue="record")
def chained_exploder(*args):
    """Fails with a chained exception: its failure record's backtrace shows the cause."""
    try:
        {}[f"missing {args!r}"]
    except KeyError as exc:
        raise ArgumentError("exploded from a KeyError") from exc
