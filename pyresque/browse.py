"""Read-side queries for dashboards and the CLI: pages of the keyspace in a few round trips.

Every function here reads a whole page with one pipeline (or a handful),
never one round trip per queue, worker or key, so a page over 1,000 queues
or 500 workers costs about what a page over ten does. Nothing here writes.

Jobs are described as a dashboard shows them (:class:`JobView`): the wire
class, and for Rails' ActiveJob wrapper the real job class and its
arguments. Each item carries the SHA-1 of its exact bytes (``digest``), so an
action taken on it later can check that the item is still the one the user
saw (see :mod:`pyresque.listitems`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import redis as redis_py

from pyresque import payload as codec
from pyresque.activejob.jobs import WRAPPER_CLASS
from pyresque import times
from pyresque import workers as worker_records
from pyresque.connection import as_int, as_name, as_text
from pyresque.heartbeat import PRUNE_AFTER_S
from pyresque.keys import Keys

ACTIVEJOB_WRAPPER = WRAPPER_CLASS


def digest(raw: bytes | str) -> str:
    """The SHA-1 (hex) of a list item's exact bytes: how an action names the item it means."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    return hashlib.sha1(data).hexdigest()


@dataclass(frozen=True)
class JobView:
    """One job payload as a dashboard shows it.

    ``class_name`` is the wire class; ``job_class`` is what to show (ActiveJob's
    ``job_class`` for the Rails wrapper, else the wire class); ``args`` are
    the arguments to show (ActiveJob's ``arguments``). ``problem`` says why a
    payload is not a valid job (then ``class_name`` may be None).
    """

    raw: str
    digest: str
    class_name: str | None
    job_class: str | None
    args: Any
    enqueued_at: str | None = None
    problem: str | None = None
    activejob: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"class": self.class_name, "job_class": self.job_class, "args": self.args,
                "enqueued_at": self.enqueued_at, "problem": self.problem, "activejob": self.activejob,
                "digest": self.digest, "raw": self.raw}


def describe_payload(data: Any, raw: bytes | str | None = None) -> JobView:
    """A :class:`JobView` of an already decoded payload (``data``) and, when the
    view must name it for an action, its bytes (else ``raw`` and ``digest`` are empty)."""
    text = as_text(raw) if raw is not None else ""
    sha = digest(raw) if raw is not None else ""
    if not isinstance(data, dict):
        return JobView(text, sha, None, None, None, problem="not a JSON object")
    cls = data.get("class")
    args = data.get("args")
    if not isinstance(cls, str):
        return JobView(text, sha, None, None, args, problem='no "class" string')
    job_data = _activejob_data(args) if cls == ACTIVEJOB_WRAPPER else None
    if job_data is not None:
        real = job_data["job_class"]
        enqueued = job_data.get("enqueued_at")
        return JobView(text, sha, cls, real, job_data.get("arguments"),
                       enqueued_at=enqueued if isinstance(enqueued, str) else None, activejob=True)
    return JobView(text, sha, cls, cls, args)


def job_classes(data: Any) -> tuple[str | None, str | None]:
    """(wire class, class to show) of a decoded payload, as :func:`describe_payload` names them,
    without building a view: what filters compare, for 100,000 records at a time."""
    if not isinstance(data, dict):
        return None, None
    cls = data.get("class")
    if not isinstance(cls, str):
        return None, None
    if cls == ACTIVEJOB_WRAPPER:
        job_data = _activejob_data(data.get("args"))
        if job_data is not None:
            return cls, job_data["job_class"]
    return cls, cls


def _activejob_data(args: Any) -> dict[str, Any] | None:
    """The wrapper's job data when it names a real class, else None."""
    if isinstance(args, list) and args and isinstance(args[0], dict) and isinstance(args[0].get("job_class"), str):
        return args[0]
    return None


def describe_job(raw: bytes | str) -> JobView:
    """A :class:`JobView` of queued bytes; bytes that are not JSON are shown as text."""
    try:
        data = codec.decode(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return JobView(as_text(raw), digest(raw), None, None, None, problem=f"not valid JSON: {exc}")
    return describe_payload(data, raw)


# Queues ----------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSummary:
    """A queue's size and the job at its head (the oldest), if any."""

    name: str
    size: int
    head: JobView | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "oldest": self.head.to_json() if self.head else None}


def queue_summaries(client: redis_py.Redis, keys: Keys) -> list[QueueSummary]:
    """Every queue in ``queues``, sorted, with its size and oldest job: two round trips."""
    names = sorted(as_name(q, client) for q in client.smembers(keys.queues))
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.queue(name))
        pipe.lindex(keys.queue(name), 0)
    values = pipe.execute()
    return [
        QueueSummary(name, int(values[2 * i]), describe_job(values[2 * i + 1]) if values[2 * i + 1] is not None else None)
        for i, name in enumerate(names)
    ]


@dataclass(frozen=True)
class QueuePage:
    """Jobs ``start``.. of one queue; ``known`` is whether ``queues`` lists it."""

    name: str
    size: int
    start: int
    jobs: list[JobView]
    known: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "start": self.start, "known": self.known,
                "jobs": [dict(j.to_json(), position=self.start + i) for i, j in enumerate(self.jobs)]}


