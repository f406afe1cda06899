"""Each recurring schedule's last and next run, as the scheduler, the dashboard and the CLI see them.

A schedule's last run is the later of pyresque's tick record and the
``last_enqueued_at`` Ruby's scheduler writes, so in a mixed fleet the latest
run counts, whoever made it. From it come the ticks a new master missed
(:func:`missed_ticks`) and the next run a viewer shows (:func:`schedule_state`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from pyresque.errors import InvalidSchedule, NoQueueError
from pyresque.connection import as_text
from pyresque.scheduler.schedule import Cron, Entry, Every, Problem, decode_persistent, parse_entry

if TYPE_CHECKING:
    from pyresque.client import Resque
    from pyresque.registry import Registry


def resolve_job(entry: Entry, registry: "Registry") -> tuple[str | None, str]:
    """The queue and wire class an entry's job is enqueued as (Ruby's ``enqueue_from_config``).

    The queue is the entry's, else the registered class's (None: there is
    none). A ``custom_job_class`` Ruby cannot load is enqueued under that name;
    pyresque loads nothing, so it always is."""
    spec = registry.get(entry.class_name)
    queue = entry.queue or (spec.queue if spec is not None else None)
    custom = entry.config.get("custom_job_class")
    name = custom if isinstance(custom, str) and custom and custom != "Resque::Job" else entry.class_name
    return queue, name


def enqueue_now(resque: "Resque", entry: Entry) -> str:
    """Enqueue one run of ``entry`` now, as resque-web's "Queue now" does; returns the queue.

    Neither ``last_enqueued_at`` nor the scheduler's next tick changes, as in Ruby.
    Raises :class:`NoQueueError` when the entry has no queue."""
    queue, name = resolve_job(entry, resque.registry)
    if not queue:
        raise NoQueueError(f"schedule {entry.name!r}: {entry.class_name} has no queue: give the entry a queue "
                           "or register the class with one")
    resque.enqueue_to(queue, name, *entry.args)
    return queue


def parse_ruby_time(text: str | None) -> float | None:
    """Epoch seconds of Ruby's ``Time#to_s`` (``2026-01-15 16:28:07 -0500``, as
    ``last_enqueued_at`` holds it), or None when it is not that."""
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").timestamp()
    except ValueError:
        return None


def ruby_time(epoch_s: float) -> str:
    """Ruby's ``Time#to_s`` of ``epoch_s`` in the local zone: ``2026-01-15 16:28:07 -0500``."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch_s))


def last_ticks(ticks: Mapping[Any, Any], last_enqueued_at: Mapping[Any, Any]) -> dict[str, float]:
    """Each schedule's last enqueued tick, epoch seconds: the later of pyresque's
    ``schedule_tick`` record and ``last_enqueued_at``, which Ruby's scheduler
    writes when it enqueues (so in a mixed fleet the latest run counts,
    whoever made it). Values that are neither are ignored."""
    found: dict[str, float] = {}
    for name, value in last_enqueued_at.items():
        when = parse_ruby_time(as_text(value))
        if when is not None:
            found[as_text(name)] = when
    for name, value in ticks.items():
        try:
            tick = float(value)
        except ValueError:
            continue
        if math.isfinite(tick):
            found[as_text(name)] = max(tick, found.get(as_text(name), tick))
    return found


@dataclass(frozen=True)
class Missed:
    """The ticks of one entry that came and went while no scheduler was master."""

    ticks: list[float]  # the first ``keep`` of them, oldest first
    count: int  # how many there were (at least, when not ``exact``)
    exact: bool
    first_s: float | None
    last_s: float | None  # the last one counted


# Counting a cron line's missed ticks one by one stops here (~50 us each).
MISSED_COUNT_LIMIT = 10_000


