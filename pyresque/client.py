"""The client: ``Resque.enqueue`` and friends, on Ruby's keyspace.

    from pyresque import Resque
    resque = Resque("redis://localhost:6379/0")
    resque.enqueue_to("archive", "Archive", 42, "main")

Every method reads and writes exactly what Ruby Resque does, so a Ruby
worker runs what Python enqueues and ``Resque.info`` agrees with ours.
"""

from __future__ import annotations

import functools
import os
import socket
from typing import Any, Callable, Iterable, Sequence, TypeVar

import redis as redis_py

from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque import wire
from pyresque import workers as worker_records
from pyresque.connection import RedisTimeouts, as_int, as_text, connect, describe, name_bytes
from pyresque.errors import ConnectionFailed, DontPerform, InvalidQueueName, MalformedPayload, NoQueueError, UnknownJob
from pyresque.config import default_environment
from pyresque.keys import DEFAULT_NAMESPACE, Keys
from pyresque.registry import JobSpec, Registry, default_registry
from pyresque.scheduler.delayed import Delayed

F = TypeVar("F", bound=Callable[..., Any])

# RPUSH at most this many payloads per command in bulk enqueue.
_BULK_CHUNK = 1000


def validate_queue(queue: str) -> str:
    """``queue`` if it can be a Resque queue name, else :class:`InvalidQueueName`."""
    if not isinstance(queue, str) or not queue:
        raise InvalidQueueName("queue name must be a non-empty string")
    if "," in queue:
        raise InvalidQueueName(f"queue name {queue!r} contains ',', which splits worker ids")
    return queue


