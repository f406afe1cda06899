"""The measurements. Each takes the shared server, starts from an empty
keyspace, and returns plain numbers for the JSON report.

Method (see bench/README.md for the reasoning):

* enqueue: the loop is timed inside the enqueuing process, after it has
  connected, so interpreter and gem start-up are not counted;
* worker throughput: the queue holds a start marker, N no-ops and an end
  marker before the worker starts (drain mode, interval 0); the markers
  record when they ran, so the rate is N / (end - start) and excludes
  start-up and shutdown of the worker process;
* pickup latency: an idle worker at its default settings; the probe job
  carries its enqueue time and records when it started;
* idle cost: Redis's own per-command counters over a window in which the
  idle worker is the only client doing anything, and its memory from /proc
  (VmRSS of the worker; RSS and PSS of its process tree).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from bench import sides
from bench.server import RedisServer
from pyresque import Resque
from pyresque.keys import Keys
from testsupport import wait_until

KEYS = Keys()
JOB = "BenchNoop"
# Un-namespaced lists the stamp jobs record on (bench-only keys, not Resque's).
MARKS_KEY = "pyresque-bench:marks"
PROBES_KEY = "pyresque-bench:probes"


def redis_ceiling(server: RedisServer, requests: int, clients: int | None = None) -> dict[str, float]:
    """redis-benchmark's requests/s for SET, LPUSH, LPOP without pipelining.

    ``clients=None`` is redis-benchmark's default of 50 connections (the
    server's ceiling); ``clients=1`` is one connection waiting for each reply,
    as one worker does, so 1/rate is a round trip and a worker needing k round
    trips per job cannot beat rate/k jobs/s.
    """
    server.flush()
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-q", "-n", str(requests),
            "-t", "set,lpush,lpop", "-P", "1", "--csv"]
    if clients is not None:
        argv += ["-c", str(clients)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = csv.DictReader(io.StringIO(out))
    return {row["test"].lower(): float(row["rps"]) for row in rows}


def enqueue_single_pyresque(server: RedisServer, count: int) -> dict[str, Any]:
    server.flush()
    resque = Resque(server.url)
    resque.redis.ping()
    started = time.perf_counter()
    for _ in range(count):
        resque.enqueue_to(sides.QUEUE, JOB)
    seconds = time.perf_counter() - started
    _expect_queued(server, count)
    return rate(count, seconds)


def enqueue_single_ruby(server: RedisServer, count: int) -> dict[str, Any]:
    server.flush()
    got = sides.ruby_script("bench_enqueue.rb", sides.QUEUE, str(count), redis_url=server.url,
                            timeout_s=60 + count / 100)
    _expect_queued(server, count)
    return rate(count, float(got["seconds"]))


def enqueue_bulk_pyresque(server: RedisServer, count: int, repeats: int) -> dict[str, Any]:
    """``enqueue_many`` of ``count`` no-ops, timed with encoding; the median of ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        server.flush()
        resque = Resque(server.url)
        resque.redis.ping()
        args_list = [()] * count
        started = time.perf_counter()
        resque.enqueue_many(JOB, args_list, queue=sides.QUEUE)
        runs.append(time.perf_counter() - started)
        _expect_queued(server, count)
    seconds = sorted(runs)[len(runs) // 2]
    return {**rate(count, seconds), "runs_s": runs}


def worker_throughput(server: RedisServer, side: str, count: int, fork: bool, log_dir: Path,
                      jobs_per_child: int | None = None) -> dict[str, Any]:
    """Jobs/s of one worker process draining ``count`` no-ops (see module doc).

    ``jobs_per_child`` is pyresque's opt-in ``--jobs-per-child N`` (with ``fork``).
    """
    server.flush()
    label = ("fork" if fork else "inprocess") + (f"-jobs-per-child-{jobs_per_child}" if jobs_per_child else "")
    got = drain_rate(server, count, lambda: sides.start_worker(
        side, server.url, log_dir / f"throughput-{label}-{side}.log", interval_s=0, fork=fork,
        jobs_per_child=jobs_per_child))
    return {**got, "fork": fork} | ({"jobs_per_child": jobs_per_child} if jobs_per_child else {})


def drain_rate(server: RedisServer, count: int, start: Callable[[], sides.Worker],
               queue: str = sides.QUEUE) -> dict[str, Any]:
    """Queue a start marker, ``count`` no-ops and an end marker on ``queue``,
    then ``start`` one worker in drain mode; jobs/s between the markers.

    The keyspace is the caller's to prepare (flushed, and anything else the
    run needs, such as empty queues to pass).
    """
    resque = Resque(server.url)
    stamp = ("stamp", MARKS_KEY, None)
    resque.enqueue_many(JOB, [stamp, *([()] * count), stamp], queue=queue)
    total = count + 2
    timeout_s = 60 + count / 5  # a bound, not an expectation: 5 jobs/s is far below either side
    before = _command_calls(server)
    polls = [0]

    def finished() -> bool:
        polls[0] += 1
        return processed_count(server) >= total or _died(worker)

    spawned = time.monotonic()
    worker = start()
    try:
        wait_until(finished, timeout_s, f"{worker.side} worker to process {total} jobs", step_s=0.05)
        wall_s = time.monotonic() - spawned
        used = _delta(before, _command_calls(server), own={"get": polls[0], "info": 1})
        check_done(server, worker, total, queue)
        exited = sides.wait_exit(worker, 15)
    finally:
        worker.stop()
    marks = [json.loads(m) for m in server.client.lrange(MARKS_KEY, 0, -1)]
    if len(marks) != 2:
        raise RuntimeError(f"{worker.side}: expected 2 marker records, got {marks}")
    seconds = marks[1]["t"] - marks[0]["t"]
    return {
        **rate(count, seconds), "wall_with_startup_s": wall_s, "drained_and_exited": exited,
        # Whole worker run (start-up and markers included), so a diagnostic, not the rate's basis.
        "redis_commands_per_job": sum(used.values()) / total,
        "redis_commands_by_name": used,
    }


def idle_and_pickup(server: RedisServer, side: str, *, window_s: float, samples: int, interval_s: float | None,
                    seed: int, log_dir: Path, fork: bool | None = None) -> dict[str, dict[str, Any]]:
    """Start one worker (default settings unless told); measure it idle, then its pickup latency.

    ``window_s=0`` skips the idle measurement.
    """
    server.flush()
    label = "" if fork is None else ("-fork" if fork else "-inprocess")
    worker = sides.start_worker(side, server.url, log_dir / f"idle-pickup{label}-{side}.log", interval_s=interval_s,
                                fork=fork)
    try:
        wait_registered(server, worker, log_dir)
        # Let start-up work (pruning, first heartbeat, first poll) finish before the window.
        time.sleep(min(2.0, window_s))
        idle = _idle_window(server, worker, window_s) if window_s > 0 else {}
        pickup = pickup_latency(server, side, samples, interval_s if interval_s is not None else 5.0, seed)
    finally:
        worker.stop()
    return {"idle": idle, "pickup": pickup}


def wait_registered(server: RedisServer, worker: sides.Worker, log_dir: Path) -> None:
    """Wait until ``worker`` is in the workers set; raise if it exited instead."""
    wait_until(lambda: server.client.scard(KEYS.workers) >= 1 or _died(worker), 60,
               f"{worker.side} worker to register", step_s=0.05)
    if _died(worker):
        raise RuntimeError(f"{worker.side} worker exited with {worker.proc.returncode}; see {log_dir}")


def _idle_window(server: RedisServer, worker: sides.Worker, window_s: float) -> dict[str, Any]:
    # Every client but the worker is quiet now; our own INFO is the one extra call in the delta.
    before = _command_calls(server)
    samples = []
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        samples.append(sides.memory(worker.pid))
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    delta = _delta(before, _command_calls(server), own={"info": 1})
    samples.append(sides.memory(worker.pid))
    total = sum(delta.values())
    return {
        "window_s": window_s,
        "commands": total,
        "commands_per_s": total / window_s,
        "commands_by_name": delta,
        # The worker process itself, as `ps` shows it; and its whole process
        # tree (a forked spare child included) as summed RSS and as PSS.
        "rss_mb": max(m["worker_rss"] for m in samples) / 2**20,
        "tree_rss_mb": max(m["tree_rss"] for m in samples) / 2**20,
        "tree_pss_mb": max(m["tree_pss"] for m in samples) / 2**20,
        "processes": max(m["processes"] for m in samples),
        "process": sides.process_name(worker.pid),
    }


def pickup_latency(server: RedisServer, side: str, samples: int, interval_s: float, seed: int,
                   queue: str = sides.QUEUE) -> dict[str, Any]:
    """Enqueue probes on ``queue`` one at a time, each after a random pause since
    the last probe finished, so probes land at random points of the idle
    worker's wait.

    The pauses are stratified: one random point in each of ``samples`` equal
    slices of the pause range, in random order. For Ruby the range is its poll
    interval, so even 10 probes cover the whole sleep evenly and its median is
    not at the mercy of 10 draws; for pyresque, which blocks, it is 10-100 ms.
    """
    resque = Resque(server.url)
    rng = random.Random(seed)
    low_s, high_s = (0.0, interval_s) if side == "ruby" else (0.01, 0.1)
    slices = list(range(samples))
    rng.shuffle(slices)
    latencies_ms = []
    for slice_no in slices:
        time.sleep(low_s + (high_s - low_s) * (slice_no + rng.random()) / samples)
        enqueued = time.time()
        resque.enqueue_to(queue, JOB, "stamp", PROBES_KEY, enqueued)
        got = server.client.blpop([PROBES_KEY], timeout=int(interval_s * 2 + 10))
        if got is None:
            raise RuntimeError(f"{side} worker did not pick up a probe within {interval_s * 2 + 10:.0f}s")
        record = json.loads(got[1])
        latencies_ms.append((record["t"] - record["enq"]) * 1000)
        wait_until(lambda: server.client.llen(KEYS.queue(queue)) == 0 and not _working(server),
                   interval_s * 2 + 10, "probe job to finish", step_s=0.002)
    ordered = sorted(latencies_ms)
    return {
        "samples": samples,
        "p50_ms": _percentile(ordered, 50),
        "p99_ms": _percentile(ordered, 99),
        "max_ms": ordered[-1],
        "all_ms": latencies_ms,
        "poll_interval_s": interval_s,
    }


def _percentile(ordered: list[float], pct: float) -> float:
    """Linearly interpolated percentile of sorted samples (numpy's default method):
    p50 of an even count is the mean of the middle two; p99 of 10 samples lies
    between the two largest."""
    pos = (len(ordered) - 1) * pct / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _command_calls(server: RedisServer) -> dict[str, int]:
    stats = server.client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int], own: dict[str, int]) -> dict[str, int]:
    """Calls per command between two snapshots, less the ``own`` calls the runner made."""
    delta = {cmd: after.get(cmd, 0) - before.get(cmd, 0) - own.get(cmd, 0) for cmd in after}
    return {cmd: n for cmd, n in sorted(delta.items()) if n > 0}


