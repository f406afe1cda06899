"""Prometheus metrics read from the keyspace (Ruby and Python workers alike).

:func:`collect` reads everything in a few pipelined round trips and
:func:`render` writes Prometheus' text exposition format (version 0.0.4).
The names (documented in the README and protocol/SPEC.md):

======================================== ======= ==========================================
name                                     type    meaning
======================================== ======= ==========================================
``resque_queue_jobs{queue}``             gauge   jobs waiting in each queue
``resque_queue_oldest_job_age_seconds``  gauge   age of each queue's head job, for queues
``{queue}``                                      whose head job says when it was enqueued
                                                 (ActiveJob's ``enqueued_at``)
``resque_jobs_processed_total``          counter ``stat:processed``
``resque_jobs_failed_total``             counter ``stat:failed``
``resque_workers{state}``                gauge   registered workers, ``working`` / ``idle`` / ``paused``
``resque_workers_stale``                 gauge   workers whose heartbeat is past the prune interval
``resque_failed_jobs{list}``             gauge   records in each failure list
``resque_delayed_jobs``                  gauge   resque-scheduler delayed jobs
``resque_paused``                        gauge   1 when ``pause-all-workers`` is set
======================================== ======= ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis as redis_py

from pyresque import failure as failure_mod
from pyresque.browse import QueueSummary, WorkerView, counters, queue_summaries, worker_views
from pyresque.connection import as_text, shown
from pyresque.keys import Keys


@dataclass(frozen=True)
class Snapshot:
    queues: list[QueueSummary]
    workers: list[WorkerView]
    processed: int
    failed: int
    paused: bool
    failed_lists: list[tuple[str, int]]
    delayed: int
    now_s: float


def delayed_count(client: redis_py.Redis, keys: Keys) -> int:
    """How many jobs resque-scheduler holds (the lengths of every ``delayed:<ts>`` bucket)."""
    stamps = client.zrange(keys.delayed_schedule, 0, -1)
    if not stamps:
        return 0
    pipe = client.pipeline(transaction=False)
    for ts in stamps:
        text = as_text(ts)
        if text.isdigit():
            pipe.llen(keys.delayed(int(text)))
    return sum(int(n) for n in pipe.execute())


def collect(client: redis_py.Redis, keys: Keys, backend: failure_mod.FailureBackend) -> Snapshot:
    count = counters(client, keys)
    names = backend.failed_queues()
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.failed_list(name))
    lists = list(zip(names, (int(n) for n in pipe.execute())))
    return Snapshot(queue_summaries(client, keys), worker_views(client, keys), count.processed, count.failed,
                    count.paused, lists, delayed_count(client, keys), count.server_time_s)


def _age_s(enqueued_at: str | None, now_s: float) -> float | None:
    if not enqueued_at:
        return None
    try:
        moment = datetime.fromisoformat(enqueued_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, now_s - moment.timestamp())


def _label(value: str) -> str:
    """A label value: a name's bytes that are not UTF-8 shown as U+FFFD, then escaped."""
    return shown(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(snap: Snapshot) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], Any]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")

    family("resque_queue_jobs", "gauge", "Jobs waiting in the queue.",
           [({"queue": q.name}, q.size) for q in snap.queues])
    ages = []
    for q in snap.queues:
        age = _age_s(q.head.enqueued_at if q.head else None, snap.now_s)
        if age is not None:
            ages.append(({"queue": q.name}, round(age, 3)))
    family("resque_queue_oldest_job_age_seconds", "gauge",
           "Age of the job at the head of the queue, where the payload says when it was enqueued.", ages)
    family("resque_jobs_processed_total", "counter", "Jobs processed (stat:processed).", [({}, snap.processed)])  # not-a-key: help text
    family("resque_jobs_failed_total", "counter", "Jobs failed (stat:failed).", [({}, snap.failed)])  # not-a-key: help text
    states = {"working": 0, "idle": 0, "paused": 0}
    for w in snap.workers:
        states[w.info.state] = states.get(w.info.state, 0) + 1
    family("resque_workers", "gauge", "Registered workers by state (working, idle, paused).",
           [({"state": state}, n) for state, n in states.items()])
    family("resque_workers_stale", "gauge", "Workers whose heartbeat is older than the prune interval.",
           [({}, sum(1 for w in snap.workers if w.stale))])
    family("resque_failed_jobs", "gauge", "Failure records in each failure list.",
           [({"list": name}, n) for name, n in snap.failed_lists])
    family("resque_delayed_jobs", "gauge", "Jobs waiting in resque-scheduler's delayed queue.", [({}, snap.delayed)])
    family("resque_paused", "gauge", "1 when pause-all-workers pauses every worker.", [({}, int(snap.paused))])  # not-a-key: help text
    return "\n".join(lines) + "\n"
