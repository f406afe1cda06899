"""Failure records and the two backends Ruby Resque ships.

A record is the JSON Ruby's ``Resque::Failure::Redis#save`` writes, fields in
this order: ``failed_at``, ``payload``, ``exception``, ``error``,
``backtrace``, ``worker``, ``queue``, ``failure_id`` (Resque 3.1+: a random
UUID, unless :data:`generate_failure_ids` is off), and ``retried_at`` once
requeued.
resque-web parses ``failed_at``/``retried_at`` with ``DateTime.parse`` and
splits ``worker`` on ``:``, so those formats are exactly Ruby's.

pyresque adds ``raw_payload`` (and ``raw_payload_base64``) when ``payload``
alone cannot give the job back as it was queued: see :func:`record`.

* :class:`RedisFailure` (``FAILURE_BACKEND=redis``, the default): one ``failed`` list.
* :class:`RedisMultiQueueFailure` (``redis_multi_queue``): a ``<q>_failed``
  list per queue, their names kept in ``failed_queues``.

Saving only appends commands to a pipeline, so the worker records a failure
and its stats in the same round trip as finishing the job.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import redis as redis_py

from pyresque import payload as codec
from pyresque import times
from pyresque.errors import FailureNotFound, InvalidArgument, MalformedPayload, ResqueError
from pyresque.connection import as_name, as_text, shown
from pyresque.keys import Keys
from pyresque.payload import Job

log = logging.getLogger(__name__)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Whether new failure records get a ``failure_id`` (a random UUID), as Resque
#: 3.1+ gives them unless ``Resque::Failure.generate_failure_ids = false``.
#: Set it to False (``pyresque.failure.generate_failure_ids = False``) to
#: write records exactly as Resque 3.0 and older did.
generate_failure_ids = True

# Python's own limit on chained exceptions is its recursion limit; a record
# does not need more than this many.
_MAX_CHAINED = 20


def exception_name(exc: BaseException) -> str:
    """The class name shown in resque-web: Ruby's own for Resque's errors,
    ``ValueError`` for builtins, ``module.Qualname`` otherwise."""
    ruby_name = getattr(type(exc), "ruby_name", None)
    if ruby_name:
        return ruby_name
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    if issubclass(cls, ResqueError):
        return f"pyresque.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception cannot print itself."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the record
        return f"<unprintable {exception_name(exc)}>"


def job_backtrace(exc: BaseException) -> list[str]:
    """The job's frames, innermost first, in Ruby's ``file:line:in `name'`` form.

    Like Ruby, which cuts the backtrace at Resque's own ``job.rb``, the frames
    of pyresque itself are left out. Chained exceptions follow, as Python
    prints them but innermost first: a line ``Caused by KeyError: 'x'``
    (``raise ... from``) or ``Raised while handling KeyError: 'x'`` (an
    exception raised in an ``except`` block), then that exception's frames.
    """
    lines = _frames(exc)
    seen = {id(exc)}
    for _ in range(_MAX_CHAINED):
        if exc.__cause__ is not None:
            how, exc = "Caused by", exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            how, exc = "Raised while handling", exc.__context__
        else:
            break
        if id(exc) in seen:
            break
        seen.add(id(exc))
        lines.append(f"{how} {exception_name(exc)}: {exception_message(exc)}")
        lines.extend(_frames(exc))
    return lines


def _frames(exc: BaseException) -> list[str]:
    return [
        f"{f.filename}:{f.lineno}:in `{f.name}'"
        for f in reversed(traceback.extract_tb(exc.__traceback__))
        if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR + os.sep)
    ]


def record(
    payload: Any,
    exception: str,
    error: str,
    backtrace: list[str],
    worker: str,
    queue: str,
    raw_payload: str | bytes | None = None,
    now_s: float | None = None,
    failure_id: str | None = None,
) -> dict[str, Any]:
    """A failure record with Ruby's fields in Ruby's order.

    ``failure_id`` follows ``queue``, as in Resque 3.2: the given id, else a
    new UUID4 when :data:`generate_failure_ids` is on (the default), else
    none (Resque 3.0's record).

    ``raw_payload`` (pyresque's addition) is the payload exactly as queued,
    for when ``payload`` cannot give the job back: a payload that is not a
    valid job, or one that does not survive being written again (see
    :func:`record_for_job`). ``payload`` is then null unless it is the
    queued job itself. Requeuing pushes ``raw_payload`` back unchanged.
    Bytes that are not UTF-8 are kept in ``raw_payload_base64``, with
    ``raw_payload`` showing them as U+FFFD, so the record stays JSON that
    Ruby can read.
    """
    data: dict[str, Any] = {
        "failed_at": times.failed_at(now_s),
        "payload": payload,
        "exception": exception,
        "error": error,
        "backtrace": backtrace,
        "worker": worker,
        "queue": queue,
    }
    if failure_id is None and generate_failure_ids:
        failure_id = str(uuid.uuid4())
    if failure_id is not None:
        data["failure_id"] = failure_id
    if isinstance(raw_payload, bytes):
        try:
            data["raw_payload"] = raw_payload.decode("utf-8")
        except UnicodeDecodeError:
            data["raw_payload"] = raw_payload.decode("utf-8", "replace")
            data["raw_payload_base64"] = base64.b64encode(raw_payload).decode("ascii")
    elif raw_payload is not None:
        data["raw_payload"] = raw_payload
    return data