def processed_count(server: RedisServer) -> int:
    """Resque's ``stat:processed``: jobs every worker has finished."""
    return int(server.client.get(KEYS.stat("processed")) or 0)


def _working(server: RedisServer) -> bool:
    members = server.client.smembers(KEYS.workers)
    return any(server.client.exists(KEYS.worker(m.decode())) for m in members)


def _died(worker: sides.Worker) -> bool:
    return not worker.running()


def check_done(server: RedisServer, worker: sides.Worker, total: int, queue: str = sides.QUEUE) -> None:
    """Raise, pointing at ``worker``'s log, unless ``total`` jobs were processed,
    none failed, and ``queue`` is empty."""
    processed = processed_count(server)
    failed = int(server.client.get(KEYS.stat("failed")) or 0)
    left = server.client.llen(KEYS.queue(queue))
    if processed < total or failed or left:
        raise RuntimeError(
            f"{worker.side} worker: processed {processed}/{total}, failed {failed}, {left} left "
            f"(exit code {worker.proc.poll()}); see its log"
        )


def _expect_queued(server: RedisServer, count: int) -> None:
    queued = server.client.llen(KEYS.queue(sides.QUEUE))
    if queued != count:
        raise RuntimeError(f"expected {count} queued jobs, found {queued}")


def rate(count: int, seconds: float) -> dict[str, Any]:
    """``count`` jobs in ``seconds`` as the JSON's rate record."""
    if seconds <= 0:
        raise RuntimeError(f"non-positive duration {seconds} for {count} jobs")
    return {"jobs": count, "seconds": seconds, "jobs_per_s": count / seconds}
