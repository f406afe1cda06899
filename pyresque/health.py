"""Is a worker alive? What ``pyresque health`` answers, for liveness and readiness probes.

Healthy means: Redis answers, and every worker asked about (one by id, or
all those registered from a host) has a heartbeat younger than
``max_age_s`` by Redis's clock. Paused workers are healthy (they are alive,
and resuming them is an operator's call) but said to be paused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import redis as redis_py

from pyresque import times
from pyresque.client import Resque
from pyresque.connection import describe
from pyresque.errors import ConnectionFailed

DEFAULT_MAX_AGE_S = 120.0  # two of Ruby's 60 s heartbeat intervals


@dataclass
class WorkerHealth:
    id: str
    heartbeat_age_s: float | None
    paused: bool


@dataclass
class Health:
    healthy: bool
    problem: str
    redis: str
    workers: list[WorkerHealth] = field(default_factory=list)

    def line(self) -> str:
        if not self.healthy:
            return f"unhealthy: {self.problem}"
        ages = ", ".join(f"{w.id} {w.heartbeat_age_s:.0f} s{' (paused)' if w.paused else ''}" for w in self.workers)
        return f"healthy: Redis at {self.redis} answers; heartbeats: {ages}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(resque: Resque, *, worker_id: str | None = None, host: str | None = None,
          max_age_s: float = DEFAULT_MAX_AGE_S) -> Health:
    """The health of ``worker_id``, or of every worker registered from ``host``."""
    where = describe(resque.redis)
    try:
        return _check(resque, worker_id, host, max_age_s, where)
    except ConnectionFailed as exc:
        return Health(False, str(exc), where)
    except redis_py.RedisError as exc:
        return Health(False, f"cannot reach Redis at {where}: {exc}", where)


def _check(resque: Resque, worker_id: str | None, host: str | None, max_age_s: float, where: str) -> Health:
    now_s, _ = resque.redis.time()
    workers = [w for w in resque.workers()
               if (w.id == worker_id if worker_id else w.parsed is not None and w.parsed.host == host)]
    wanted = f"worker {worker_id}" if worker_id else f"workers on host {host}"
    if not workers:
        return Health(False, f"no {wanted} registered in Redis at {where}", where)
    report = []
    for w in workers:
        age = None
        if w.heartbeat is not None:
            try:
                age = now_s - times.parse_heartbeat(w.heartbeat)
            except ValueError:
                age = None
        report.append(WorkerHealth(w.id, age, w.paused))
    stale = [w for w in report if w.heartbeat_age_s is None or w.heartbeat_age_s > max_age_s]
    if stale:
        what = ", ".join(f"{w.id} ({'no heartbeat' if w.heartbeat_age_s is None else f'{w.heartbeat_age_s:.0f} s'})"
                         for w in stale)
        return Health(False, f"heartbeat older than {max_age_s:.0f} s: {what}", where, report)
    return Health(True, "", where, report)