def missed_ticks(entry: Entry, last_tick_s: float, until_s: float, started_s: float, keep: int) -> Missed:
    """The ticks of ``entry`` after ``last_tick_s`` and at or before ``until_s``."""
    first = entry.next_after(last_tick_s, started_s, last_tick_s)
    if first > until_s:
        return Missed([], 0, True, None, None)
    if isinstance(entry.when, Every):
        period = entry.when.period_s
        count = int((until_s - first) // period) + 1
        return Missed([first + i * period for i in range(min(keep, count))], count, True,
                      first, first + (count - 1) * period)
    ticks, count, tick = [first][:keep], 1, first
    while count < MISSED_COUNT_LIMIT:
        nxt = entry.next_after(tick, started_s, tick)
        if nxt > until_s:
            return Missed(ticks, count, True, first, tick)
        count, tick = count + 1, nxt
        if len(ticks) < keep:
            ticks.append(tick)
    return Missed(ticks, count, False, first, tick)


def next_run(entry: Entry, now_s: float, last_run_s: float | None) -> float | None:
    """When ``entry`` next fires after ``now_s``, as far as Redis can tell, or None (unknown).

    A cron line says it by itself. An ``every`` counts from its last run
    (``last_run_s``), or from its ``first_at``; without either it counts
    from when a scheduler process started, which Redis does not record."""
    if isinstance(entry.when, Cron):
        return entry.when.next_after(now_s)
    if last_run_s is None:
        first_at = entry.when.first_at_s
        return first_at if first_at is not None and first_at > now_s else None
    return entry.next_after(now_s, now_s, last_run_s)


@dataclass(frozen=True)
class ScheduleView:
    """One recurring schedule as a dashboard shows it.

    ``source`` is ``"dynamic"`` (``persistent_schedules``, which Ruby's
    ``set_schedule(..., persist: true)`` writes: it can be removed) or
    ``"file"`` (the static schedule file the viewer was given). ``entry`` is
    None when the config does not parse (``problem`` says why). ``digest``
    names the config as shown, so an action can check it did not change."""

    name: str
    source: str
    config: Any
    entry: Entry | None
    problem: str | None
    queue: str | None
    job_class: str | None
    last_enqueued_at: str | None
    next_run_s: float | None
    digest: str

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {"name": self.name, "source": self.source, "class": self.job_class, "queue": self.queue,
                "cron": e.when.text if e is not None and isinstance(e.when, Cron) else None,
                "every": e.when.text if e is not None and isinstance(e.when, Every) else None,
                "args": e.args if e is not None else None,
                "description": e.description if e is not None else None,
                "rails_env": list(e.envs) if e is not None else None,
                "last_enqueued_at": self.last_enqueued_at, "next_run_s": self.next_run_s,
                "problem": self.problem, "config": self.config, "digest": self.digest}


@dataclass(frozen=True)
class ScheduleState:
    """Every schedule a viewer can know of, oldest name first, and the scheduler master.

    ``unlisted`` names schedules that ran (``last_enqueued_at``) but are in
    no schedule the viewer knows: a static schedule only its scheduler
    process holds (resque-scheduler 5 keeps it out of Redis), or one removed
    since. ``master`` is the master lock's ``<host>:<pid>`` (None: no
    scheduler is master) and ``master_ttl_s`` its seconds to live."""

    schedules: list[ScheduleView]
    unlisted: dict[str, str]
    master: str | None
    master_ttl_s: int | None
    problems: list[Problem]


def schedule_state(resque: "Resque", static: Mapping[str, Any] | None = None, *, now_s: float | None = None,
                   lock_prefix: str = "") -> ScheduleState:
    """The dynamic schedules in Redis, the ``static`` mapping (a parsed YAML
    schedule file) under them, each with its last and next run, and the master:
    one round trip. A dynamic schedule hides a static one of the same name, as
    in Ruby's ``all_schedules``."""
    client, keys = resque.redis, resque.layout
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.persistent_schedules)
    pipe.hgetall(keys.last_enqueued_at)
    pipe.hgetall(keys.schedule_ticks)
    pipe.get(keys.master_lock(lock_prefix))
    pipe.ttl(keys.master_lock(lock_prefix))
    stored, last_raw, ticks_raw, master, ttl = pipe.execute()
    text = {as_text(k): as_text(v) for k, v in last_raw.items()}
    last_runs = last_ticks(ticks_raw, last_raw)
    now = time.time() if now_s is None else now_s
    configs = [(name, "file", config) for name, config in (static or {}).items()]
    dynamic = decode_persistent(stored)
    configs = [c for c in configs if str(c[0]) not in dynamic] + [(n, "dynamic", c) for n, c in dynamic.items()]
    views, problems = [], []
    for name, source, config in sorted(configs, key=lambda c: str(c[0])):
        name = str(name)
        entry, found = parse_entry(name, config) if isinstance(config, dict) else (
            None, [Problem(name, "is not JSON" if isinstance(config, str) else "is not a mapping of settings")])
        problems += found
        fatal = next((p.message for p in found if p.fatal), None)
        queue, job_class, nxt = None, None, None
        if entry is not None:
            queue, job_class = resolve_job(entry, resque.registry)
            try:
                nxt = next_run(entry, now, last_runs.get(name))
            except InvalidSchedule as exc:
                fatal = str(exc)
        elif isinstance(config, dict) and isinstance(config.get("class", name), str):
            job_class = config.get("class", name)
        views.append(ScheduleView(name, source, config, entry, fatal, queue, job_class, text.get(name), nxt,
                                  config_digest(config)))
    known = {v.name for v in views}
    return ScheduleState(views, {n: t for n, t in sorted(text.items()) if n not in known},
                         as_text(master) if master is not None else None,
                         int(ttl) if master is not None and int(ttl) >= 0 else None, problems)


def config_digest(config: Any) -> str:
    """The SHA-1 of a schedule's settings, whatever their key order."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
