"""The benchmark's job, ``BenchNoop``, as pyresque workers run it.

Ruby's twin lives in ruby-fixtures/lib/bench_jobs.rb, so one payload works
for either worker:

* ``{"class":"BenchNoop","args":[]}`` does nothing (the throughput load);
* ``["stamp", KEY, enqueued_at]`` RPUSHes ``{"t": <now>, "enq": enqueued_at,
  "pid": <pid>}`` to the un-namespaced list KEY: the start/end markers of a
  throughput run and the pickup-latency probes. ``t`` is read before
  anything else, so the job's own Redis connect is not part of the latency.
* ``["barrier", KEY, N]`` INCRs the un-namespaced counter KEY, then waits
  until it reaches N: N of them at the head of a queue hold N workers until
  all N have started, so a run of several workers is timed only once every
  one of them is working (a worker is held by the first it takes).

Times are Unix epoch seconds (UTC, CLOCK_REALTIME), which Ruby's
``Time.now.to_f`` reads from the same clock.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis as redis_py

import pyresque

# Where the runner tells jobs which Redis to record on (set for both workers).
REDIS_URL_ENV = "BENCH_REDIS_URL"
BARRIER_TIMEOUT_S = 60.0

_client: redis_py.Redis | None = None
_client_pid = 0


def _redis() -> redis_py.Redis:
    # One connection per process: a forked child must not share its parent's socket.
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = redis_py.Redis.from_url(os.environ[REDIS_URL_ENV])
        _client_pid = os.getpid()
    return _client


@pyresque.job("BenchNoop", queue="bench")
def bench_noop(*args: Any) -> None:
    if not args:
        return
    now_s = time.time()
    if args[0] == "stamp":
        record = {"t": now_s, "enq": args[2] if len(args) > 2 else None, "pid": os.getpid()}
        _redis().rpush(args[1], json.dumps(record))
    elif args[0] == "barrier":
        _redis().incr(args[1])
        deadline = now_s + BARRIER_TIMEOUT_S
        while int(_redis().get(args[1]) or 0) < int(args[2]):
            if time.time() > deadline:
                raise RuntimeError(f"barrier {args[1]}: fewer than {args[2]} workers started")
            time.sleep(0.001)
