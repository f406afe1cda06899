"""Targets, the comparison table, and the Markdown report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Target:
    name: str
    text: str
    measured: Callable[[dict[str, Any]], float]
    unit: str
    ok: Callable[[float], bool]


def _ratio(metric: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: r[metric]["pyresque"]["jobs_per_s"] / r[metric]["ruby"]["jobs_per_s"]


TARGETS = [
    Target("worker_inprocess", "in-process worker ≥ 6× Ruby (FORK_PER_JOB=false)", _ratio("worker_inprocess"), "×",
           lambda v: v >= 6),
    Target("worker_fork", "fork-per-job worker ≥ 3× Ruby forking (a fresh child per job)", _ratio("worker_fork"), "×",
           lambda v: v >= 3),
    Target("enqueue_single", "single enqueue ≥ 3× Ruby", _ratio("enqueue_single"), "×", lambda v: v >= 3),
    Target("enqueue_bulk", "bulk enqueue ≥ 100,000 jobs/s", lambda r: r["enqueue_bulk"]["pyresque"]["jobs_per_s"],
           "jobs/s", lambda v: v >= 100_000),
    Target("pickup_p50", "pickup p50 ≤ 2 ms (fork per job, defaults)", lambda r: r["pickup"]["pyresque"]["p50_ms"], "ms",
           lambda v: v <= 2),
    Target("pickup_p99", "pickup p99 ≤ 10 ms (fork per job, defaults)", lambda r: r["pickup"]["pyresque"]["p99_ms"], "ms",
           lambda v: v <= 10),
    Target("pickup_gap", "fork-mode pickup p50 within 1 ms of the in-process one",
           lambda r: r["pickup"]["pyresque"]["p50_ms"] - r["pickup_inprocess"]["pyresque"]["p50_ms"], "ms",
           lambda v: v <= 1),
    Target("idle_commands", "idle worker ≤ 1 Redis command/s", lambda r: r["idle"]["pyresque"]["commands_per_s"],
           "cmd/s", lambda v: v <= 1),
    Target("idle_rss", "idle worker ≤ 30 MB RSS", lambda r: r["idle"]["pyresque"]["rss_mb"], "MB", lambda v: v <= 30),
    # The whole process tree (fork server and spare included), shared pages counted once.
    Target("idle_pss", "idle worker's process tree PSS ≤ Ruby's (pyresque / Ruby)",
           lambda r: r["idle"]["pyresque"]["tree_pss_mb"] / r["idle"]["ruby"]["tree_pss_mb"], "×", lambda v: v <= 1),
    # A `*` worker whose jobs sit behind every other queue (bench/scaling.py).
    Target("star_keeps", "`*` worker over 1,000 queues keeps ≥ 50% of its 1-queue throughput",
           lambda r: 100 * _star(r, "pyresque")["keeps"], "%", lambda v: v >= 50),
    Target("star_growth", "per-job cost grows with empty queues no faster than Ruby's (pyresque's growth / Ruby's)",
           lambda r: _star(r, "pyresque")["growth_us_per_1000"] / _star(r, "ruby")["growth_us_per_1000"], "×",
           lambda v: v <= 1),
]


def star_derived(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per side with at least two queue counts measured: what the most queues keep of
    the throughput with one (``keeps``, a fraction), and how much each job's cost
    grows per 1,000 empty queues (``growth_us_per_1000``, µs; the slope between the
    fewest and the most queues, so a full run's 1 and 1,000 queues give
    (µs/job at 1,000 − µs/job at 1) × 1000/999)."""
    out = {}
    for side in results.get("star_inprocess", {}):
        try:
            out[side] = _star(results, side)
        except (KeyError, ZeroDivisionError):
            continue
    return out


def _star(results: dict[str, Any], side: str) -> dict[str, float]:
    by_queues = results["star_inprocess"][side]
    fewest, most = sorted(by_queues, key=int)[0], sorted(by_queues, key=int)[-1]
    low, high = by_queues[fewest], by_queues[most]
    return {
        "queues_from": int(fewest), "queues_to": int(most),
        "keeps": high["jobs_per_s"] / low["jobs_per_s"],
        "growth_us_per_1000": (high["us_per_job"] - low["us_per_job"]) * 1000 / (int(most) - int(fewest)),
    }