def record_for_exception(payload: Any, exc: BaseException, worker: str, queue: str) -> dict[str, Any]:
    """The record of a job that raised ``exc``, from its decoded payload only."""
    return record(payload, exception_name(exc), exception_message(exc), job_backtrace(exc), worker, queue)


def record_for_job(job: Job, exc: BaseException, worker: str) -> dict[str, Any]:
    """The record of ``job``, which raised ``exc`` (or ended without finishing).

    When writing the decoded payload again would not give the same job back
    (a number such as ``1e400``, which reads as infinity; nesting past
    Ruby's limit inside the record), the record keeps the queued text as
    ``raw_payload`` and a null ``payload``. Ruby could not read such a
    payload inside the record, and resque-web's Retry would write Ruby's
    ``Infinity`` back into the record and the queue, where no parser reads
    it. An exception that was raised is logged with its full Python
    traceback (the record keeps Ruby's one-line frames).
    """
    payload: dict[str, Any] | None = job.payload.to_dict()
    queued = None
    if job.raw and not _encodes(payload, depth=2):
        payload, queued = None, job.raw
    data = record(payload, exception_name(exc), exception_message(exc), job_backtrace(exc), worker, job.queue,
                  raw_payload=queued)
    if exc.__traceback__ is not None:
        log.warning("%s from queue %s raised %s", job.class_name, job.queue, data["exception"], exc_info=exc)
    return data


def record_for_malformed(exc: MalformedPayload, worker: str, queue: str) -> dict[str, Any]:
    """The record of a queued payload that is not a valid job.

    ``payload`` is the decoded object when the bytes are a JSON object that
    Ruby reads back as it is (so resque-web can show it), otherwise null;
    ``raw_payload`` (and ``raw_payload_base64``) keep the bytes. The text is
    not parsed again.
    """
    shown = exc.payload if exc.payload is not None and _encodes(exc.payload, depth=2) else None
    return record(shown, exception_name(exc), exc.problem, [], worker, queue, raw_payload=exc.raw_bytes)


def encode_record(data: dict[str, Any]) -> str:
    """JSON for a record that Ruby and resque-web can read, whatever it holds.

    Normally Ruby's own bytes for it. A payload that cannot be written
    within Ruby's nesting limit (the record is level 1) or at all becomes
    null; the record keeps the job in ``raw_payload``, written without the
    nesting limit when it has none yet. Other text that is not valid Unicode
    is shown escaped. Never raises: a failure must always be recordable.
    """
    if isinstance(data.get("queue"), str):
        # The record keeps the queue's exact name (its bytes pick the list it goes to);
        # JSON cannot carry one that is not UTF-8, so it shows U+FFFD, as resque-web does.
        data = {**data, "queue": shown(data["queue"])}
    try:
        return codec.encode(data, "failure")
    except (InvalidArgument, RecursionError):
        pass
    try:
        return codec.encode(_readable(data), "failure")
    except Exception:  # noqa: BLE001 - a failure must always be recordable
        log.exception("a failure record could not be written in full; keeping only its summary")
        summary = {
            "failed_at": _safe(data.get("failed_at")), "payload": None, "exception": _safe(data.get("exception")),
            "error": _safe(data.get("error")), "backtrace": [], "worker": _safe(data.get("worker")),
            "queue": _safe(data.get("queue")),
        }
        if "failure_id" in data:
            summary["failure_id"] = _safe(data["failure_id"])
        return codec.encode(summary, "failure")


