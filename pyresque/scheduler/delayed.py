"""Delayed jobs on resque-scheduler's keys, with its names and meanings.

    resque.enqueue_in(600, Archive, 42)           # in ten minutes
    resque.enqueue_at(datetime(2027, 1, 1, 9, tzinfo=paris), "Report", "daily")
    resque.remove_delayed(Archive, 42)             # 1: the job we just delayed

A delayed item is ``{"class":"K","args":[...],"queue":"q"}`` (that key
order, Ruby's exact bytes) in the list ``delayed:<ts>``; ``<ts>`` is the
whole unix second it is due (fractions dropped, as Ruby's ``to_i``), listed
in the ``delayed_queue_schedule`` sorted set; the set
``timestamps:<item>`` names every bucket holding that exact item. Matching
(``remove_delayed``, ``scheduled_at``...) is by those bytes, so it finds
what Ruby wrote and Ruby finds what we wrote; pyresque also tries the other
orders of the item's keys, so it finds what node-resque writes too.

Unlike Ruby, every write here is one atomic script, and every item carries
its ``queue`` (Ruby's scheduler cannot move an item of a class it cannot
load without one). :class:`Delayed` holds the logic; the client's methods
of the same names delegate to it.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque.connection import as_text
from pyresque.errors import InvalidSchedule, ItemChanged, MalformedPayload, NoQueueError
from pyresque.scripts import source

if TYPE_CHECKING:
    from pyresque.client import Resque
    from pyresque.registry import JobSpec

# Ruby pipelines selection reads 100 buckets at a time; so do we.
_SELECTION_BATCH = 100

# What :meth:`Delayed.place` did with a job.
DELAYED, ENQUEUED, CANCELLED = "delayed", "enqueued", "cancelled"


# The latest second pyresque delays a job to: 9999-12-30 23:59:59 UTC, still
# in the year 9999 in every time zone. Python's datetime ends with that year,
# so a bucket beyond it could not be shown by the CLI or the dashboard (or
# by ``scheduled_at`` callers turning it into a datetime); Ruby's Time would
# take it, but a job due after then is a typo, not a plan.
LATEST_EPOCH_S = 253402214399


def epoch_of(when: Any) -> int:
    """The whole unix second of ``when``, as Ruby's ``timestamp.to_i``.

    An aware ``datetime`` is that instant; a naive one is the machine's
    local time (as Ruby's ``Time``); a number is epoch seconds. Fractions
    are dropped toward zero. NaN, infinity and times after
    :data:`LATEST_EPOCH_S` raise :class:`InvalidSchedule`.
    """
    if isinstance(when, bool):
        raise InvalidSchedule(f"{when!r} is not a time")
    if isinstance(when, datetime):
        return _bounded(int(when.timestamp()))
    if isinstance(when, (int, float)):
        if isinstance(when, float) and not math.isfinite(when):
            raise InvalidSchedule(f"{when!r} is not a time: epoch seconds must be a finite number")
        return _bounded(int(when))
    raise InvalidSchedule(f"{when!r} is not a time: give a datetime or epoch seconds")


def _bounded(ts: int) -> int:
    if ts > LATEST_EPOCH_S:
        # Python refuses to print an int of thousands of digits; nobody wants to read one.
        shown = f"{ts} (epoch seconds)" if ts.bit_length() < 128 else "that time"
        raise InvalidSchedule(f"{shown} is after 9999-12-30 23:59:59 UTC, the latest time pyresque delays a job to")
    return ts


def seconds_of(delay: Any) -> float:
    """``delay`` in seconds: a number or a ``timedelta`` (Ruby refuses anything else).

    NaN and infinity raise :class:`InvalidSchedule` (a delay too long to be
    a time fails later, in :func:`epoch_of`)."""
    if isinstance(delay, timedelta):
        return delay.total_seconds()
    if isinstance(delay, (int, float)) and not isinstance(delay, bool):
        try:
            seconds = float(delay)
        except OverflowError:  # an int too big for a float
            raise InvalidSchedule("that delay is too long to be a time") from None
        if not math.isfinite(seconds):
            raise InvalidSchedule(f"{delay!r} is not a delay: seconds must be a finite number")
        return seconds
    raise InvalidSchedule(f"{delay!r} is not a delay: give seconds or a timedelta")


def encode_item(class_name: str, args: Any, queue: str | None) -> str:
    """The exact bytes of a delayed item (``queue`` may be None: ``null``, as Ruby writes for a class without one)."""
    return codec.encode_job(class_name, args, {"queue": queue})


def item_variants(class_name: str, args: Any, queue: str | None) -> list[str]:
    """The item's bytes in Ruby's key order first, then in every other order.

    Ruby finds an item only by its exact bytes; other writers (node-resque
    writes ``class, queue, args``) use other orders, so pyresque's matching
    tries each: the same job, whatever the order of its keys.
    """
    fields = {"class": class_name, "args": args, "queue": queue}
    ruby = encode_item(class_name, args, queue)
    others = [codec.encode({k: fields[k] for k in order}) for order in itertools.permutations(fields)]
    return [ruby] + [o for o in dict.fromkeys(others) if o != ruby]


def job_params(args: Any) -> list[Any]:
    """The arguments Ruby's scheduler enqueues for an item's ``args``:
    a Hash is one argument, nil none, a scalar one (Ruby's ``Array(args)``)."""
    if args is None:
        return []
    if isinstance(args, list):
        return args
    return [args]


@dataclass(frozen=True)
class Bucket:
    """One timestamp of the delayed schedule: when (``ts``, unix seconds), how
    many jobs wait in it, and the exact bytes of its first item (None if empty)."""

    ts: int
    size: int
    first: bytes | None


@dataclass(frozen=True)
class BucketPage:
    """Buckets ``start``.. of the schedule, oldest first; ``total`` counts timestamps."""

    total: int
    start: int
    buckets: list[Bucket]


@dataclass(frozen=True)
class BucketRun:
    """What "enqueue this timestamp now" did: jobs pushed, jobs a ``before_*`` hook
    cancelled (they left the bucket, as the scheduler drops them), and items
    left in the bucket because they are not jobs that can be queued."""

    moved: int
    cancelled: int
    left: int


class Delayed:
    """resque-scheduler's delaying calls for one :class:`~pyresque.client.Resque`."""

    def __init__(self, resque: "Resque") -> None:
        self.resque = resque
        self.redis = resque.redis
        self.layout = resque.layout
        self._push = self.redis.register_script(source("delayed_push"))
        self._take = self.redis.register_script(source("take_delayed"))
        self._again = self.redis.register_script(source("delay_again"))
        self._take_one = self.redis.register_script(source("take_delayed_one"))

    # Enqueue ---------------------------------------------------------------
    def enqueue_at(self, when: Any, job: Any, *args: Any) -> bool:
        return self.enqueue_at_with_queue(self._queue_of(job, required=True), when, job, *args)

    def enqueue_in(self, delay: Any, job: Any, *args: Any) -> bool:
        return self.enqueue_at(time.time() + seconds_of(delay), job, *args)

    def enqueue_at_with_queue(self, queue: str, when: Any, job: Any, *args: Any) -> bool:
        return self.place(queue, when, job, *args) != CANCELLED

    def place(self, queue: str, when: Any, job: Any, *args: Any) -> str:
        """``enqueue_at_with_queue``, saying what it did: :data:`DELAYED` (the
        item waits in its bucket), :data:`ENQUEUED` (due already, or inline:
        the job is on its queue now and no item was written, as in Ruby) or
        :data:`CANCELLED` (a ``before_schedule`` hook refused).

        The decision is taken here, at the moment of the write, so a caller
        reporting it (the CLI) cannot disagree with what happened."""
        from pyresque.client import validate_queue

        validate_queue(queue)
        ts = epoch_of(when)
        spec, name = self.resque._job(job)
        hooks = _hooks(spec)
        item = encode_item(name, list(args), queue)  # validates the args before any hook runs
        if not hook_runner.all_allow(hooks["before_schedule"], *args):
            return CANCELLED
        if self.resque.inline or ts <= int(time.time()):
            # Due already (or inline): Ruby enqueues at once, writing no item.
            self.resque.enqueue_to(queue, job, *args)
            outcome = ENQUEUED
        else:
            self.push(ts, item)
            outcome = DELAYED
        hook_runner.run_all(hooks["after_schedule"], *args)
        return outcome

    def enqueue_in_with_queue(self, queue: str, delay: Any, job: Any, *args: Any) -> bool:
        return self.enqueue_at_with_queue(queue, time.time() + seconds_of(delay), job, *args)

    def delay_or_enqueue_at(self, when: Any, job: Any, *args: Any) -> int:
        """Move every matching delayed job to ``when``, or delay one new job. Returns how many.

        In one atomic step when nothing else has to happen on the way (no
        schedule hooks, not inline, ``when`` still ahead); otherwise as Ruby
        does it: remove, then ``enqueue_at`` each.
        """
        queue = self._queue_of(job, required=True)
        spec, name = self.resque._job(job)
        ts = epoch_of(when)
        hooks = _hooks(spec)
        if self.resque.inline or ts <= int(time.time()) or hooks["before_schedule"] or hooks["after_schedule"]:
            count = self.remove_delayed(job, *args) or 1
            for _ in range(count):
                self.enqueue_at(when, job, *args)
            return count
        item = encode_item(name, list(args), queue)
        stamps = self.layout.timestamps(item)
        old = sorted(as_text(m) for m in self.redis.smembers(stamps))
        keys = [stamps, self.layout.delayed_schedule, self.layout.delayed(ts)] + [self.layout.prefix + b for b in old]
        return int(self._again(keys=keys, args=[item, self.layout.delayed_member(ts), ts, *old]))

    def delay_or_enqueue_in(self, delay: Any, job: Any, *args: Any) -> int:
        return self.delay_or_enqueue_at(time.time() + seconds_of(delay), job, *args)

    def push(self, when: Any, item: str) -> None:
        """Store an encoded item due at ``when`` (Ruby's ``delayed_push``), atomically."""
        ts = epoch_of(when)
        self._push(keys=[self.layout.delayed(ts), self.layout.timestamps(item), self.layout.delayed_schedule],
                   args=[item, self.layout.delayed_member(ts), ts])

    # Remove or run now -----------------------------------------------------------
    def remove_delayed(self, job: Any, *args: Any) -> int:
        """Remove every delayed copy of ``job`` with exactly ``args`` on its class queue
        (whatever the order of the item's keys). Returns how many."""
        return sum(self._take_item(item) for item in self._items(job, args, self._queue_of(job)))

    def remove_delayed_in_queue(self, job: Any, queue: str, *args: Any) -> int:
        return sum(self._take_item(item) for item in self._items(job, args, queue))

    def remove_delayed_job_from_timestamp(self, when: Any, job: Any, *args: Any) -> int:
        """Remove the copies due at ``when`` only; an emptied bucket goes too."""
        if self.resque.inline:
            return 0
        bucket = self.layout.delayed_member(epoch_of(when))
        return sum(self._take_item(item, buckets=[bucket], clean_up=True)
                   for item in self._items(job, args, self._queue_of(job)))

    def enqueue_delayed(self, job: Any, *args: Any) -> int:
        """Run now: move every delayed copy of ``job`` with ``args`` onto its queue. Returns how many."""
        return self.enqueue_delayed_with_queue(job, self._queue_of(job), *args)

    def enqueue_delayed_with_queue(self, job: Any, queue: str | None, *args: Any) -> int:
        items = self._items(job, args, queue)
        spec, name = self.resque._job(job)
        target = queue or (spec.queue if spec else None)
        if not target:
            raise NoQueueError(f"{name} has no queue: use enqueue_delayed_with_queue")
        if self.resque.inline:
            return 0
        hooks = _hooks(spec)
        outcome = hook_runner.before_scheduled_enqueue(hooks, *args)  # Ruby's enqueue_from_config
        allowed = outcome is hook_runner.Scheduled.QUEUED
        payload = codec.encode_job(name, list(args)) if allowed else ""
        count = sum(self._take_item(item, push_to=target if allowed else "", payload=payload) for item in items)
        for _ in range(count):
            hook_runner.after_scheduled_enqueue(hooks, outcome, *args)
        return count

    def _take_item(self, item: str, *, buckets: list[str] | None = None, clean_up: bool = False,
                   push_to: str = "", payload: str = "") -> int:
        if self.resque.inline:
            return 0
        stamps = self.layout.timestamps(item)
        if buckets is None:
            buckets = sorted(as_text(m) for m in self.redis.smembers(stamps))
        if not buckets:
            return 0
        keys = [stamps, self.layout.queues, self.layout.queue(push_to or "_"), self.layout.delayed_schedule]
        keys += [self.layout.prefix + b for b in buckets]
        return int(self._take(keys=keys, args=[item, push_to, payload, "1" if clean_up else "0", *buckets]))

    # Inspect -----------------------------------------------------------------
    def is_delayed(self, job: Any, *args: Any) -> bool:
        """Ruby's ``delayed?``: is ``job`` with ``args`` waiting in some bucket?"""
        return bool(self.scheduled_at(job, *args))

    def scheduled_at(self, job: Any, *args: Any) -> list[int]:
        """The timestamps ``job`` with ``args`` is delayed to (any order)."""
        pipe = self.redis.pipeline(transaction=False)
        for item in self._items(job, args, self._queue_of(job)):
            pipe.smembers(self.layout.timestamps(item))
        members = set().union(*pipe.execute())
        return sorted(int(as_text(m).rpartition(":")[2]) for m in members)

    def delayed_queue_peek(self, start: int, count: int) -> list[int]:
        """Timestamps that have delayed jobs, oldest first, from position ``start``."""
        return [int(float(as_text(m))) for m in self.redis.zrange(self.layout.delayed_schedule, start, start + count - 1)]

    def delayed_timestamp_peek(self, when: Any, start: int, count: int) -> list[Any]:
        """The decoded items due at ``when`` (raw text for one that is not JSON)."""
        raws = self.redis.lrange(self.layout.delayed(epoch_of(when)), start, start + count - 1)
        return [_decoded_or_text(r) for r in raws]

    def delayed_timestamp_size(self, when: Any) -> int:
        return int(self.redis.llen(self.layout.delayed(epoch_of(when))))

    def delayed_queue_schedule_size(self) -> int:
        """How many timestamps have delayed jobs (not how many jobs)."""
        return int(self.redis.zcard(self.layout.delayed_schedule))

    def count_all_scheduled_jobs(self) -> int:
        total = 0
        for batch in self._timestamp_batches(10_000):
            pipe = self.redis.pipeline(transaction=False)
            for ts in batch:
                pipe.llen(self.layout.delayed(ts))
            total += sum(int(n) for n in pipe.execute())
        return total

    def next_timestamp(self) -> int | None:
        """The earliest timestamp with delayed jobs, due or not."""
        # The score, not the member: a member that is not a number (which
        # check reports) must not break the question.
        first = self.redis.zrange(self.layout.delayed_schedule, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    # Selections --------------------------------------------------------------
    def find_delayed_selection(self, predicate: Callable[[list[Any]], bool], job: Any = None) -> list[str]:
        """The encoded items whose args satisfy ``predicate`` (of ``job`` only, if given)."""
        name = None if job is None else self.resque._job(job)[1]
        found: list[str] = []
        for batch in self._timestamp_batches(_SELECTION_BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for ts in batch:
                pipe.lrange(self.layout.delayed(ts), 0, -1)
            for items in pipe.execute():
                for raw in items:
                    data = _decoded_or_text(raw)
                    if not isinstance(data, dict) or (name is not None and data.get("class") != name):
                        continue
                    if predicate(data.get("args")):
                        found.append(as_text(raw))
        return found

    def remove_delayed_selection(self, predicate: Callable[[list[Any]], bool], job: Any = None) -> int:
        return sum(self._take_item(item) for item in dict.fromkeys(self.find_delayed_selection(predicate, job)))

    def enqueue_delayed_selection(self, predicate: Callable[[list[Any]], bool], job: Any = None) -> int:
        total = 0
        for item in dict.fromkeys(self.find_delayed_selection(predicate, job)):
            data = codec.decode(item)
            args = job_params(data.get("args"))
            total += self.enqueue_delayed_with_queue(data["class"], data.get("queue"), *args)
        return total

    def reset_delayed_queue(self) -> None:
        """Delete every delayed job: each bucket, its ``timestamps:`` keys, the schedule.

        Not atomic, as in Ruby: items added meanwhile to a new timestamp survive."""
        for batch in self._timestamp_batches(_SELECTION_BATCH):
            for ts in batch:
                bucket = self.layout.delayed(ts)
                items = {as_text(i) for i in self.redis.lrange(bucket, 0, -1)}
                self.redis.delete(bucket, *(self.layout.timestamps(i) for i in items))
        self.redis.delete(self.layout.delayed_schedule)

    # One bucket, one item: what a dashboard shows and acts on ---------------------
    def bucket_page(self, start: int, count: int) -> BucketPage:
        """Timestamps ``start``.. (oldest first) with their sizes and first items: two round trips."""
        start, count = max(0, start), max(0, count)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.layout.delayed_schedule)
        pipe.zrange(self.layout.delayed_schedule, start, start + count - 1)
        total, members = pipe.execute() if count else (self.redis.zcard(self.layout.delayed_schedule), [])
        stamps = [int(float(as_text(m))) for m in members]
        if not stamps:
            return BucketPage(int(total), start, [])
        pipe = self.redis.pipeline(transaction=False)
        for ts in stamps:
            pipe.llen(self.layout.delayed(ts))
            pipe.lindex(self.layout.delayed(ts), 0)
        values = pipe.execute()
        return BucketPage(int(total), start, [Bucket(ts, int(values[2 * i]), values[2 * i + 1])
                                              for i, ts in enumerate(stamps)])

    def bucket_items(self, when: Any, start: int, count: int) -> tuple[int, list[bytes]]:
        """The size of the bucket due at ``when`` and the exact bytes of items ``start``..: one round trip."""
        key = self.layout.delayed(epoch_of(when))
        start, count = max(0, start), max(0, count)
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(key)
        pipe.lrange(key, start, start + count - 1)
        size, raws = pipe.execute()
        return int(size), (list(raws) if count else [])

    def find_items(self, predicate: Callable[[bytes], bool], limit: int | None = None) -> list[tuple[int, bytes]]:
        """``(ts, bytes)`` of every delayed item ``predicate`` accepts, oldest first (at most ``limit``).

        Reads the buckets 100 to a pipeline, as the selection calls do."""
        found: list[tuple[int, bytes]] = []
        for batch in self._timestamp_batches(_SELECTION_BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for ts in batch:
                pipe.lrange(self.layout.delayed(ts), 0, -1)
            for ts, items in zip(batch, pipe.execute()):
                for raw in items:
                    if predicate(raw):
                        found.append((ts, raw))
                        if limit is not None and len(found) >= limit:
                            return found
        return found

    def locate_item(self, when: Any, sha: str, index: int = -1) -> bytes | None:
        """The bytes of the item due at ``when`` whose SHA-1 is ``sha`` (looked for at ``index`` first), or None."""
        from pyresque import listitems  # late: listitems reads through browse, which imports activejob, which imports us

        found = listitems.locate(self.redis, self.layout.delayed(epoch_of(when)), index, sha)
        return found.raw if found is not None else None

    def remove_item(self, when: Any, raw: bytes | str) -> bool:
        """Remove one copy of the exact item ``raw`` from the bucket due at ``when``
        (an emptied bucket leaves the schedule). False when it was not there."""
        return bool(self._take_one_item(epoch_of(when), raw, "", ""))

    def enqueue_item_now(self, when: Any, raw: bytes | str) -> str | None:
        """Run one delayed item now, as the scheduler would when it comes due.

        One copy of ``raw`` leaves the bucket due at ``when`` and its job goes
        on the item's queue (or the registered class's), with the schedule
        hooks of a registered class. Returns the queue, or None when a
        ``before_*`` hook cancelled the job (the item is gone, as Ruby drops
        it). Raises :class:`ItemChanged` when the item is no longer there,
        :class:`MalformedPayload` or :class:`NoQueueError` when it is not a
        job that can be queued (it is left alone).
        """
        ts = epoch_of(when)
        queue, payload, spec_hooks, params = self._plan_now(raw)
        outcome = hook_runner.before_scheduled_enqueue(spec_hooks, *params)
        allowed = outcome is hook_runner.Scheduled.QUEUED
        if not self._take_one_item(ts, raw, queue if allowed else "", payload if allowed else ""):
            raise ItemChanged(f"that delayed job is no longer due at {ts} (it was run, removed or moved); "
                              "nothing was done")
        hook_runner.after_scheduled_enqueue(spec_hooks, outcome, *params)
        return queue if allowed else None

    def enqueue_bucket_now(self, when: Any) -> BucketRun:
        """Run every job due at ``when`` now, each as :meth:`enqueue_item_now` would.

        The items are read once and taken in one pipeline; an item someone
        else took meanwhile is simply not counted. Items that are not jobs
        stay in the bucket (``left``)."""
        ts = epoch_of(when)
        raws = self.redis.lrange(self.layout.delayed(ts), 0, -1)
        plans: list[tuple[bytes, str, str, dict[str, list[Callable[..., Any]]], list[Any], hook_runner.Scheduled]] = []
        left = 0
        for raw in raws:
            try:
                queue, payload, spec_hooks, params = self._plan_now(raw)
            except (MalformedPayload, NoQueueError):
                left += 1
                continue
            plans.append((raw, queue, payload, spec_hooks, params,
                          hook_runner.before_scheduled_enqueue(spec_hooks, *params)))
        if not plans:
            return BucketRun(0, 0, left)
        pipe = self.redis.pipeline(transaction=False)
        for raw, queue, payload, _, _, outcome in plans:
            queued = outcome is hook_runner.Scheduled.QUEUED
            self._take_one_item(ts, raw, queue if queued else "", payload if queued else "", client=pipe)
        moved = cancelled = 0
        for (_, _, _, spec_hooks, params, outcome), taken in zip(plans, pipe.execute()):
            if not int(taken):
                continue
            if outcome is hook_runner.Scheduled.QUEUED:
                moved += 1
            else:
                cancelled += 1
            hook_runner.after_scheduled_enqueue(spec_hooks, outcome, *params)
        return BucketRun(moved, cancelled, left)

    def _plan_now(self, raw: bytes | str) -> tuple[str, str, dict[str, list[Callable[..., Any]]], list[Any]]:
        """The queue and payload a delayed item becomes (the scheduler's rule), its hooks and arguments."""
        try:
            data = codec.decode(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedPayload(f"the delayed item is not valid JSON: {exc}", raw) from None
        name = data.get("class") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedPayload('the delayed item is not a job (no "class" string)', raw)
        queue = data.get("queue")
        spec = self.resque.registry.get(name)
        if not isinstance(queue, str) or not queue:
            queue = spec.queue if spec is not None else None
        if not queue:
            raise NoQueueError(f"the delayed item of {name} has no queue and {name} is not registered with one; "
                               "it was left alone")
        params = job_params(data.get("args"))
        return queue, codec.encode_job(name, params), _hooks(spec), params

    def _take_one_item(self, ts: int, raw: bytes | str, queue: str, payload: str, client: Any = None) -> Any:
        item = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        # The timestamps: key holds the item's exact bytes, even ones that are not UTF-8.
        stamps = self.layout.timestamps("").encode("utf-8") + item
        keys = [self.layout.delayed(ts), stamps, self.layout.delayed_schedule,
                self.layout.queues, self.layout.queue(queue or "_")]
        result = self._take_one(keys=keys, args=[item, self.layout.delayed_member(ts), ts, queue, payload],
                                client=client)
        return result if client is not None else int(result)

    # Helpers ---------------------------------------------------------------
    def _timestamp_batches(self, size: int) -> Iterator[list[int]]:
        stamps = [int(float(as_text(m))) for m in self.redis.zrange(self.layout.delayed_schedule, 0, -1)]
        for start in range(0, len(stamps), size):
            yield stamps[start : start + size]

    def _queue_of(self, job: Any, required: bool = False) -> str | None:
        spec, name = self.resque._job(job)
        queue = spec.queue if spec else None
        if required and not queue:
            raise NoQueueError(f"{name} has no queue: register it with queue=... or use enqueue_at_with_queue")
        return queue

    def _item(self, job: Any, args: tuple[Any, ...], queue: str | None) -> str:
        return encode_item(self.resque._job(job)[1], list(args), queue)

    def _items(self, job: Any, args: tuple[Any, ...], queue: str | None) -> list[str]:
        """The item in every key order, Ruby's first (see :func:`item_variants`)."""
        return item_variants(self.resque._job(job)[1], list(args), queue)


_NO_HOOKS: dict[str, list[Callable[..., Any]]] = {kind: [] for kind in hook_runner.JOB_HOOKS}


def _hooks(spec: "JobSpec | None") -> dict[str, list[Callable[..., Any]]]:
    return spec.hooks if spec is not None else _NO_HOOKS


def _decoded_or_text(raw: Any) -> Any:
    try:
        return codec.decode(raw)
    except (ValueError, UnicodeDecodeError):
        return as_text(raw)