def judge(results: dict[str, Any], smoke: bool) -> list[dict[str, Any]]:
    """Each target with its measured value and PASS/MISS (``not judged`` in smoke mode)."""
    out = []
    for t in TARGETS:
        try:
            value = float(t.measured(results))
        except (KeyError, TypeError, ZeroDivisionError):
            out.append({"name": t.name, "target": t.text, "measured": None, "unit": t.unit, "result": "NOT MEASURED"})
            continue
        result = "not judged (smoke)" if smoke else ("PASS" if t.ok(value) else "MISS")
        out.append({"name": t.name, "target": t.text, "measured": value, "unit": t.unit, "result": result})
    return out


# (label, metric, field, unit): one row per measurement, both sides where both exist.
ROWS = [
    ("Single enqueue (`enqueue_to` loop)", "enqueue_single", "jobs_per_s", "jobs/s"),
    ("Bulk enqueue (`enqueue_many`)", "enqueue_bulk", "jobs_per_s", "jobs/s"),
    ("Worker, in-process (`FORK_PER_JOB=false`)", "worker_inprocess", "jobs_per_s", "jobs/s"),
    ("Worker, fork per job", "worker_fork", "jobs_per_s", "jobs/s"),
    ("Worker, fork, `--jobs-per-child {jobs_per_child}` (opt-in: a child runs several jobs)",
     "worker_fork_jobs_per_child", "jobs_per_s", "jobs/s"),
    ("Pickup latency p50 (idle worker, defaults)", "pickup", "p50_ms", "ms"),
    ("Pickup latency p99 (idle worker, defaults)", "pickup", "p99_ms", "ms"),
    ("Pickup p50, in-process worker (context)", "pickup_inprocess", "p50_ms", "ms"),
    ("Pickup p99, in-process worker (context)", "pickup_inprocess", "p99_ms", "ms"),
    ("Idle worker Redis commands", "idle", "commands_per_s", "cmd/s"),
    ("Idle worker RSS (the worker process)", "idle", "rss_mb", "MB"),
    ("Idle worker + children, PSS (shared pages once)", "idle", "tree_pss_mb", "MB"),
    ("Idle worker + children, RSS summed", "idle", "tree_rss_mb", "MB"),
]


def table(results: dict[str, Any]) -> str:
    """The side-by-side table as Markdown (also readable in a terminal)."""
    lines = [
        "| Metric | pyresque | Ruby Resque | pyresque / Ruby |",
        "|---|---:|---:|---:|",
    ]
    jobs_per_child = results["meta"]["params"].get("jobs_per_child", "N")
    for label, metric, field, unit in ROWS:
        py = _get(results, metric, "pyresque", field)
        rb = _get(results, metric, "ruby", field)
        ratio = py / rb if py is not None and rb else None
        lines.append(f"| {label.format(jobs_per_child=jobs_per_child)} | {_fmt(py, unit)} | {_fmt(rb, unit)} "
                     f"| {_fmt(ratio, '×')} |")
    return "\n".join(lines)


