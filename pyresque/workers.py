"""Worker registration as Ruby keeps it: ids, the ``workers`` set, state and stats.

A worker id is ``<hostname>:<pid>:<q1>,<q2>``, with the queue patterns as
given (``*`` included, ``!skip`` patterns left out). Ruby's ``Worker.find``
splits it with ``split(':', 3)``; other Ruby code splits on every ``:``, which
is why queue names should not contain one.

This module writes and reads the records every worker has (``workers``,
``worker:<id>``, ``worker:<id>:started``, the heartbeat field and the
per-worker stats), for pyresque's own workers, for pruning and for the CLI.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Sequence

import redis as redis_py

from pyresque import payload as codec
from pyresque import times
from pyresque.connection import as_int, as_name, as_text
from pyresque.keys import Keys


def worker_id(queue_patterns: Sequence[str], pid: int, hostname: str | None = None) -> str:
    """``host:pid:queues`` exactly as Ruby builds it."""
    return f"{hostname or socket.gethostname()}:{pid}:{','.join(queue_patterns)}"


@dataclass(frozen=True)
class WorkerId:
    """A parsed worker id. ``queues`` are the raw patterns."""

    host: str
    pid: int
    queues: tuple[str, ...]
    raw: str

    @classmethod
    def parse(cls, raw: str) -> "WorkerId | None":
        """The id's parts, or None when Ruby could not parse it either."""
        parts = raw.split(":", 2)
        if len(parts) != 3:
            return None
        try:
            pid = int(parts[1])
        except ValueError:
            pid = 0  # Ruby's String#to_i gives 0 too
        return cls(parts[0], pid, tuple(q for q in parts[2].split(",") if q), raw)


@dataclass(frozen=True)
class WorkerInfo:
    """What resque-web shows about one registered worker."""

    id: str
    started: str | None
    heartbeat: str | None
    processed: int
    failed: int
    job: dict[str, Any] | None
    # Paused by pause-all-workers, or (a worker on this host) by USR2.
    paused: bool = False

    @property
    def state(self) -> str:
        if self.job is not None:
            return "working"
        return "paused" if self.paused else "idle"

    @property
    def parsed(self) -> WorkerId | None:
        return WorkerId.parse(self.id)


def register(pipe: Any, keys: Keys, wid: str) -> None:
    """Add the commands that register ``wid`` (Ruby: SADD workers, SET started)."""
    pipe.sadd(keys.workers, wid)
    pipe.set(keys.worker_started(wid), times.started())


def unregister(pipe: Any, keys: Keys, wid: str) -> None:
    """Add the commands that remove every trace of ``wid``, as Ruby's unregister_worker."""
    pipe.srem(keys.workers, wid)
    pipe.delete(keys.worker(wid))
    pipe.delete(keys.worker_started(wid))
    pipe.hdel(keys.heartbeat, wid)
    pipe.delete(keys.processed_stat(wid))
    pipe.delete(keys.failed_stat(wid))
    pipe.delete(keys.reservation(wid))


def working_on(queue: str, run_at: str, payload_json: str) -> str:
    """The ``worker:<id>`` value: ``{"queue","run_at","payload"}`` in Ruby's order."""
    return '{"queue":' + codec.encode(queue) + ',"run_at":' + codec.encode(run_at) + ',"payload":' + payload_json + "}"


_RUN_AT_FIELD = b',"run_at":'
_PAYLOAD_FIELD = b',"payload":'


@dataclass(frozen=True)
class Reservation:
    """A job a pyresque worker holds, with the payload's bytes as queued."""

    id: str
    queue: str
    raw: bytes


