"""Moving due delayed items onto their queues, as Ruby's scheduler does, atomically.

For each due bucket, oldest first: read a batch, decide in Python what each
item becomes, then run ``move_due.lua``, which checks that we still hold the
master lock and that the bucket still starts with exactly those items, and
only then SREMs, pushes and trims. So a scheduler killed at any instant
neither loses nor duplicates a job, and one that lost the lock moves nothing.

What an item becomes is Ruby's ``enqueue_from_config``: ``{"class","args"}``
on the item's ``queue`` (or the registered class's queue when the item has
none), the ``queue`` field dropped, ``args`` a Hash as one argument. Where
Ruby's scheduler would crash (not JSON) or silently drop the job (no class,
no queue and an unknown class), pyresque records a failure that keeps the
raw item, so it can be inspected and retried.

Items are handled as the exact bytes Redis holds: an item that is not
UTF-8 is compared, removed and kept in its failure record byte for byte,
so it can never make the compare-and-move fail again and again. A
schedule member that is not a timestamp is logged once and skipped (Ruby's
scheduler spins on it), and a bucket that keeps changing under the mover
is left for the next pass, so no loop here can spin.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque import workers as worker_records
from pyresque.connection import as_text
from pyresque.errors import MalformedPayload
from pyresque.scheduler.delayed import job_params
from pyresque.scripts import source

log = logging.getLogger("pyresque.scheduler")

# Ruby moves 100 items per transaction (DELAYED_REQUEUE_BATCH_SIZE); one
# script call per 1000 is faster and still keeps Redis busy only a few ms.
DEFAULT_BATCH = 1000

# A bucket whose head changed under us this many times in a row (someone
# removing items as fast as we read them) waits for the next pass.
MAX_CONFLICTS = 10


class LostLock(Exception):
    """The master lock is not ours any more: stop moving at once."""


@dataclass
class _Plan:
    """What one raw item becomes: three keys and three values for move_due.lua."""

    raw: bytes
    target: str  # the list the push goes to
    set_key: str
    member: str
    push: str
    after: Callable[[], None] | None = None


class Mover:
    """Moves due items for one :class:`~pyresque.client.Resque` while holding ``lock_value`` on ``lock_key``."""

    def __init__(self, resque: Any, lock_key: str, lock_value: str, batch_size: int = DEFAULT_BATCH) -> None:
        self.resque = resque
        self.redis = resque.redis
        self.layout = resque.layout
        self.lock_key = lock_key
        self.lock_value = lock_value
        self.batch_size = max(1, int(batch_size))
        self._move = self.redis.register_script(source("move_due"))
        # move_due.lua reads each item's bytes back out of its timestamps: key.
        self._stamp_prefix = self.layout.timestamps("").encode("utf-8")
        # Schedule members that are not timestamps: logged once, then skipped.
        self._unreadable: set[bytes] = set()
        # Buckets that kept changing under this pass: skipped until the next.
        self.deferred: set[bytes] = set()

    def next_timestamp(self) -> int | None:
        """The oldest timestamp this pass can move, due or not (when to wake up), or None."""
        found = self._first_bucket("+inf")
        return found[0] if found else None

    def move_due(self, now_s: float | None = None, on_start: Callable[[], None] | None = None) -> int:
        """Move everything due now; returns how many items left their buckets.
        ``on_start`` is called once, before the first bucket, if any is due.
        Raises :class:`LostLock`."""
        self.deferred.clear()
        moved = 0
        while True:
            found = self._first_bucket(int(time.time() if now_s is None else now_s))
            if found is None:
                return moved
            if on_start is not None:
                on_start()
                on_start = None
            moved += self.move_bucket(*found)

    def _first_bucket(self, until: int | str) -> tuple[int, bytes] | None:
        """The oldest (timestamp, exact schedule member) scored at most ``until``,
        passing over unreadable members and deferred buckets."""
        while True:
            skip = self._unreadable | self.deferred
            # Everything skipped may come first: ask for one more than that.
            found = self.redis.zrangebyscore(self.layout.delayed_schedule, "-inf", until, start=0, num=len(skip) + 1)
            for member in found:
                if member in skip:
                    continue
                ts = _timestamp_of(member)
                if ts is not None:
                    return ts, member
                self._unreadable.add(member)
                log.error("%s holds %r, which is not a timestamp: skipping it (Ruby's scheduler would loop "
                          "on it)", self.layout.delayed_schedule, as_text(member))
            if len(found) <= len(skip):
                return None  # nothing past the skipped ones

    def move_bucket(self, ts: int, schedule_member: bytes | None = None) -> int:
        """Empty one bucket, batch by batch, and remove ``schedule_member`` (``ts``
        by default) from the schedule. A bucket that keeps changing under us
        is added to :attr:`deferred` and left for the next pass."""
        bucket = self.layout.delayed(ts)
        member = self.layout.delayed_member(ts)
        zmember = schedule_member if schedule_member is not None else str(ts).encode()
        moved = conflicts = 0
        raws = [_exact(r) for r in self.redis.lrange(bucket, 0, self.batch_size - 1)]
        while True:
            plans = [self._plan(raw, member) for raw in raws]
            sets = list(dict.fromkeys((p.set_key, p.member) for p in plans if p.member))
            keys: list[Any] = [bucket, self.layout.delayed_schedule, self.lock_key]
            for p in plans:
                keys += [self._stamp_prefix + p.raw, p.target]
            keys += [set_key for set_key, _ in sets]
            args: list[Any] = [zmember, self.lock_value, member, len(plans), len(sets), len(self._stamp_prefix)]
            args += [p.push for p in plans]
            args += [m for _, m in sets]
            # The next batch is read in the same round trip, right after the move.
            pipe = self.redis.pipeline(transaction=False)
            self._move(keys=keys, args=args, client=pipe)
            pipe.lrange(bucket, 0, self.batch_size - 1)
            reply, following = pipe.execute()
            result = int(reply)
            raws = [_exact(r) for r in following]
            if result == -2:
                raise LostLock(f"the master lock {self.lock_key} is no longer {self.lock_value}")
            if result == -1:
                # A writer changed the bucket between our read and the move: read again, a few times.
                conflicts += 1
                if conflicts >= MAX_CONFLICTS:
                    log.warning("%s changed under the scheduler %d times in a row: left for the next pass",
                                bucket, conflicts)
                    self.deferred.add(zmember)
                    return moved
                continue
            conflicts = 0
            for p in plans:
                if p.after is not None:
                    p.after()
            moved += result
            if result < self.batch_size:
                return moved

    def _plan(self, raw: bytes, bucket_member: str) -> _Plan:
        try:
            data = codec.decode(raw)
        except UnicodeDecodeError as exc:
            # Ruby's JSON parser refuses it too; its scheduler then dies.
            return self._failure(raw, f"delayed item is not valid UTF-8: {exc}", None, bucket_member)
        except (ValueError, RecursionError) as exc:
            return self._failure(raw, f"delayed item is not valid JSON: {exc}", None, bucket_member)
        if not isinstance(data, dict):
            return self._failure(raw, "delayed item is not a JSON object", None, bucket_member)
        name = data.get("class")
        queue = data.get("queue")
        queue = queue if isinstance(queue, str) and queue else None
        if not isinstance(name, str) or not name:
            return self._failure(raw, 'delayed item has no "class" string', queue, bucket_member)
        spec = self.resque.registry.get(name)
        queue = queue or (spec.queue if spec is not None else None)
        if not queue:
            return self._failure(raw, f"delayed item of {name} has no queue, and {name} is not registered "
                                      "with one (Ruby's scheduler drops such an item)", None, bucket_member)
        params = job_params(data.get("args"))
        try:
            push = codec.encode_job(name, params)
        except codec.InvalidArgument as exc:
            return self._failure(raw, f"delayed item cannot be re-encoded: {exc}", queue, bucket_member)
        after = None
        if spec is not None:
            try:
                outcome = hook_runner.before_scheduled_enqueue(spec.hooks, *params)
            except Exception as exc:  # noqa: BLE001 - one job's hook must not stop the scheduler
                # Ruby logs it and the job is gone; here it is a failure with the item's text.
                return self._failure(raw, f"a hook of {name} raised {type(exc).__name__}: {exc}", queue, bucket_member)
            if outcome is not hook_runner.Scheduled.QUEUED:
                push = ""  # a cancelled job leaves its bucket all the same
            if outcome is not hook_runner.Scheduled.CANCELLED:
                def after(h: Any = spec.hooks, o: Any = outcome, a: list[Any] = params, n: str = name) -> None:
                    try:
                        hook_runner.after_scheduled_enqueue(h, o, *a)
                    except Exception:  # noqa: BLE001 - the move is done; a hook's error is only logged
                        log.exception("an after hook of %s raised", n)
        log.debug("queueing %s [delayed] on %s", name, queue)
        return _Plan(raw, self.layout.queue(queue), self.layout.queues, queue if push else "", push, after)

    def _failure(self, raw: bytes, problem: str, queue: str | None, bucket_member: str) -> _Plan:
        log.error("%s; recorded as a failure with its raw text: %.200s", problem, as_text(raw))
        where = queue or bucket_member
        # A worker id's shape (host:pid:queues), so resque-web and the schema accept it.
        worker = worker_records.worker_id(["scheduler"], os.getpid(), socket.gethostname())
        record = failure_mod.record_for_malformed(MalformedPayload(problem, raw), worker, where)
        dest = self.resque.failure_backend.destination(where)
        return _Plan(raw, dest.list_key, dest.set_key or self.layout.queues, dest.member or "",
                     failure_mod.encode_record(record))


def _exact(value: bytes | str) -> bytes:
    """An item as the bytes Redis holds (a client that decodes replies gives text)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _timestamp_of(member: bytes | str) -> int | None:
    """The timestamp a schedule member names (Ruby writes integers), or None."""
    try:
        return int(float(member))
    except (ValueError, OverflowError):  # "soon", "nan", "inf"
        return None