def translate_redis_errors(fn: F) -> F:
    """Turn redis-py's connection errors into :class:`ConnectionFailed`."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
            raise ConnectionFailed(f"cannot reach Redis at {describe(self.redis)}: {exc}") from None

    return wrapper  # type: ignore[return-value]


class Resque:
    """A connection to one Resque keyspace (a Redis database and a namespace).

    ``redis`` is a ``redis.Redis`` client, a ``redis://``/``rediss://``/
    ``unix://``/``redis+sentinel://`` URL, or Resque's
    ``host:port[:db][/namespace]`` string (default ``localhost:6379``).
    ``sentinel=[(host, port), ...]`` with ``service_name=`` finds the
    primary through Sentinel instead. ``timeouts`` bounds every wait on
    Redis (see :class:`~pyresque.connection.RedisTimeouts`; a client passed
    in keeps its own). ``inline=True`` performs jobs at once in the caller
    and writes nothing to Redis, like ``Resque.inline``.
    """

    def __init__(
        self,
        redis: Any = None,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        registry: Registry | None = None,
        inline: bool = False,
        failure_backend: str = "redis",
        environment: str | None = None,
        timeouts: RedisTimeouts | None = None,
        sentinel: Sequence[tuple[str, int]] | None = None,
        service_name: str | None = None,
    ) -> None:
        self.redis, ns = connect(redis, namespace, timeouts=timeouts, sentinel=sentinel, service_name=service_name)
        self.namespace = ns
        self.layout = Keys(ns)
        self._queues_key = self.layout.queues.encode()
        self.registry = registry if registry is not None else default_registry
        self.inline = inline
        self.environment = environment or default_environment()
        self.failure_backend = failure_mod.backend_for(failure_backend, self.layout, self.redis)
        self.failures = failure_mod.Failures(self.redis, self.layout, self.failure_backend)
        self.delayed = Delayed(self)

    def __repr__(self) -> str:
        return f"<Resque {describe(self.redis)} namespace={self.namespace!r}>"

    # Enqueue ----------------------------------------------------------------
    def enqueue(self, job: Any, *args: Any) -> bool:
        """Enqueue ``job`` to its registered queue. False if a hook cancelled it."""
        spec, _ = self._job(job)
        if spec is None or not spec.queue:
            raise NoQueueError(f"{_name_of(job)} has no queue: register it with queue=... or use enqueue_to")
        return self.enqueue_to(spec.queue, job, *args)

    @translate_redis_errors
    def enqueue_to(self, queue: str, job: Any, *args: Any) -> bool:
        """Enqueue ``job`` with ``args`` to ``queue``. False if a ``before_enqueue`` hook said no."""
        validate_queue(queue)
        spec, name = self._job(job)
        hooks = spec.hooks if spec else _NO_HOOKS
        data = codec.encode_job(name, args)  # raises InvalidArgument before any hook runs
        if not hook_runner.all_allow(hooks["before_enqueue"], *args):
            return False
        if self.inline:
            self._perform_inline(spec, name, data)
        else:
            # Ruby's pipelined SADD and RPUSH, packed by hand (see pyresque.wire).
            wire.call(self.redis, wire.command(b"SADD", self._queues_key, name_bytes(queue))
                      + wire.command(b"RPUSH", name_bytes(self.layout.queue(queue)), data.encode("utf-8")), 2)
        hook_runner.run_all(hooks["after_enqueue"], *args)
        return True

    @translate_redis_errors
    def enqueue_many(self, job: Any, args_list: Iterable[Sequence[Any]], queue: str | None = None) -> int:
        """Enqueue one job per argument list in a few pipelined round trips.

        Every payload is encoded (and so validated) before anything is
        written. Enqueue hooks run for each job as they do for
        :meth:`enqueue_to`; a job a hook cancels is left out. Returns how
        many were enqueued.
        """
        spec, name = self._job(job)
        queue = queue or (spec.queue if spec else None)
        if not queue:
            raise NoQueueError(f"{name} has no queue: register it with queue=... or pass queue=")
        validate_queue(queue)
        hooks = spec.hooks if spec else _NO_HOOKS
        encoded = [(args, codec.encode_job(name, args)) for args in args_list]
        kept = [(a, d) for a, d in encoded if hook_runner.all_allow(hooks["before_enqueue"], *a)]
        if self.inline:
            for _, data in kept:
                self._perform_inline(spec, name, data)
        elif kept:
            pipe = self.redis.pipeline(transaction=False)
            pipe.sadd(self.layout.queues, queue)
            for start in range(0, len(kept), _BULK_CHUNK):
                pipe.rpush(self.layout.queue(queue), *(d for _, d in kept[start : start + _BULK_CHUNK]))
            pipe.execute()
        for args, _ in kept:
            hook_runner.run_all(hooks["after_enqueue"], *args)
        return len(kept)

    def _perform_inline(self, spec: JobSpec | None, name: str, data: str) -> None:
        if spec is None:
            raise UnknownJob(name)
        # Ruby's inline mode sends args through JSON too, so jobs see what a worker would.
        args = codec.decode_job(data).args
        try:
            hook_runner.perform_with_hooks(spec.perform, args, spec.hooks)
        except DontPerform:
            pass  # Resque::Job#perform returns false; the enqueue still counts

    # Dequeue and reserve ---------------------------------------------------
    @translate_redis_errors
    def dequeue(self, job: Any, *args: Any, queue: str | None = None) -> int:
        """Remove queued jobs of ``job``: those with exactly ``args``, or all of them.

        Matches Ruby's ``Resque.dequeue``: with args it removes the payloads
        whose bytes equal this encoding. Returns how many were removed
        (0 if a ``before_dequeue`` hook said no). ``queue`` is an addition
        for jobs Python knows only by name; without args, payloads that are
        not JSON objects are skipped where Ruby would raise.
        """
        spec, name = self._job(job)
        queue = queue or (spec.queue if spec else None)
        if not queue:
            raise NoQueueError(f"{name} has no queue: pass queue=...")
        hooks = spec.hooks if spec else _NO_HOOKS
        if not hook_runner.all_allow(hooks["before_dequeue"], *args):
            return 0
        key = self.layout.queue(validate_queue(queue))
        if args:
            removed = int(self.redis.lrem(key, 0, codec.encode_job(name, args)))
        else:
            removed = 0
            for raw in self.redis.lrange(key, 0, -1):
                if _class_of(raw) == name:
                    removed += int(self.redis.lrem(key, 0, raw))
        hook_runner.run_all(hooks["after_dequeue"], *args)
        return removed

    @translate_redis_errors
    def reserve(self, queue: str) -> codec.Job | None:
        """Take the next job off ``queue`` (Ruby's ``Job.reserve``), or None.

        A payload that is not a valid job is not dropped: it is recorded as
        a failure (with its raw text) and :class:`MalformedPayload` is raised.
        """
        raw = self.redis.lpop(self.layout.queue(validate_queue(queue)))
        if raw is None:
            return None
        text = as_text(raw)
        try:
            return codec.Job(queue, codec.decode_job(raw), text)
        except MalformedPayload as exc:
            pipe = self.redis.pipeline(transaction=True)
            me = worker_records.worker_id([queue], os.getpid(), socket.gethostname())
            self.failure_backend.save(pipe, failure_mod.record_for_malformed(exc, me, queue))
            pipe.execute()
            raise

    # Queues ----------------------------------------------------------------
    @translate_redis_errors
    def size(self, queue: str) -> int:
        """How many jobs wait in ``queue``."""
        return int(self.redis.llen(self.layout.queue(queue)))

    @translate_redis_errors
    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[Any]:
        """Up to ``count`` decoded payloads from position ``start``, without removing them.

        An item that is not valid JSON comes back as its raw text.
        Deliberately unlike Ruby, whose ``peek`` returns one object (or nil)
        when ``count`` is 1 and treats ``count <= 0`` as a raw LRANGE, this
        always returns a list, empty for ``count <= 0``.
        """
        if count <= 0:
            return []
        raws = self.redis.lrange(self.layout.queue(queue), start, start + count - 1)
        return [_decoded_or_text(r) for r in raws]

    @translate_redis_errors
    def queues(self) -> list[str]:
        """Every queue name in the ``queues`` set, sorted."""
        return sorted(as_text(q) for q in self.redis.smembers(self.layout.queues))

    @translate_redis_errors
    def queue_sizes(self) -> dict[str, int]:
        """``{queue: size}`` for every queue, in one round trip."""
        names = self.queues()
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.llen(self.layout.queue(name))
        return dict(zip(names, (int(n) for n in pipe.execute())))

    @translate_redis_errors
    def remove_queue(self, queue: str) -> None:
        """Forget ``queue`` and drop every job in it."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(self.layout.queues, queue)
        pipe.delete(self.layout.queue(queue))
        pipe.execute()

    # Overview --------------------------------------------------------------
    @translate_redis_errors
    def ping(self) -> None:
        """Check that Redis answers (:class:`ConnectionFailed` when it does not)."""
        self.redis.ping()

    @translate_redis_errors
    def pause_all(self) -> None:
        """Pause every worker, Ruby or Python (``SET pause-all-workers true``)."""
        self.redis.set(self.layout.pause_all, "true")

    @translate_redis_errors
    def resume_all(self) -> None:
        """Undo :meth:`pause_all` (``DEL pause-all-workers``)."""
        self.redis.delete(self.layout.pause_all)

    @translate_redis_errors
    def all_paused(self) -> bool:
        """Whether ``pause-all-workers`` pauses every worker, as workers read it."""
        return worker_records.pauses_all(self.redis.get(self.layout.pause_all))

    @translate_redis_errors
    def info(self) -> dict[str, Any]:
        """The fields of Ruby's ``Resque.info``, with the same meanings.

        ``failed`` is the length of the ``failed`` list (0 under the
        redis_multi_queue backend, as in Ruby), not the ``stat:failed`` counter.
        """
        sizes = self.queue_sizes()
        return {
            "pending": sum(sizes.values()),
            "processed": as_int(self.redis.get(self.layout.processed_stat())),
            "queues": len(sizes),
            "workers": int(self.redis.scard(self.layout.workers)),
            "working": worker_records.working_count(self.redis, self.layout),
            "failed": int(self.redis.llen(self.layout.failed)),
            "servers": [f"{describe(self.redis)}/{self.namespace}"],
            "environment": self.environment,
        }

    @translate_redis_errors
    def stat(self, name: str) -> int:
        """A global counter such as ``processed`` or ``failed``."""
        return as_int(self.redis.get(self.layout.stat(name)))

    @translate_redis_errors
    def keys(self) -> list[str]:
        """Every key in the namespace, without the prefix (Ruby's ``Resque.keys``)."""
        found = self.redis.scan_iter(match=self.layout.all_pattern(), count=1000)
        return sorted(self.layout.strip(as_text(k)) for k in found)

    @translate_redis_errors
    def workers(self) -> list[worker_records.WorkerInfo]:
        """Every registered worker (Ruby's ``Resque.workers``) with its state."""
        return worker_records.all_workers(self.redis, self.layout)

    @translate_redis_errors
    def working(self) -> list[worker_records.WorkerInfo]:
        """The registered workers that are running a job (Ruby's ``Resque.working``)."""
        return [w for w in self.workers() if w.job is not None]

    # Delayed jobs (resque-scheduler's names; see pyresque.scheduler.delayed) ---
    @translate_redis_errors
    def enqueue_at(self, when: Any, job: Any, *args: Any) -> bool:
        """Run ``job`` on its queue at ``when`` (aware/naive datetime or epoch seconds)."""
        return self.delayed.enqueue_at(when, job, *args)

    @translate_redis_errors
    def enqueue_in(self, delay: Any, job: Any, *args: Any) -> bool:
        """Run ``job`` on its queue after ``delay`` (seconds or a timedelta)."""
        return self.delayed.enqueue_in(delay, job, *args)

    @translate_redis_errors
    def enqueue_at_with_queue(self, queue: str, when: Any, job: Any, *args: Any) -> bool:
        return self.delayed.enqueue_at_with_queue(queue, when, job, *args)

    @translate_redis_errors
    def enqueue_in_with_queue(self, queue: str, delay: Any, job: Any, *args: Any) -> bool:
        return self.delayed.enqueue_in_with_queue(queue, delay, job, *args)

    @translate_redis_errors
    def delay_or_enqueue_at(self, when: Any, job: Any, *args: Any) -> int:
        return self.delayed.delay_or_enqueue_at(when, job, *args)

    @translate_redis_errors
    def delay_or_enqueue_in(self, delay: Any, job: Any, *args: Any) -> int:
        return self.delayed.delay_or_enqueue_in(delay, job, *args)

    @translate_redis_errors
    def remove_delayed(self, job: Any, *args: Any) -> int:
        return self.delayed.remove_delayed(job, *args)

    @translate_redis_errors
    def remove_delayed_in_queue(self, job: Any, queue: str, *args: Any) -> int:
        return self.delayed.remove_delayed_in_queue(job, queue, *args)

    @translate_redis_errors
    def remove_delayed_job_from_timestamp(self, when: Any, job: Any, *args: Any) -> int:
        return self.delayed.remove_delayed_job_from_timestamp(when, job, *args)

    @translate_redis_errors
    def enqueue_delayed(self, job: Any, *args: Any) -> int:
        return self.delayed.enqueue_delayed(job, *args)

    @translate_redis_errors
    def enqueue_delayed_with_queue(self, job: Any, queue: str, *args: Any) -> int:
        return self.delayed.enqueue_delayed_with_queue(job, queue, *args)

    @translate_redis_errors
    def is_delayed(self, job: Any, *args: Any) -> bool:
        return self.delayed.is_delayed(job, *args)

    @translate_redis_errors
    def scheduled_at(self, job: Any, *args: Any) -> list[int]:
        return self.delayed.scheduled_at(job, *args)

    @translate_redis_errors
    def delayed_queue_peek(self, start: int, count: int) -> list[int]:
        return self.delayed.delayed_queue_peek(start, count)

    @translate_redis_errors
    def delayed_timestamp_peek(self, when: Any, start: int, count: int) -> list[Any]:
        return self.delayed.delayed_timestamp_peek(when, start, count)

    @translate_redis_errors
    def delayed_timestamp_size(self, when: Any) -> int:
        return self.delayed.delayed_timestamp_size(when)

    @translate_redis_errors
    def delayed_queue_schedule_size(self) -> int:
        return self.delayed.delayed_queue_schedule_size()

    @translate_redis_errors
    def count_all_scheduled_jobs(self) -> int:
        return self.delayed.count_all_scheduled_jobs()

    @translate_redis_errors
    def find_delayed_selection(self, predicate: Callable[[Any], bool], job: Any = None) -> list[str]:
        return self.delayed.find_delayed_selection(predicate, job)

    @translate_redis_errors
    def remove_delayed_selection(self, predicate: Callable[[Any], bool], job: Any = None) -> int:
        return self.delayed.remove_delayed_selection(predicate, job)

    @translate_redis_errors
    def enqueue_delayed_selection(self, predicate: Callable[[Any], bool], job: Any = None) -> int:
        return self.delayed.enqueue_delayed_selection(predicate, job)

    @translate_redis_errors
    def reset_delayed_queue(self) -> None:
        self.delayed.reset_delayed_queue()

    # Helpers ---------------------------------------------------------------
    def _job(self, job: Any) -> tuple[JobSpec | None, str]:
        spec = self.registry.spec_for(job)
        if spec is not None:
            return spec, spec.name
        if isinstance(job, str) and job:
            return None, job
        raise UnknownJob(_name_of(job))


_NO_HOOKS: dict[str, list[Callable[..., Any]]] = {kind: [] for kind in hook_runner.JOB_HOOKS}


def _name_of(job: Any) -> str:
    return getattr(job, "__name__", None) or repr(job)


def _class_of(raw: bytes | str) -> str | None:
    try:
        data = codec.decode(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get("class") if isinstance(data, dict) else None


def _decoded_or_text(raw: bytes) -> Any:
    try:
        return codec.decode(raw)
    except (ValueError, UnicodeDecodeError):
        return as_text(raw)