def queue_page(client: redis_py.Redis, keys: Keys, name: str, start: int = 0, count: int = 20) -> QueuePage:
    """One page of a queue's jobs, oldest first, in one round trip."""
    start = max(0, start)
    pipe = client.pipeline(transaction=False)
    pipe.sismember(keys.queues, name)
    pipe.llen(keys.queue(name))
    pipe.lrange(keys.queue(name), start, start + max(0, count) - 1)
    known, size, raws = pipe.execute()
    jobs = [describe_job(r) for r in raws] if count > 0 else []
    return QueuePage(name, int(size), start, jobs, bool(known))


# Workers ---------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerView:
    """A registered worker with its parsed id and heartbeat age (by Redis' clock).

    ``stale`` is Ruby's pruning rule: the heartbeat is older than the prune
    interval (300 s). A worker with no heartbeat at all is not stale; Ruby
    does not prune it by heartbeat either.
    """

    info: worker_records.WorkerInfo
    host: str
    pid: int
    queues: tuple[str, ...]
    heartbeat_age_s: float | None
    stale: bool

    @property
    def job(self) -> JobView | None:
        job = self.info.job
        if job is None:
            return None
        return describe_payload(job.get("payload"))

    def to_json(self) -> dict[str, Any]:
        i = self.info
        job = self.job
        return {"id": i.id, "host": self.host, "pid": self.pid, "queues": list(self.queues),
                "state": i.state, "started": i.started, "heartbeat": i.heartbeat,
                "heartbeat_age_s": self.heartbeat_age_s, "stale": self.stale,
                "processed": i.processed, "failed": i.failed,
                "job": None if i.job is None else {"queue": i.job.get("queue"), "run_at": i.job.get("run_at"),
                                                   "payload": job.to_json() if job else None}}


def worker_views(client: redis_py.Redis, keys: Keys, prune_after_s: float = PRUNE_AFTER_S) -> list[WorkerView]:
    """Every registered worker (Ruby and Python alike), in two round trips."""
    infos = worker_records.all_workers(client, keys)
    now_s, _ = client.time()
    views = []
    for info in infos:
        parsed = info.parsed
        age = None
        if info.heartbeat:
            try:
                age = max(0.0, now_s - times.parse_heartbeat(info.heartbeat))
            except ValueError:
                age = None
        views.append(WorkerView(
            info,
            parsed.host if parsed else info.id,
            parsed.pid if parsed else 0,
            parsed.queues if parsed else (),
            age,
            age is not None and age > prune_after_s,
        ))
    return views


# Counters ----------------------------------------------------------------------
@dataclass(frozen=True)
class Counters:
    """The global counters and switches an overview shows, read in one round trip."""

    processed: int
    failed: int
    paused: bool
    server_time_s: float


def counters(client: redis_py.Redis, keys: Keys) -> Counters:
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.processed_stat())
    pipe.get(keys.failed_stat())
    pipe.get(keys.pause_all)
    pipe.time()
    processed, failed, pause, (secs, micros) = pipe.execute()
    return Counters(as_int(processed), as_int(failed), is_pause_value(pause), secs + micros / 1e6)


is_pause_value = worker_records.pauses_all


def redis_info(client: redis_py.Redis) -> list[tuple[str, Any]]:
    """Redis ``INFO`` as sorted (field, value) pairs (Ruby's ``Resque.redis.info``)."""
    return sorted((str(k), v) for k, v in client.info().items())


# Keys --------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyView:
    """One key of the namespace (without the prefix), its type and size.

    ``size`` is the length for lists, sets, hashes and sorted sets and the
    string's length in bytes for strings; ``ttl_s`` is -1 without a TTL.
    """

    name: str
    type: str
    size: int
    ttl_s: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.name, "type": self.type, "size": self.size, "ttl_s": self.ttl_s}


@dataclass(frozen=True)
class KeyPage:
    total: int
    start: int
    keys: list[KeyView] = field(default_factory=list)


_SIZE_COMMAND = {"list": "LLEN", "set": "SCARD", "hash": "HLEN", "zset": "ZCARD", "string": "STRLEN",
                 "stream": "XLEN"}


def key_page(client: redis_py.Redis, keys: Keys, start: int = 0, count: int = 50) -> KeyPage:
    """One page of the namespace's keys, sorted, found with SCAN (never KEYS).

    The names come from a full SCAN; types, sizes and TTLs only for the page,
    in two pipelined round trips.
    """
    names = sorted({k for k in client.scan_iter(match=keys.all_pattern(), count=1000)})
    start = max(0, start)
    page = names[start:start + max(0, count)]
    if not page:
        return KeyPage(len(names), start)
    pipe = client.pipeline(transaction=False)
    for name in page:
        pipe.type(name)
        pipe.ttl(name)
    typed = pipe.execute()
    kinds = [as_text(typed[2 * i]) for i in range(len(page))]
    pipe = client.pipeline(transaction=False)
    for name, kind in zip(page, kinds):
        command = _SIZE_COMMAND.get(kind)
        if command:
            pipe.execute_command(command, name)
        else:
            pipe.exists(name)
    sizes = pipe.execute()
    views = [KeyView(keys.strip(as_text(name)), kind, as_int(size), int(typed[2 * i + 1]))
             for i, (name, kind, size) in enumerate(zip(page, kinds, sizes))]
    return KeyPage(len(names), start, views)
