"""The scheduler side by side: pyresque's ``scheduler`` and resque-scheduler 5.0.1.

    .venv/bin/python -m bench.scheduler [--jobs 100000] [--probes 20] [--ruby-probes 5] [--report PATH]

On one private redis-server, for each side in turn (the other not running):

* **Move rate.** The scheduler runs, master, with nothing due. Then
  ``--jobs`` delayed items due one second ago, spread over 100 timestamps,
  are written in one ``MULTI`` (the moment ``EXEC`` returns is t0). The
  time until every job is on its queue and the schedule is empty is the
  move time; jobs / time is the rate. Ruby runs with
  ``RESQUE_SCHEDULER_INTERVAL=0.1`` here, so its 5 s poll does not count
  against it.
* **Lateness.** At the default settings (Ruby polls every 5 s), one probe
  at a time is delayed to the next whole second (``enqueue_at``); its
  lateness is when it reaches its queue minus that second. Probes start at
  a random point of a second.

Writes a Markdown table to stdout and, with ``--report``, to a file.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.server import RedisServer
from pyresque import Resque
from pyresque.scheduler.delayed import encode_item
from testsupport import wait_until

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "ruby-fixtures"


def start(side: str, url: str, **env: str) -> subprocess.Popen:
    full = dict(os.environ, REDIS_URL=url, **env)
    full.pop("RESQUE_NAMESPACE", None)
    if side == "pyresque":
        argv, cwd = [sys.executable, "-m", "pyresque", "scheduler", "-q"], ROOT
    else:
        argv, cwd = ["bundle", "exec", "ruby", "scripts/scheduler.rb"], FIXTURES
        full.setdefault("QUIET", "true")
    return subprocess.Popen(argv, cwd=cwd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def wait_master(server: RedisServer) -> None:
    wait_until(lambda: server.client.exists("resque:resque:resque_scheduler_master_lock"), 60,
               "the scheduler to take the master lock", step_s=0.05)


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def move_rate(side: str, server: RedisServer, jobs: int) -> dict[str, float]:
    server.flush()
    env = {"RESQUE_SCHEDULER_INTERVAL": "0.1"} if side == "ruby" else {}
    proc = start(side, server.url, **env)
    try:
        wait_master(server)
        r = server.client
        due = int(time.time()) - 101
        pipe = r.pipeline(transaction=True)
        for i in range(jobs):
            ts = due + i % 100
            item = encode_item("BenchNoop", [i], "bench")
            pipe.rpush(f"resque:delayed:{ts}", item)
            pipe.sadd(f"resque:timestamps:{item}", f"delayed:{ts}")
        pipe.zadd("resque:delayed_queue_schedule", {str(due + k): due + k for k in range(100)})
        cpu0, redis0 = proc_cpu_s(proc.pid), server.cpu_s()
        pipe.execute()
        t0 = time.perf_counter()
        wait_until(lambda: r.llen("resque:queue:bench") >= jobs and not r.exists("resque:delayed_queue_schedule"),
                   900, f"{side} to move {jobs} jobs", step_s=0.005)
        elapsed = time.perf_counter() - t0
        cpu, redis_cpu = proc_cpu_s(proc.pid) - cpu0, server.cpu_s() - redis0
        assert r.llen("resque:queue:bench") == jobs, f"{side} moved {r.llen('resque:queue:bench')} of {jobs}"
        # Redis CPU includes applying the MULTI that wrote the items, the same for both sides.
        return {"seconds": elapsed, "jobs_per_s": jobs / elapsed, "scheduler_cpu_s": cpu, "redis_cpu_s": redis_cpu}
    finally:
        stop(proc)


def lateness(side: str, server: RedisServer, probes: int) -> list[float]:
    server.flush()
    proc = start(side, server.url)
    samples: list[float] = []
    try:
        wait_master(server)
        resque = Resque(server.url)
        for n in range(probes):
            time.sleep(random.random())  # a random point of a second (not a wait on a condition: the workload)
            due = int(time.time()) + 1
            resque.enqueue_at_with_queue("probe", due, "BenchNoop", n)
            wait_until(lambda: server.client.llen("resque:queue:probe") > n, 30, f"{side} probe {n}", step_s=0.001)
            samples.append(time.time() - due)
    finally:
        stop(proc)
    return samples


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--ruby-probes", type=int, default=5)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with RedisServer() as server:
        for side, probes in (("pyresque", args.probes), ("ruby", args.ruby_probes)):
            results[side] = {"move": move_rate(side, server, args.jobs), "late": lateness(side, server, probes)}
            print(f"{side}: {results[side]}", file=sys.stderr, flush=True)
        version = server.version
    py, rb = results["pyresque"], results["ruby"]
    ratio = py["move"]["jobs_per_s"] / rb["move"]["jobs_per_s"]
    rows = [
        "| Scheduler measurement | pyresque | resque-scheduler 5.0.1 | pyresque / Ruby |",
        "|---|---|---|---|",
        f"| Move {args.jobs:,} due jobs (s) | {py['move']['seconds']:.2f} | {rb['move']['seconds']:.2f} | |",
        f"| Move rate (jobs/s) | {py['move']['jobs_per_s']:,.0f} | {rb['move']['jobs_per_s']:,.0f} | {ratio:.1f}× |",
        f"| Scheduler CPU for the move (s) | {py['move']['scheduler_cpu_s']:.2f} | {rb['move']['scheduler_cpu_s']:.2f} | |",
        f"| Redis CPU, writing and moving (s) | {py['move']['redis_cpu_s']:.2f} | {rb['move']['redis_cpu_s']:.2f} | |",
        f"| Lateness p50 (ms) | {pct(py['late'], 50) * 1000:.1f} | {pct(rb['late'], 50) * 1000:.0f} | |",
        f"| Lateness max (ms) | {max(py['late']) * 1000:.1f} | {max(rb['late']) * 1000:.0f} | |",
        f"| Lateness probes | {len(py['late'])} | {len(rb['late'])} | |",
    ]
    text = "\n".join([
        f"Scheduler benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, redis {version}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (a shared machine: "
        "wall times vary with it; CPU seconds much less). Ruby moves with RESQUE_SCHEDULER_INTERVAL=0.1; "
        "lateness at the defaults (Ruby polls every 5 s).", "", *rows, ""])
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