def scaling_table(results: dict[str, Any]) -> str:
    """How cost grows: a `*` worker over many queues (jobs in the last), and N workers on one queue."""
    lines = [
        "| How cost grows | pyresque | Ruby Resque | pyresque / Ruby |",
        "|---|---:|---:|---:|",
    ]

    def cells(metric: str, field: str, keys: list[str]) -> tuple[list[float | None], list[float | None]]:
        return ([_get_keyed(results, metric, "pyresque", k, field) for k in keys],
                [_get_keyed(results, metric, "ruby", k, field) for k in keys])

    def row(label: str, py: list[float | None], rb: list[float | None], unit: str) -> None:
        ratios = [p / r if p is not None and r else None for p, r in zip(py, rb)]
        lines.append(f"| {label} | {_slashed(py, unit)} | {_slashed(rb, unit)} | {_slashed(ratios, '×')} |")

    queues = _keys(results, "star_inprocess")
    for k in queues:
        py, rb = cells("star_inprocess", "jobs_per_s", [k])
        us_py, us_rb = cells("star_inprocess", "us_per_job", [k])
        ratio = py[0] / rb[0] if py[0] is not None and rb[0] else None
        lines.append(f"| `*` worker, {int(k):,} queue{'s' if k != '1' else ''}, jobs in the last, in-process "
                     f"| {_fmt(py[0], 'jobs/s')} ({_fmt(us_py[0], 'µs')}/job) "
                     f"| {_fmt(rb[0], 'jobs/s')} ({_fmt(us_rb[0], 'µs')}/job) | {_fmt(ratio, '×')} |")
    derived = results.get("star_derived", {})
    if len(queues) > 1:
        growth = [derived.get(side, {}).get("growth_us_per_1000") for side in ("pyresque", "ruby")]
        keeps = [derived.get(side, {}).get("keeps") for side in ("pyresque", "ruby")]
        lines.append(f"| Throughput at {int(queues[-1]):,} queues / at {int(queues[0]):,} "
                     f"| {_fmt(_times(keeps[0], 100), '%')} | {_fmt(_times(keeps[1], 100), '%')} | |")
        lines.append(f"| Per-job cost added per 1,000 empty queues | {_fmt(growth[0], '+µs')} | {_fmt(growth[1], '+µs')} "
                     f"| {_fmt(growth[0] / growth[1] if growth[0] is not None and growth[1] else None, '×')} |")
    pickup = _keys(results, "star_pickup")
    if pickup:
        row(f"`*` worker pickup p50 (idle, defaults), {' / '.join(f'{int(k):,}' for k in pickup)} queues",
            *cells("star_pickup", "p50_ms", pickup), "ms")
    for metric, how in (("count_inprocess", "in-process"), ("count_fork", "fork per job")):
        counts = _keys(results, metric)
        if counts:
            row(f"{' / '.join(counts)} workers on one queue, {how} (total)", *cells(metric, "jobs_per_s", counts),
                "jobs/s")
    return "\n".join(lines)


def targets_table(judged: list[dict[str, Any]]) -> str:
    lines = ["| Target | Measured | Result |", "|---|---:|---|"]
    for j in judged:
        lines.append(f"| {j['target']} | {_fmt(j['measured'], j['unit'])} | {j['result']} |")
    return "\n".join(lines)


def ceiling_line(results: dict[str, Any]) -> str:
    n = results["meta"]["params"]["redis_benchmark_requests"]

    def rates(key: str) -> str:
        return ", ".join(f"{name.upper()} {_fmt(rps, 'req/s')}" for name, rps in (results.get(key) or {}).items())

    share = round_trip_share(results)
    return (f"Redis ceiling (`redis-benchmark -n {n} -P 1`, 50 connections, same server): {rates('redis_ceiling')}; "
            f"one connection (`-c 1 -n {n // 5}`, a round trip at a time, as one worker): {rates('redis_one_connection')}"
            + (f". The in-process worker runs {share:.0%} as many jobs a second as that one connection makes round "
               f"trips (the median of its rates; 100% would be one bare round trip per job)" if share else ""))


