"""One round trip per job: record how the last job ended and reserve the next.

A :class:`Reserver` holds what its worker knows between two calls of
``scripts/next_job.lua``: the outcome of the job in hand (waiting to be
recorded by the next call), that job's reservation id, and whether a call
was cut short so that Redis may have reserved a job the worker never heard
of. The script makes a repeated call safe; this class makes sure a repeat
carries the same arguments.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any

import redis as redis_py

from pyresque import execution
from pyresque import failure as failure_mod
from pyresque import payload as codec
from pyresque import times
from pyresque import workers as worker_records
from pyresque.connection import as_text, name_bytes, shown
from pyresque.errors import WorkerError
from pyresque.keys import Keys
from pyresque.wire import HotScript, packed

log = logging.getLogger("pyresque.worker")

PAUSED = "paused"


class Reserver:
    """The worker ``worker_id``'s side of ``next_job.lua``."""

    def __init__(self, client: redis_py.Redis, keys: Keys, worker_id: str,
                 failure_backend: failure_mod.FailureBackend) -> None:
        self.client = client
        self.keys = keys
        self.worker_id = worker_id
        self.failure_backend = failure_backend
        self._script = HotScript(client, "next_job")
        # How the job in hand ended, recorded by the next call; its queue,
        # payload bytes and reservation id.
        self.pending: execution.Outcome | None = None
        self._queue = ""
        self._raw: bytes | str = b""
        self.reservation: str | None = None
        # A call that raised may have reserved a job whose reply never came.
        self.unsure = False
        # Whether the last reserve went through its queues in order (not
        # "paused", not resuming a job a lost reply had reserved).
        self.scanned = False
        self._prefix = os.urandom(4).hex()
        self._count = 0
        self._queue_args_cache: dict[tuple[str, ...], tuple[bytes, bytes]] = {}
        self._run_at_second = -1
        self._run_at_json = b""
        self.finished = 0

    def hold(self, outcome: execution.Outcome, queue: str, raw: bytes | str) -> None:
        """The job in hand ended so; the next call records it."""
        self.pending, self._queue, self._raw = outcome, queue, raw

    def next(self, queues: list[str]) -> tuple[str, bytes] | str | None:
        """Record the job in hand and reserve the next from ``queues``:
        ``(queue, payload bytes)``, ``"paused"``, or None when all are empty."""
        self.scanned = False
        reply = self._call(queues)
        if reply is None:
            self.scanned = True
            return None
        if reply == b"paused" or reply == PAUSED:
            return PAUSED
        position = int(reply[0])
        if position:
            self.scanned = True
            return queues[position - 1], reply[1]
        held = self._held(reply)
        log.warning("%s: resuming job %s from %s, reserved by a call whose reply was lost",
                    self.worker_id, held.id, held.queue)
        self.reservation = held.id
        return held.queue, held.raw

    def flush(self) -> None:
        """Record the job in hand now, reserving nothing; a job reserved by a
        call whose reply was lost goes back to the head of its queue."""
        if self.pending is None and not self.unsure:
            return
        reply = self._call([])
        if isinstance(reply, list):
            held = self._held(reply)
            if worker_records.release(self.client, self.keys, self.worker_id, held):
                log.warning("%s: put job %s back on %s (reserved by a call whose reply was lost)",
                            self.worker_id, held.id, held.queue)

    def _held(self, reply: list[Any]) -> worker_records.Reservation:
        held = worker_records.parse_reservation(reply[1], as_text(reply[2]))
        if held is None:
            raise WorkerError(f"the record of worker {self.worker_id} is one this worker cannot read: {reply[1][:200]!r}")
        return held

    def _call(self, queues: list[str]) -> Any:
        outcome = self.pending
        requeue = outcome.requeue if outcome is not None else None
        if outcome is not None and outcome.record is not None:
            failure_json: str | bytes = failure_mod.encode_record(outcome.record)
            dest = self.failure_backend.destination(str(outcome.record.get("queue") or ""))
            failure_keys = packed(_bytes(dest.list_key), _bytes(dest.set_key or self.keys.failed_queues))
            member: str | bytes = dest.member or b""
        else:
            failure_json, member = b"", b""
            failure_keys = self._no_failure_keys
        queue_keys, queue_names = self._queue_args(tuple(queues))
        requeue_key = packed(_bytes(self.keys.queue(self._queue))) if requeue else self._no_requeue_key
        self._count += 1
        reservation = f"{self._prefix}{self._count:08x}"
        self.unsure = True
        reply = self._script(
            10 + len(queues), 18 + 2 * len(queues),
            b"".join((self._stat_keys, failure_keys, self._worker_keys, requeue_key, queue_keys, packed(
                _bytes(self.reservation or "") if outcome is not None else b"",
                _bytes(failure_json),
                b"1" if outcome is not None and outcome.counts_as_failed else b"",
                _bytes(member),
                self._run_at(),
                reservation.encode(),
                _bytes(requeue or b""),
                _bytes(self._raw) if requeue else b"",
            ), queue_names)),
        )
        self.unsure = False
        if outcome is not None:
            self.pending = None
            self.reservation = None
            self.finished += 1
        if isinstance(reply, list) and int(reply[0]) != 0:
            self.reservation = reservation
        return reply

    def close(self) -> None:
        self._script.close()

    # The script is called once per job: its constant arguments are packed once.
    @functools.cached_property
    def _stat_keys(self) -> bytes:
        k, wid = self.keys, self.worker_id
        return packed(*(_bytes(x) for x in (k.processed_stat(), k.processed_stat(wid), k.failed_stat(), k.failed_stat(wid))))

    @functools.cached_property
    def _worker_keys(self) -> bytes:
        k, wid = self.keys, self.worker_id
        return packed(_bytes(k.pause_all), _bytes(k.worker(wid)), _bytes(k.reservation(wid)))

    @functools.cached_property
    def _no_failure_keys(self) -> bytes:
        # Unused when there is no failure; any key of ours fills the slots.
        return packed(_bytes(self.keys.failed), _bytes(self.keys.failed_queues))

    @functools.cached_property
    def _no_requeue_key(self) -> bytes:
        return packed(_bytes(self.keys.failed))

    def _queue_args(self, queues: tuple[str, ...]) -> tuple[bytes, bytes]:
        cached = self._queue_args_cache.get(queues)
        if cached is None:
            if len(self._queue_args_cache) > 64:  # a dynamic worker's list changes; keep it bounded
                self._queue_args_cache.clear()
            cached = (packed(*(_bytes(self.keys.queue(q)) for q in queues)),
                      packed(*(_bytes(codec.encode(shown(q))) for q in queues)))  # resque-web shows the name
            self._queue_args_cache[queues] = cached
        return cached

    def _run_at(self) -> bytes:
        now = int(time.time())
        if now != self._run_at_second:
            self._run_at_second, self._run_at_json = now, codec.encode(times.run_at(now)).encode()
        return self._run_at_json


def _bytes(value: str | bytes) -> bytes:
    # A name read from Redis that is not UTF-8 goes back as the same bytes.
    return name_bytes(value) if isinstance(value, str) else value