def _readable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every value written as it can be (see :func:`encode_record`)."""
    out = {key: value if key == "payload" else _safe(value) for key, value in data.items()}
    payload = data.get("payload")
    if payload is None or _encodes(payload, depth=2):
        return out
    out["payload"] = None
    if not isinstance(data.get("raw_payload"), str):
        try:
            out["raw_payload"] = codec.encode(payload, "payload", max_nesting=None)
        except (InvalidArgument, RecursionError) as exc:
            log.error("the payload of a failure could not be kept: %s", exc)
    return out


def _encodes(value: Any, depth: int = 1) -> bool:
    """Whether ``value``, at level ``depth`` of a document, is JSON Ruby reads back as it is."""
    try:
        codec.encode(value, depth=depth)
        return True
    except (InvalidArgument, RecursionError):
        return False


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value if _encodes(value) else repr(value)


@dataclass(frozen=True)
class Failure:
    """One record as read back, with its position in its list."""

    index: int
    failed_queue: str
    data: dict[str, Any] | None
    raw: str

    @property
    def retried(self) -> bool:
        return bool(self.data and self.data.get("retried_at"))


@dataclass(frozen=True)
class Destination:
    """Where a record for one queue goes: a list, plus (redis_multi_queue) a set naming it."""

    list_key: str
    set_key: str | None = None
    member: str | None = None


class FailureBackend(Protocol):
    """Where failure records live. Every method works on bare list names."""

    def destination(self, queue: str) -> Destination:
        """The list (and set entry) a failure of a job from ``queue`` is stored in."""

    def save(self, pipe: Any, data: dict[str, Any]) -> None:
        """Append the commands that store ``data`` to ``pipe``."""

    def failed_queues(self) -> list[str]:
        """The bare names of the failure lists (``failed`` or ``<q>_failed``)."""

    def retried_at(self) -> str:
        """The ``retried_at`` value this backend writes when requeuing."""


class _ListBackend:
    """Saving, shared by both backends: SADD the set entry (if any), RPUSH the record.

    The worker's ``next_job`` script does the same from a :class:`Destination`.
    """

    def destination(self, queue: str) -> Destination:
        raise NotImplementedError

    def save(self, pipe: Any, data: dict[str, Any]) -> None:
        dest = self.destination(str(data["queue"]))
        if dest.set_key is not None:
            pipe.sadd(dest.set_key, dest.member)
        pipe.rpush(dest.list_key, encode_record(data))


class RedisFailure(_ListBackend):
    """Ruby's default backend: one ``failed`` list."""

    name = "redis"

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    def destination(self, queue: str) -> Destination:
        return Destination(self.keys.failed)

    def failed_queues(self) -> list[str]:
        return [Keys.default_failed_queue()]

    def retried_at(self) -> str:
        return times.failed_at()  # Resque 3.0 added the zone for this backend


class RedisMultiQueueFailure(_ListBackend):
    """Ruby's ``redis_multi_queue`` backend: one ``<q>_failed`` list per queue."""

    name = "redis_multi_queue"

    def __init__(self, keys: Keys, client: redis_py.Redis) -> None:
        self.keys = keys
        self.client = client

    def destination(self, queue: str) -> Destination:
        bare = Keys.failed_queue_name(queue)
        return Destination(self.keys.failed_list(bare), self.keys.failed_queues, bare)

    def failed_queues(self) -> list[str]:
        return sorted(as_name(m, self.client) for m in self.client.smembers(self.keys.failed_queues))

    def retried_at(self) -> str:
        return times.retried_at_without_zone()


BACKENDS = ("redis", "redis_multi_queue")


def backend_for(name: str, keys: Keys, client: redis_py.Redis) -> FailureBackend:
    """The backend called ``name`` (Resque's ``FAILURE_BACKEND`` values)."""
    if name == "redis":
        return RedisFailure(keys)
    if name == "redis_multi_queue":
        return RedisMultiQueueFailure(keys, client)
    raise ResqueError(f"unknown failure backend {name!r}; use one of: {', '.join(BACKENDS)}")


