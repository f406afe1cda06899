"""How cost grows with the work: a ``*`` worker over many queues, and several workers.

* ``*`` worker over K queues: K names in the ``queues`` set, jobs only in
  the one that sorts last, so a worker that tries its queues in order (Ruby
  reserves in ``Resque.queues.sort`` order) passes K - 1 empty queues for
  every job. Throughput uses the marker method of
  :func:`measure.drain_rate` with one in-process worker in drain mode;
  pickup uses :func:`measure.pickup_latency` against an idle worker at its
  default settings, probes going to that last queue.
* N workers on one queue: ``pyresque work --count N`` (its supervisor ends
  when its children have drained the queue and exited 0) and, for Ruby, N
  ``bench_work.rb`` processes, as ``rake resque:workers COUNT=N`` starts
  them. N barrier jobs at the head of the queue hold each worker until all
  N have started; then a start marker records when it ran. The rate is the
  jobs / (the moment ``stat:processed`` reaches the total, polled every
  2 ms, minus the start marker's time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench import measure, sides
from bench.server import RedisServer
from pyresque import Resque
from testsupport import wait_until

KEYS = measure.KEYS
# Un-namespaced counter the barrier jobs count started workers on (bench-only).
BARRIER_KEY = "pyresque-bench:barrier"
POLL_S = 0.002


def star_queues(count: int) -> list[str]:
    """``count`` queue names in the order ``*`` tries them; the jobs go to the last."""
    return [f"scale-{n:04d}" for n in range(count)]


def star_throughput(server: RedisServer, side: str, queues: int, jobs: int, log_dir: Path) -> dict[str, Any]:
    """Jobs/s of one in-process ``*`` worker whose jobs sit behind ``queues - 1`` empty queues."""
    names = _seed_queues(server, queues)
    log = log_dir / f"star-{queues}-throughput-{side}.log"
    got = measure.drain_rate(
        server, jobs, lambda: sides.start_worker(side, server.url, log, interval_s=0, fork=False, queues="*"),
        queue=names[-1])
    return {**got, "queues": queues, "us_per_job": 1e6 / got["jobs_per_s"]}


def star_pickup(server: RedisServer, side: str, queues: int, samples: int, interval_s: float | None, seed: int,
                log_dir: Path) -> dict[str, Any]:
    """Pickup latency of an idle ``*`` worker (its defaults unless ``interval_s``), probes on the last queue."""
    names = _seed_queues(server, queues)
    worker = sides.start_worker(side, server.url, log_dir / f"star-{queues}-pickup-{side}.log",
                                interval_s=interval_s, queues="*")
    try:
        measure.wait_registered(server, worker, log_dir)
        time.sleep(0.5)  # its start-up (pruning, first heartbeat) done before the first probe
        got = measure.pickup_latency(server, side, samples, interval_s if interval_s is not None else 5.0, seed,
                                     queue=names[-1])
    finally:
        worker.stop()
    return {**got, "queues": queues}


def count_throughput(server: RedisServer, side: str, workers: int, jobs: int, fork: bool,
                     log_dir: Path) -> dict[str, Any]:
    """Total jobs/s of ``workers`` worker processes draining one queue (see module doc)."""
    server.flush()
    Resque(server.url).enqueue_many(
        measure.JOB, [*[("barrier", BARRIER_KEY, workers)] * workers, ("stamp", measure.MARKS_KEY, None),
                      *([()] * jobs)], queue=sides.QUEUE)
    total = workers + 1 + jobs
    mode = "fork" if fork else "inprocess"
    if side == "pyresque":
        procs = [sides.start_worker(side, server.url, log_dir / f"count-{workers}-{mode}-{side}.log",
                                    interval_s=0, fork=fork, count=workers)]
    else:
        procs = [sides.start_worker(side, server.url, log_dir / f"count-{workers}-{mode}-{side}-{n}.log",
                                    interval_s=0, fork=fork) for n in range(workers)]
    ended = [0.0]

    def finished() -> bool:
        if measure.processed_count(server) >= total:
            ended[0] = time.time()
            return True
        return not any(p.running() for p in procs)

    try:
        # A bound, not an expectation: 5 jobs/s, and the barrier's own timeout.
        wait_until(finished, 120 + jobs / 5, f"{workers} {side} workers to process {total} jobs", step_s=POLL_S)
        measure.check_done(server, procs[0], total)
        exited = all(sides.wait_exit(p, 15) for p in procs)
    finally:
        for p in procs:
            p.stop()
    marks = [json.loads(m) for m in server.client.lrange(measure.MARKS_KEY, 0, -1)]
    if len(marks) != 1:
        raise RuntimeError(f"{side}: expected 1 start marker record, got {marks}")
    return {**measure.rate(jobs, ended[0] - marks[0]["t"]), "workers": workers, "fork": fork,
            "drained_and_exited": exited}


def _seed_queues(server: RedisServer, count: int) -> list[str]:
    """A flushed keyspace whose ``queues`` set names ``count`` queues, all empty."""
    server.flush()
    names = star_queues(count)
    server.client.sadd(KEYS.queues, *names)
    return names
