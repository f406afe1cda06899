"""Rates over time from Resque's counters, sampled into bounded Redis lists.

Resque keeps only running totals (``stat:processed``, ``stat:failed``), so a
rate chart needs samples. Whoever calls :func:`sample` (the dashboard, on
its pages, its JSON poll and ``/metrics``) appends ``"<epoch_s> <processed>
<failed>"`` to ``pyresque:history:<resolution>`` at most once per period,
newest first, trimmed to a fixed length:

=========== ====== ======= ============
resolution  period samples covers
=========== ====== ======= ============
``10s``     10 s   360     the last hour
``5m``      300 s  288     the last day
=========== ====== ======= ============

A ``SET NX EX`` lock per resolution makes one sample per period however
many dashboards run. Times come from Redis ``TIME`` so every process shares
one clock. Ruby never reads these keys; deleting them only loses the chart.
History exists only for periods when some dashboard was being read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis as redis_py

from pyresque.connection import as_int, as_text
from pyresque.keys import Keys

RESOLUTIONS: dict[str, tuple[int, int]] = {"10s": (10, 360), "5m": (300, 288)}


def sample(client: redis_py.Redis, keys: Keys) -> None:
    """Take a sample at each resolution whose period has passed (one round trip when none has)."""
    pipe = client.pipeline(transaction=False)
    for name, (period_s, _) in RESOLUTIONS.items():
        pipe.set(keys.history_lock(name), "1", nx=True, ex=period_s)
    pipe.time()
    pipe.get(keys.processed_stat())
    pipe.get(keys.failed_stat())
    *taken, (now_s, _), processed, failed = pipe.execute()
    if not any(taken):
        return
    entry = f"{now_s} {as_int(processed)} {as_int(failed)}"
    pipe = client.pipeline(transaction=False)
    for (name, (_, length)), took in zip(RESOLUTIONS.items(), taken):
        if took:
            pipe.lpush(keys.history(name), entry)
            pipe.ltrim(keys.history(name), 0, length - 1)
    pipe.execute()


@dataclass(frozen=True)
class Rate:
    """Jobs per second over the interval ending at ``at_s`` (epoch seconds)."""

    at_s: int
    processed_per_s: float
    failed_per_s: float

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at_s, "processed_per_s": round(self.processed_per_s, 3),
                "failed_per_s": round(self.failed_per_s, 3)}


def rates(client: redis_py.Redis, keys: Keys, resolution: str = "10s") -> list[Rate]:
    """Rates between consecutive samples, oldest first. A counter that went
    down (reset) gives 0 for that interval, not a negative rate."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}")
    samples = []
    for entry in reversed(client.lrange(keys.history(resolution), 0, -1)):
        parts = as_text(entry).split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            samples.append(tuple(int(p) for p in parts))
    out = []
    for (t0, p0, f0), (t1, p1, f1) in zip(samples, samples[1:]):
        if t1 <= t0:
            continue
        out.append(Rate(t1, max(0, p1 - p0) / (t1 - t0), max(0, f1 - f0) / (t1 - t0)))
    return out