class Failures:
    """Reading and managing failure records, as resque-web's buttons do.

    Indexes are list positions, as in Ruby: they shift when records are
    added or removed, so act on an index right after reading it.
    """

    def __init__(self, client: redis_py.Redis, keys: Keys, backend: FailureBackend) -> None:
        self.client = client
        self.keys = keys
        self.backend = backend

    def _list(self, failed_queue: str | None) -> tuple[str, str]:
        """The bare name and key of one failure list: the one named, else the first."""
        if not failed_queue:
            names = self.backend.failed_queues()
            failed_queue = names[0] if names else Keys.default_failed_queue()
        return failed_queue, self.keys.failed_list(failed_queue)

    def count(self, failed_queue: str | None = None) -> int:
        names = [failed_queue] if failed_queue else self.backend.failed_queues()
        return sum(self.client.llen(self.keys.failed_list(n)) for n in names)

    def all(self, failed_queue: str | None = None, start: int = 0, count: int = 20) -> list[Failure]:
        """Records ``start``..``start+count-1`` of one failure list, oldest first."""
        bare, key = self._list(failed_queue)
        raws = self.client.lrange(key, start, start + count - 1) if count > 0 else []
        return [_failure(start + i, bare, r) for i, r in enumerate(raws)]

    def each(self, failed_queue: str | None = None) -> Iterator[Failure]:
        names = [failed_queue] if failed_queue else self.backend.failed_queues()
        for bare in names:
            yield from self.all(bare, 0, self.client.llen(self.keys.failed_list(bare)))

    def get(self, index: int, failed_queue: str | None = None) -> Failure:
        bare, key = self._list(failed_queue)
        raw = self.client.lindex(key, index)
        if raw is None:
            raise FailureNotFound(f"no failure at index {index} of {bare!r}")
        return _failure(index, bare, raw)

    def requeue(self, index: int, failed_queue: str | None = None) -> Failure:
        """Enqueue the job again and stamp the record ``retried_at``, as Ruby's Retry does.

        Like Ruby, only ``class`` and ``args`` go back on the queue and no
        enqueue hooks run. A record that keeps the payload as queued
        (``raw_payload``, ``raw_payload_base64``) pushes exactly those bytes
        back.
        """
        failure = self.get(index, failed_queue)
        data = failure.data
        if data is None:
            raise FailureNotFound(f"failure {index} is not valid JSON and cannot be retried")
        job = requeued_job(index, data)
        data["retried_at"] = self.backend.retried_at()
        queue = str(data.get("queue") or "")
        pipe = self.client.pipeline(transaction=True)
        pipe.lset(self.keys.failed_list(failure.failed_queue), index, encode_record(data))
        pipe.sadd(self.keys.queues, queue)
        pipe.rpush(self.keys.queue(queue), job)
        pipe.execute()
        return Failure(index, failure.failed_queue, data, failure.raw)

    def remove(self, index: int, failed_queue: str | None = None) -> None:
        """Delete one record by index (LSET to a unique marker, then LREM it)."""
        bare, key = self._list(failed_queue)
        marker = "pyresque:removed:" + uuid.uuid4().hex
        try:
            self.client.lset(key, index, marker)
        except redis_py.ResponseError:
            raise FailureNotFound(f"no failure at index {index} of {bare!r}") from None
        self.client.lrem(key, 1, marker)

    def clear(self, failed_queue: str | None = None) -> int:
        """Delete every record (of one list, or of all); returns how many."""
        names = [failed_queue] if failed_queue else self.backend.failed_queues()
        total = self.count(failed_queue)
        for bare in names:
            self.client.delete(self.keys.failed_list(bare))
        return total

    def requeue_all(self, failed_queue: str | None = None) -> int:
        """Retry every record, already-retried ones included, as Ruby's Retry all does."""
        names = [failed_queue] if failed_queue else self.backend.failed_queues()
        n = 0
        for bare in names:
            for index in range(self.client.llen(self.keys.failed_list(bare))):
                self.requeue(index, bare)
                n += 1
        return n

    def clear_retried(self, failed_queue: str | None = None) -> int:
        """Remove the records that were already retried."""
        names = [failed_queue] if failed_queue else self.backend.failed_queues()
        n = 0
        for bare in names:
            for failure in reversed(list(self.each(bare))):
                if failure.retried:
                    self.remove(failure.index, bare)
                    n += 1
        return n


def requeued_job(index: int, data: dict[str, Any]) -> str | bytes:
    """What retrying ``data`` pushes: the payload as queued when kept, else class and args."""
    b64 = data.get("raw_payload_base64")
    if isinstance(b64, str):
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise FailureNotFound(f"failure {index} has a raw_payload_base64 that is not base64") from None
    raw = data.get("raw_payload")
    if isinstance(raw, str):
        return raw
    body = data.get("payload")
    if not isinstance(body, dict) or not isinstance(body.get("class"), str):
        raise FailureNotFound(f"failure {index} has no job class to retry")
    args = body.get("args")
    try:
        return codec.encode_job(body["class"], args if isinstance(args, list) else [])
    except InvalidArgument as exc:
        raise FailureNotFound(f"failure {index} cannot be retried: its job cannot be written again ({exc})") from None


def _failure(index: int, bare: str, raw: bytes | str) -> Failure:
    text = as_text(raw)
    try:
        data = codec.decode(text)
    except ValueError:
        data = None
    return Failure(index, bare, data if isinstance(data, dict) else None, text)

