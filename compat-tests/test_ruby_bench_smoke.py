"""The benchmark harness runs end to end (bench/run --smoke) against real Ruby Resque.

Smoke mode proves every measurement is taken and lands in the JSON; it
judges no timing, and neither does this test: a slow CI machine must not
fail it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIDES = ("pyresque", "ruby")
# (metric, sides, field, may be zero)
EXPECTED = [
    ("enqueue_single", SIDES, "jobs_per_s", False),
    ("enqueue_bulk", ("pyresque",), "jobs_per_s", False),
    ("worker_inprocess", SIDES, "jobs_per_s", False),
    ("worker_fork", SIDES, "jobs_per_s", False),
    ("worker_fork_jobs_per_child", ("pyresque",), "jobs_per_s", False),
    ("pickup", SIDES, "p50_ms", False),
    ("pickup", SIDES, "p99_ms", False),
    ("pickup_inprocess", ("pyresque",), "p50_ms", False),
    ("idle", SIDES, "commands_per_s", True),  # an idle pyresque worker may send nothing at all
    ("idle", SIDES, "rss_mb", False),
    ("idle", SIDES, "tree_rss_mb", False),
    ("idle", SIDES, "tree_pss_mb", False),
]
# How cost grows, one record per size: (metric, the params entry listing the sizes, field)
KEYED = [
    ("star_inprocess", "star_queues", "jobs_per_s"),
    ("star_inprocess", "star_queues", "us_per_job"),
    ("star_pickup", "star_queues", "p50_ms"),
    ("count_inprocess", "worker_counts", "jobs_per_s"),
    ("count_fork", "worker_counts", "jobs_per_s"),
]
# A difference of two noisy smoke-sized costs: any sign, but a number.
SIGNED_TARGETS = {"star_growth", "pickup_gap"}


def sane(value: object, may_be_zero: bool = False) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (value >= 0 if may_be_zero else value > 0))


def test_bench_smoke_measures_everything(ruby_available, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"bench --smoke failed:\n{proc.stdout}\n{proc.stderr}"
    results = json.loads((tmp_path / "latest.json").read_text())

    assert results["errors"] == {}
    assert results["meta"]["mode"] == "smoke"
    for ceiling in ("redis_ceiling", "redis_one_connection"):
        assert set(results[ceiling]) == {"set", "lpush", "lpop"}
        assert all(sane(v) for v in results[ceiling].values()), results[ceiling]
    assert sane(results["meta"]["other_processes_cpus"], may_be_zero=True)
    for metric, sides, field, may_be_zero in EXPECTED:
        for side in sides:
            value = results[metric][side][field]
            assert sane(value, may_be_zero), f"{metric}.{side}.{field} = {value!r}"
    for metric, sizes, field in KEYED:
        for side in SIDES:
            for size in results["meta"]["params"][sizes]:
                value = results[metric][side][str(size)][field]
                assert sane(value), f"{metric}.{side}.{size}.{field} = {value!r}"
    for side in SIDES:
        assert results["pickup"][side]["samples"] == len(results["pickup"][side]["all_ms"]) > 0
        assert results["worker_inprocess"][side]["fork"] is False
        assert results["worker_fork"][side]["fork"] is True
        assert sane(results["star_derived"][side]["keeps"])
        assert math.isfinite(results["star_derived"][side]["growth_us_per_1000"])
    assert results["worker_fork_jobs_per_child"]["pyresque"]["jobs_per_child"] > 1

    names = {t["name"] for t in results["targets"]}
    assert names == {"worker_inprocess", "worker_fork", "enqueue_single", "enqueue_bulk", "pickup_p50", "pickup_p99",
                     "pickup_gap", "idle_commands", "idle_rss", "idle_pss", "star_keeps", "star_growth"}
    for target in results["targets"]:
        assert target["result"] == "not judged (smoke)", target
        if target["name"] in SIGNED_TARGETS:
            assert math.isfinite(target["measured"]), target
        else:
            assert sane(target["measured"], may_be_zero=True), target
    assert "| Metric |" in proc.stdout
    assert "| How cost grows |" in proc.stdout


def test_scheduler_bench_runs_both_schedulers(ruby_available):
    # bench/scheduler.py at a tiny size: both schedulers move every job and
    # probe lateness; the table has a figure in every cell (no timing judged).
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scheduler", "--jobs", "300", "--probes", "2", "--ruby-probes", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"bench.scheduler failed:\n{proc.stdout}\n{proc.stderr}"
    rows = {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip("|").split("|")] for line in proc.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| Scheduler measurement"))}
    assert set(rows) >= {"Move 300 due jobs (s)", "Move rate (jobs/s)", "Lateness p50 (ms)"}, proc.stdout
    for name, (py, rb, _) in rows.items():
        cpu = "CPU" in name  # a few hundred jobs may take under the clock's 10 ms tick
        assert sane(float(py.replace(",", "")), cpu) and sane(float(rb.replace(",", "")), cpu), (name, py, rb)
    assert rows["Move rate (jobs/s)"][2].endswith("×")
