"""``bench/run``: pyresque and Ruby Resque side by side on one private Redis.

    bench/run            # the full run (~8 minutes), writes bench/REPORT.md
    bench/run --smoke    # proves the harness works (~50 s); judges nothing

Results go to ``<results-dir>/latest.json`` (bench/results/ is not committed);
a full run also rewrites bench/REPORT.md, the committed copy of the latest report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import measure, report, scaling, sides
from bench.server import MachineLoad, RedisServer

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Params:
    rounds: int  # enqueue and throughput runs per side, interleaved; the median round is reported
    enqueue_jobs: int
    bulk_jobs: int
    bulk_repeats: int
    inprocess_jobs: int
    fork_jobs: int
    pickup_samples_pyresque: int
    pickup_samples_ruby: int
    pickup_samples_inprocess: int  # pyresque --no-fork, to show what forking adds to pickup
    ruby_interval_s: float | None  # None: Ruby's default (5 s)
    idle_window_s: float
    redis_benchmark_requests: int
    jobs_per_child: int  # pyresque's opt-in row: one forked child runs up to this many jobs
    # How cost grows (bench/scaling.py), one run per side and size:
    star_queues: tuple[int, ...]  # a `*` worker over this many queues, its jobs in the last
    star_jobs: tuple[int, ...]  # in-process jobs for each of star_queues (Ruby passes every empty queue)
    star_pickup_samples_pyresque: int  # per queue count
    star_pickup_samples_ruby: int
    worker_counts: tuple[int, ...]  # worker processes on one queue
    count_inprocess_jobs: int
    count_fork_jobs: int
    count_fork_jobs_ruby: int  # Ruby forks ~25 jobs/s here: fewer, so its runs stay short


FULL = Params(rounds=3, enqueue_jobs=10_000, bulk_jobs=100_000, bulk_repeats=3, inprocess_jobs=10_000, fork_jobs=1_000,
              pickup_samples_pyresque=200, pickup_samples_ruby=10, pickup_samples_inprocess=100, ruby_interval_s=None, idle_window_s=20,
              redis_benchmark_requests=100_000, jobs_per_child=10,
              star_queues=(1, 100, 1_000), star_jobs=(4_000, 1_000, 300), star_pickup_samples_pyresque=40,
              star_pickup_samples_ruby=4, worker_counts=(1, 2, 4), count_inprocess_jobs=6_000, count_fork_jobs=300,
              count_fork_jobs_ruby=100)
# Small enough for CI; Ruby polls every 0.5 s instead of 5 s so its pickup samples are quick.
SMOKE = Params(rounds=1, enqueue_jobs=1_000, bulk_jobs=1_000, bulk_repeats=1, inprocess_jobs=1_000, fork_jobs=100,
               pickup_samples_pyresque=5, pickup_samples_ruby=2, pickup_samples_inprocess=3, ruby_interval_s=0.5, idle_window_s=2,
               redis_benchmark_requests=2_000, jobs_per_child=10,
               star_queues=(1, 10), star_jobs=(300, 100), star_pickup_samples_pyresque=3, star_pickup_samples_ruby=1,
               worker_counts=(1, 2), count_inprocess_jobs=300, count_fork_jobs=20, count_fork_jobs_ruby=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no judging: proves the harness runs")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results", help="where latest.json and logs go")
    parser.add_argument("--report", type=Path, default=None,
                        help="Markdown report to write (default bench/REPORT.md on a full run, none on --smoke)")
    parser.add_argument("--only", default=None, help="comma-separated sides to run (pyresque,ruby); default both")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds of enqueue and throughput per side (default 3; 1 with --smoke)")
    parser.add_argument("--seed", type=int, default=5, help="seed for the pickup probes' random pauses")
    args = parser.parse_args(argv)

    params = SMOKE if args.smoke else FULL
    if args.rounds is not None:
        params = replace(params, rounds=max(1, args.rounds))
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else sides.SIDES
    report_path = args.report if args.report is not None else (None if args.smoke else HERE / "REPORT.md")
    log_dir = args.results_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    with RedisServer() as server:
        results: dict[str, Any] = {"meta": _meta(server, params, args.smoke), "errors": {}}
        machine = MachineLoad(server)
        run = _Recorder(results)
        run.metric("redis_ceiling", lambda: measure.redis_ceiling(server, params.redis_benchmark_requests))
        run.metric("redis_one_connection", lambda: measure.redis_ceiling(
            server, params.redis_benchmark_requests // 5, clients=1))
        enqueue_single = {"pyresque": lambda: measure.enqueue_single_pyresque(server, params.enqueue_jobs),
                          "ruby": lambda: measure.enqueue_single_ruby(server, params.enqueue_jobs)}
        run.rounds("enqueue_single", only, params.rounds, enqueue_single)
        if "pyresque" in only:
            run.side("enqueue_bulk", "pyresque",
                     lambda: measure.enqueue_bulk_pyresque(server, params.bulk_jobs, params.bulk_repeats))
        for metric, count, fork in (("worker_inprocess", params.inprocess_jobs, False),
                                    ("worker_fork", params.fork_jobs, True)):
            run.rounds(metric, only, params.rounds, {
                side: (lambda s=side, c=count, f=fork: measure.worker_throughput(server, s, c, f, log_dir))
                for side in sides.SIDES})
        for side in only:
            samples = params.pickup_samples_ruby if side == "ruby" else params.pickup_samples_pyresque
            interval = params.ruby_interval_s if side == "ruby" else None
            got = run.side("idle_pickup", side, lambda s=side, n=samples, i=interval: measure.idle_and_pickup(
                server, s, window_s=params.idle_window_s, samples=n, interval_s=i, seed=args.seed, log_dir=log_dir))
            if got:
                results.setdefault("idle", {})[side] = got["idle"]
                results.setdefault("pickup", {})[side] = got["pickup"]
        results.pop("idle_pickup", None)
        if "pyresque" in only:
            got = run.side("pickup_inprocess", "pyresque", lambda: measure.idle_and_pickup(
                server, "pyresque", window_s=0, samples=params.pickup_samples_inprocess, interval_s=None,
                seed=args.seed, log_dir=log_dir, fork=False))
            if got:
                results["pickup_inprocess"]["pyresque"] = got["pickup"]
            run.rounds("worker_fork_jobs_per_child", ("pyresque",), params.rounds, {
                "pyresque": lambda: measure.worker_throughput(server, "pyresque", params.fork_jobs, True, log_dir,
                                                              jobs_per_child=params.jobs_per_child)})
        _scaling(run, server, params, only, args.seed, log_dir)
        results["star_derived"] = report.star_derived(results)
        results["meta"]["loadavg_after"] = _loadavg()
        results["meta"]["other_processes_cpus"] = round(machine.other_cpus(), 2)
        results["meta"]["finished_utc"] = _now()
        results["targets"] = report.judge(results, args.smoke)

    _write(results, args.results_dir, report_path)
    print()
    print(report.table(results))
    print()
    print(report.scaling_table(results))
    print()
    print(report.ceiling_line(results))
    print(report.noise(results["meta"]))
    print()
    print(report.targets_table(results["targets"]))
    print(f"\nJSON: {args.results_dir / 'latest.json'}" + (f"; report: {report_path}" if report_path else ""))
    if results["errors"]:
        print("\nErrors (details in the JSON and in " + str(log_dir) + "):", file=sys.stderr)
        for where, message in results["errors"].items():
            print(f"  {where}: {message.splitlines()[0] if message else ''}", file=sys.stderr)
        return 1
    return 0


def _scaling(run: "_Recorder", server: RedisServer, params: Params, only: tuple[str, ...], seed: int,
             log_dir: Path) -> None:
    """How cost grows: a `*` worker over many queues, and 1, 2, 4… workers on one queue.

    One run per side and size, the sides alternating at each size.
    """
    for queues, jobs in zip(params.star_queues, params.star_jobs):
        for side in only:
            run.keyed("star_inprocess", side, str(queues),
                      lambda s=side, q=queues, n=jobs: scaling.star_throughput(server, s, q, n, log_dir))
    for queues in params.star_queues:
        for side in only:
            samples = params.star_pickup_samples_ruby if side == "ruby" else params.star_pickup_samples_pyresque
            interval = params.ruby_interval_s if side == "ruby" else None
            run.keyed("star_pickup", side, str(queues), lambda s=side, q=queues, n=samples, i=interval:
                      scaling.star_pickup(server, s, q, n, i, seed, log_dir))
    for metric, fork in (("count_inprocess", False), ("count_fork", True)):
        for workers in params.worker_counts:
            for side in only:
                jobs = (params.count_inprocess_jobs if not fork
                        else params.count_fork_jobs_ruby if side == "ruby" else params.count_fork_jobs)
                run.keyed(metric, side, str(workers), lambda s=side, w=workers, n=jobs, f=fork:
                          scaling.count_throughput(server, s, w, n, f, log_dir))


class _Recorder:
    """Runs each measurement, printing progress, and keeps going past a failed one."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results

    def metric(self, name: str, fn: Callable[[], Any]) -> Any:
        return self._run(name, fn, lambda value: self.results.__setitem__(name, value))

    def side(self, metric: str, side: str, fn: Callable[[], Any]) -> Any:
        return self._run(f"{metric}/{side}", fn, lambda value: self.results.setdefault(metric, {}).__setitem__(side, value))

    def keyed(self, metric: str, side: str, key: str, fn: Callable[[], Any]) -> Any:
        """One of several sizes of a measurement: ``results[metric][side][key]``."""
        return self._run(f"{metric}/{side}/{key}", fn,
                         lambda value: self.results.setdefault(metric, {}).setdefault(side, {}).__setitem__(key, value))

    def rounds(self, metric: str, only: tuple[str, ...], rounds: int, fns: dict[str, Callable[[], Any]]) -> None:
        """Run each side ``rounds`` times, alternating sides so a burst of load on the
        machine hits both; keep the round with the median rate (all rates are kept too)."""
        runs: dict[str, list[Any]] = {side: [] for side in only}
        for n in range(rounds):
            for side in only:
                got = self._run(f"{metric}/{side} (round {n + 1}/{rounds})", fns[side], lambda value: None)
                if got is not None:
                    runs[side].append(got)
        for side, got in runs.items():
            if got:
                by_rate = sorted(got, key=lambda r: r["jobs_per_s"])
                self.results.setdefault(metric, {})[side] = {
                    **by_rate[len(by_rate) // 2], "rounds_jobs_per_s": [r["jobs_per_s"] for r in got]}

    def _run(self, where: str, fn: Callable[[], Any], store: Callable[[Any], None]) -> Any:
        print(f"[bench] {where} ...", end=" ", flush=True)
        started = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # one broken measurement must not lose the others
            print(f"FAILED ({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", flush=True)
            self.results["errors"][where] = "".join(traceback.format_exception(exc))
            return None
        store(value)
        print(f"done in {time.monotonic() - started:.1f} s", flush=True)
        return value


def _meta(server: RedisServer, params: Params, smoke: bool) -> dict[str, Any]:
    try:
        ruby = sides.ruby_versions(server.url)
    except Exception as exc:
        ruby = {"ruby": f"unavailable ({exc})", "resque": "unavailable"}
    try:
        import hiredis  # noqa: F401
        has_hiredis = True
    except ImportError:
        has_hiredis = False
    return {
        "mode": "smoke" if smoke else "full",
        "started_utc": _now(),
        "params": asdict(params) | {"ruby_interval_s": params.ruby_interval_s or 5.0},
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "loadavg_before": _loadavg(),
        "python": platform.python_version(),
        "hiredis": has_hiredis,
        "redis_version": server.version,
        "ruby_version": ruby["ruby"],
        "resque_version": ruby["resque"],
        "git_commit": _git_commit(),
    }


def _write(results: dict[str, Any], results_dir: Path, report_path: Path | None) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=False) + "\n"
    stamp = results["meta"]["started_utc"].replace(":", "").replace("-", "")
    (results_dir / f"{results['meta']['mode']}-{stamp}.json").write_text(text)
    (results_dir / "latest.json").write_text(text)
    if report_path is not None:
        report_path.write_text(report.markdown(results))
        if results["meta"]["mode"] == "full" and report_path.resolve() == (HERE / "REPORT.md").resolve():
            # The project README carries the latest table (between its latest-table markers).
            readme = HERE.parent / "README.md"
            readme.write_text(report.update_readme(readme.read_text(), results, "bench/REPORT.md"))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _git_commit() -> str:
    # A run from an exported tree (no .git) is told its commit by whoever exported it.
    if os.environ.get("BENCH_GIT_COMMIT"):
        return os.environ["BENCH_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pyresque"], cwd=HERE.parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