def round_trip_share(results: dict[str, Any]) -> float | None:
    """In-process jobs/s over the one-connection round-trip rate (the median of its commands)."""
    rates = sorted((results.get("redis_one_connection") or {}).values())
    jobs = _get(results, "worker_inprocess", "pyresque", "jobs_per_s")
    return jobs / rates[len(rates) // 2] if rates and jobs else None


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    p = meta["params"]
    idle = results.get("idle", {})
    breakdown = "; ".join(
        f"{side}: " + (", ".join(f"{cmd} {n}" for cmd, n in idle[side]["commands_by_name"].items()) or "none")
        + f" in {idle[side]['window_s']:.0f} s"
        for side in ("pyresque", "ruby") if side in idle
    )
    return f"""# Benchmark report: pyresque vs Ruby Resque

Generated by `bench/run` (see [README.md](README.md) for the method) on {meta['started_utc']}.

Machine: {meta['cpu']} × {meta['cpus']} CPUs, Linux {meta['kernel']}; load average before the run {meta['loadavg_before']}.
{noise(meta)}
Redis {meta['redis_version']} (private server, no persistence, 127.0.0.1); Python {meta['python']} (hiredis: {meta['hiredis']});
Ruby {meta['ruby_version']}, Resque {meta['resque_version']}. pyresque commit `{meta['git_commit']}`.

Parameters: {p['enqueue_jobs']:,} single enqueues and {p['inprocess_jobs']:,} in-process / {p['fork_jobs']:,} fork-per-job
jobs per side and round, median of {p['rounds']} interleaved rounds; {p['bulk_jobs']:,} bulk enqueues (median of
{p['bulk_repeats']}); pickup samples {p['pickup_samples_pyresque']} (pyresque) / {p['pickup_samples_ruby']} (Ruby, INTERVAL
{p['ruby_interval_s']} s) / {p['pickup_samples_inprocess']} (pyresque in-process); idle window {p['idle_window_s']} s.

## Side by side

{table(results)}

{ceiling_line(results)}.

## How cost grows

{scaling_table(results)}

A `*` worker over {_listed(p.get('star_queues'))} queues, its jobs in the one that sorts last and every other queue
empty: {_listed(p.get('star_jobs'))} in-process jobs respectively, one run per side; pickup at default settings,
{p.get('star_pickup_samples_pyresque')} probes (pyresque) / {p.get('star_pickup_samples_ruby')} (Ruby) per queue count.
{_listed(p.get('worker_counts'))} workers on one queue: {p.get('count_inprocess_jobs', 0):,} in-process jobs;
{p.get('count_fork_jobs', 0):,} (pyresque) / {p.get('count_fork_jobs_ruby', 0):,} (Ruby) fork-per-job jobs; the rate is
the jobs over the time from a start marker, run once all workers have started, until `stat:processed` reaches the total.

Idle commands by name: {breakdown}.

## Targets

{targets_table(results['targets'])}
"""


def _listed(values: Any) -> str:
    return " / ".join(f"{v:,}" for v in values) if values else "—"


def noise(meta: dict[str, Any]) -> str:
    """A sentence on how much other work shared the machine during the run."""
    other = meta.get("other_processes_cpus")
    if other is None:
        return ""
    text = f"Other processes used {other:.2f} of {meta['cpus']} CPUs on average during the run"
    if other > 0.2:
        return text + ": **the machine was busy with other work, so the numbers are noisy**."
    return text + " (a quiet machine)."


def _get(results: dict[str, Any], metric: str, side: str, field: str) -> float | None:
    try:
        return float(results[metric][side][field])
    except (KeyError, TypeError):
        return None


def _get_keyed(results: dict[str, Any], metric: str, side: str, key: str, field: str) -> float | None:
    try:
        return float(results[metric][side][key][field])
    except (KeyError, TypeError):
        return None


def _keys(results: dict[str, Any], metric: str) -> list[str]:
    """The sizes a keyed measurement ran at (on either side), smallest first."""
    return sorted({k for by_key in results.get(metric, {}).values() for k in by_key}, key=int)


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _slashed(values: list[float | None], unit: str) -> str:
    """Several sizes in one cell: ``1,200 / 2,100 / 2,300 jobs/s``."""
    if all(v is None for v in values):
        return "—"
    texts = [_fmt(v, unit) for v in values]
    suffix = " " + unit if unit not in ("×", "%") else ""
    if suffix and all(t.endswith(suffix) for t in texts if t != "—"):
        return " / ".join(t.removesuffix(suffix) for t in texts) + suffix
    return " / ".join(texts)


def _fmt(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "×":
        return f"{value:.3g}×" if value < 10 else f"{value:,.0f}×"
    if unit in ("jobs/s", "req/s"):
        return f"{value:,.0f} {unit}"
    if unit == "ms":
        return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "%":
        return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"
    if unit in ("µs", "+µs"):
        return f"{value:{'+' if unit == '+µs' else ''},.0f} µs"
    return f"{value:.2f} {unit}"


README_START, README_END = "<!-- latest-table -->", "<!-- /latest-table -->"


def update_readme(readme: str, results: dict[str, Any], report_name: str) -> str:
    """``readme`` with the text between the latest-table markers replaced by this run's tables."""
    head, found, rest = readme.partition(README_START)
    _, found_end, tail = rest.partition(README_END)
    if not (found and found_end):
        return readme
    meta = results["meta"]
    body = (f"\nFrom the full run of {meta['started_utc']} ({meta['cpus']} × {meta['cpu']}, commit "
            f"`{meta['git_commit']}`); details in [{report_name}]({report_name}).\n\n"
            f"{table(results)}\n\n{scaling_table(results)}\n\n{targets_table(results['targets'])}\n")
    return head + README_START + body + README_END + tail