def parse_reservation(record: bytes, reservation_id: str) -> Reservation | None:
    """The job in a ``worker:<id>`` record written by ``next_job.lua``, or None.

    The payload is cut out of the record byte for byte (decoding and
    re-encoding it would change its text); a payload that was not a JSON
    object is stored as a JSON string and is decoded back to its text.
    """
    if not (record.startswith(b'{"queue":') and record.endswith(b"}")):
        return None
    try:
        run_at = record.index(_RUN_AT_FIELD)
        body = record.index(_PAYLOAD_FIELD, run_at) + len(_PAYLOAD_FIELD)
        queue = codec.decode(record[len(b'{"queue":'):run_at])
        raw = record[body:-1]
        if raw.startswith(b'"'):
            raw = codec.decode(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    except (ValueError, UnicodeError):
        return None
    if not isinstance(queue, str):
        return None
    return Reservation(reservation_id, queue, raw)


def release(client: redis_py.Redis, keys: Keys, wid: str, reservation: Reservation) -> bool:
    """Put a reserved job back at the head of its queue, if ``wid`` still holds it.

    Atomic (WATCH on the record and its reservation): the job is either
    still held or queued again, never both and never neither. False when
    the worker has moved on.
    """
    record_key, held_key = keys.worker(wid), keys.reservation(wid)
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(record_key, held_key)
        if pipe.get(held_key) != reservation.id.encode() or not pipe.exists(record_key):
            pipe.unwatch()
            return False
        pipe.multi()
        pipe.sadd(keys.queues, reservation.queue)
        pipe.lpush(keys.queue(reservation.queue), reservation.raw)
        pipe.delete(record_key, held_key)
        try:
            pipe.execute()
        except redis_py.WatchError:
            return False
    return True


def ids(client: redis_py.Redis, keys: Keys) -> list[str]:
    return sorted(as_name(m, client) for m in client.smembers(keys.workers))


def all_workers(client: redis_py.Redis, keys: Keys) -> list[WorkerInfo]:
    """Every registered worker with its state, as resque-web's Workers tab reads it."""
    wids = ids(client, keys)
    if not wids:
        return []
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.pause_all)
    for wid in wids:
        pipe.get(keys.worker_started(wid))
        pipe.hget(keys.heartbeat, wid)
        pipe.get(keys.processed_stat(wid))
        pipe.get(keys.failed_stat(wid))
        pipe.get(keys.worker(wid))
    pause, *values = pipe.execute()
    all_paused = pauses_all(pause)
    here = socket.gethostname()
    infos = []
    for i, wid in enumerate(wids):
        started, beat, processed, failed, job = values[i * 5 : i * 5 + 5]
        infos.append(
            WorkerInfo(
                id=wid,
                started=_opt_text(started),
                heartbeat=_opt_text(beat),
                processed=as_int(processed),
                failed=as_int(failed),
                job=_job(job),
                paused=all_paused or _paused_here(wid, here),
            )
        )
    return infos


def pauses_all(value: bytes | str | None) -> bool:
    """Whether a ``pause-all-workers`` value pauses workers, as they read it:
    ``true`` in any case, surrounding blanks ignored."""
    return value is not None and as_text(value).strip().lower() == "true"


def _paused_here(wid: str, here: str) -> bool:
    """Whether ``wid`` is a worker process on this host whose title says it is
    paused (USR2 leaves no trace in Redis; Ruby's and ours both title it so)."""
    parsed = WorkerId.parse(wid)
    if parsed is None or parsed.host != here or parsed.pid <= 0:
        return False
    try:
        with open(f"/proc/{parsed.pid}/cmdline", "rb") as f:
            return b": Paused" in f.read()
    except OSError:
        return False


def working_count(client: redis_py.Redis, keys: Keys) -> int:
    """How many registered workers have a non-empty ``worker:<id>`` (Ruby's ``working``)."""
    wids = ids(client, keys)
    if not wids:
        return 0
    return sum(1 for v in client.mget([keys.worker(w) for w in wids]) if v)


def _job(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = codec.decode(value)
    except (ValueError, UnicodeDecodeError):
        return {"raw": as_text(value)}
    return data if isinstance(data, dict) else {"raw": as_text(value)}


def _opt_text(value: bytes | str | None) -> str | None:
    return None if value is None else as_text(value)



def current_job(client: redis_py.Redis, keys: Keys, wid: str) -> dict[str, Any] | None:
    """The decoded ``worker:<id>`` record, or None when the worker is idle."""
    return _job(client.get(keys.worker(wid)))
