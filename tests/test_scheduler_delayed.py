"""Delayed jobs in the client: resque-scheduler's calls, keys and meanings.

Interop with the real gem is in compat-tests/test_ruby_scheduler.py; these
pin the Python side: times, queues, hooks, inline mode, atomic removal.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

import pyresque
from pyresque import NoQueueError, Resque
from pyresque.check import load_schemas
from pyresque.errors import InvalidQueueName, InvalidSchedule


@pytest.fixture
def archive(registry):
    calls = []

    @pyresque.job("Archive", queue="archive", registry=registry)
    def archive(*args):
        calls.append(list(args))

    archive.calls = calls
    return archive


def items(r, ts):
    return [x.decode() for x in r.lrange(f"resque:delayed:{ts}", 0, -1)]


def test_enqueue_at_writes_the_three_keys(resque, r, archive):
    ts = int(time.time()) + 3600
    assert resque.enqueue_at(ts + 0.9, archive, 1, {"b": [None]}) is True  # fractions dropped, as to_i
    item = '{"class":"Archive","args":[1,{"b":[null]}],"queue":"archive"}'
    assert items(r, ts) == [item]
    assert r.smembers(f"resque:timestamps:{item}") == {f"delayed:{ts}".encode()}
    assert r.zrange("resque:delayed_queue_schedule", 0, -1, withscores=True) == [(str(ts).encode(), float(ts))]
    jsonschema.validate(json.loads(item), load_schemas()["delayed-item"])


@pytest.mark.parametrize("when", [
    datetime(2030, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=1))),
    datetime(2030, 1, 1, 8, 0, tzinfo=timezone.utc),
    1893484800,
    1893484800.5,
])
def test_when_is_an_aware_datetime_or_epoch_seconds(resque, r, archive, when):
    resque.enqueue_at(when, archive)
    assert resque.delayed_queue_peek(0, 10) == [1893484800]


def test_a_naive_datetime_is_local_time(resque, archive):
    naive = datetime(2030, 6, 1, 12, 0, 0)
    resque.enqueue_at(naive, archive)
    assert resque.delayed_queue_peek(0, 1) == [int(time.mktime(naive.timetuple()))]


def test_enqueue_in_takes_seconds_or_a_timedelta(resque, archive):
    before = int(time.time())
    resque.enqueue_in(timedelta(minutes=10), archive, 1)
    resque.enqueue_in(600, archive, 2)
    stamps = resque.delayed_queue_peek(0, 10)
    assert all(before + 600 <= ts <= int(time.time()) + 600 for ts in stamps)
    with pytest.raises(InvalidSchedule):
        resque.enqueue_in("10 minutes", archive)
    with pytest.raises(InvalidSchedule):
        resque.enqueue_at("tomorrow", archive)


def test_a_due_time_enqueues_at_once_and_writes_no_item(resque, r, archive):
    resque.enqueue_at(time.time() - 5, archive, 1)
    assert r.lrange("resque:queue:archive", 0, -1) == [b'{"class":"Archive","args":[1]}']
    assert resque.delayed_queue_schedule_size() == 0


# The documented bound: 9999-12-30 23:59:59 UTC, still the year 9999 in every zone.
LATEST_EPOCH_S = 253402214399
NOT_FINITE = [float("nan"), float("inf"), float("-inf"), pytest.param(10**400, id="int-too-big-for-a-float")]


@pytest.mark.parametrize("call", ["enqueue_at", "enqueue_at_with_queue", "delay_or_enqueue_at"])
@pytest.mark.parametrize("when", NOT_FINITE + [1e300, LATEST_EPOCH_S + 1])
def test_a_time_no_one_can_use_is_invalid_schedule_and_writes_nothing(resque, r, archive, call, when):
    """NaN, infinity, an int too big for a float and anything after 9999-12-30 UTC
    raise the library's own error, never ValueError/OverflowError or a bucket."""
    args = ("archive", when, archive, 1) if call.endswith("_with_queue") else (when, archive, 1)
    with pytest.raises(InvalidSchedule):
        getattr(resque, call)(*args)
    assert r.keys("resque:*") == []


@pytest.mark.parametrize("call", ["enqueue_in", "enqueue_in_with_queue", "delay_or_enqueue_in"])
@pytest.mark.parametrize("delay", NOT_FINITE + [1e300, pytest.param(timedelta.max, id="timedelta.max"), 99999999999 * 86400])
def test_a_delay_no_one_can_use_is_invalid_schedule_and_writes_nothing(resque, r, archive, call, delay):
    args = ("archive", delay, archive, 1) if call.endswith("_with_queue") else (delay, archive, 1)
    with pytest.raises(InvalidSchedule):
        getattr(resque, call)(*args)
    assert r.keys("resque:*") == []


def test_the_last_second_of_year_9999_in_every_zone_still_delays(resque, r, archive):
    resque.enqueue_at(LATEST_EPOCH_S, archive, 1)
    assert resque.delayed_queue_peek(0, 1) == [LATEST_EPOCH_S]
    assert datetime.fromtimestamp(LATEST_EPOCH_S, timezone(timedelta(hours=14))).year == 9999


def test_place_says_what_enqueue_at_did(resque, r, archive):
    assert resque.delayed.place("archive", time.time() - 5, archive, 1) == "enqueued"
    assert resque.delayed.place("archive", time.time() + 60, archive, 2) == "delayed"
    assert r.llen("resque:queue:archive") == 1 and resque.count_all_scheduled_jobs() == 1


def test_a_class_without_a_queue_is_refused_as_ruby_refuses_it(resque, r):
    with pytest.raises(NoQueueError):
        resque.enqueue_in(60, "Unregistered", 1)
    with pytest.raises(InvalidQueueName):
        resque.enqueue_in_with_queue(None, 60, "Unregistered", 1)
    resque.enqueue_in_with_queue("q", 60, "Unregistered", 1)
    (ts,) = resque.delayed_queue_peek(0, 1)
    assert items(r, ts) == ['{"class":"Unregistered","args":[1],"queue":"q"}']


def test_remove_delayed_matches_class_args_and_queue(resque, r, archive):
    resque.enqueue_in(60, archive, 1)
    resque.enqueue_in(120, archive, 1)
    resque.enqueue_in(60, archive, 2)
    resque.enqueue_in_with_queue("other", 60, archive, 1)
    assert resque.scheduled_at(archive, 1) == sorted(resque.scheduled_at(archive, 1))
    assert len(resque.scheduled_at(archive, 1)) == 2
    assert resque.remove_delayed(archive, 1) == 2
    assert not resque.is_delayed(archive, 1)
    assert resque.is_delayed(archive, 2)
    assert resque.remove_delayed_in_queue(archive, "other", 1) == 1
    assert resque.count_all_scheduled_jobs() == 1
    # remove_delayed leaves empty buckets to the scheduler, as Ruby does
    assert resque.delayed_queue_schedule_size() == 2


def test_remove_from_one_timestamp_cleans_up_an_empty_bucket(resque, r, archive):
    ts = int(time.time()) + 60
    resque.enqueue_at(ts, archive, 1)
    resque.enqueue_at(ts + 60, archive, 1)
    assert resque.remove_delayed_job_from_timestamp(ts, archive, 1) == 1
    assert resque.delayed_queue_peek(0, 10) == [ts + 60]
    assert not r.exists(f"resque:delayed:{ts}")
    assert resque.scheduled_at(archive, 1) == [ts + 60]


def test_enqueue_delayed_runs_now_every_copy(resque, r, archive):
    resque.enqueue_in(60, archive, 1)
    resque.enqueue_in(90, archive, 1)
    assert resque.enqueue_delayed(archive, 1) == 2
    assert r.lrange("resque:queue:archive", 0, -1) == [b'{"class":"Archive","args":[1]}'] * 2
    assert r.smembers("resque:queues") == {b"archive"}
    assert resque.count_all_scheduled_jobs() == 0


def test_delay_or_enqueue_moves_existing_jobs(resque, archive):
    resque.enqueue_in(60, archive, 1)
    resque.enqueue_in(90, archive, 1)
    later = int(time.time()) + 3600
    assert resque.delay_or_enqueue_at(later, archive, 1) == 2
    assert resque.delayed_timestamp_size(later) == 2
    assert resque.delay_or_enqueue_at(later, archive, 5) == 1


def test_selections_peek_and_reset(resque, r, archive):
    for n in range(5):
        resque.enqueue_in(60 + n, archive, n)
    resque.enqueue_in_with_queue("q", 60, "Other", 3)
    assert sorted(json.loads(i)["args"][0] for i in resque.find_delayed_selection(lambda a: a[0] % 2 == 0)) == [0, 2, 4]
    assert len(resque.find_delayed_selection(lambda a: a[0] == 3, job=archive)) == 1
    assert resque.remove_delayed_selection(lambda a: a[0] == 0) == 1
    assert resque.enqueue_delayed_selection(lambda a: a[0] == 3) == 2
    assert r.llen("resque:queue:archive") == 1 and r.llen("resque:queue:q") == 1
    ts = resque.delayed_queue_peek(0, 1)[0]
    assert resque.delayed_timestamp_peek(ts, 0, 1) in ([{"class": "Archive", "args": [1], "queue": "archive"}], [])
    resque.reset_delayed_queue()
    assert [k for k in r.keys("resque:*") if b"delayed" in k or b"timestamps" in k] == []


def test_schedule_hooks(resque, r, registry):
    seen = []

    @pyresque.job("Hooked", queue="h", registry=registry)
    class Hooked:
        @staticmethod
        def perform(*args):
            seen.append(("perform", args))

        @staticmethod
        def before_schedule_check(*args):
            seen.append(("before_schedule", args))
            return args != ("no",)

        @staticmethod
        def after_schedule_note(*args):
            seen.append(("after_schedule", args))

    assert resque.enqueue_in(60, Hooked, "yes") is True
    assert resque.enqueue_in(60, Hooked, "no") is False
    assert seen == [("before_schedule", ("yes",)), ("after_schedule", ("yes",)), ("before_schedule", ("no",))]
    assert resque.count_all_scheduled_jobs() == 1


def test_inline_mode_performs_delayed_jobs_at_once(r, redis_server, registry, archive):
    inline = Resque(redis_server, registry=registry, inline=True)
    inline.enqueue_in(3600, archive, 1, "x")
    assert archive.calls == [[1, "x"]]
    assert r.keys("resque:*") == []
    assert inline.remove_delayed(archive, 1, "x") == 0


def test_delay_or_enqueue_moves_copies_in_one_step_and_cleans_old_buckets_later(resque, r, archive):
    t1, t2 = int(time.time()) + 60, int(time.time()) + 3600
    resque.enqueue_at(t1, archive, 7)
    resque.enqueue_at(t1, archive, 7)
    resque.enqueue_at(t1, archive, 8)
    assert resque.delay_or_enqueue_at(t2, archive, 7) == 2
    assert resque.scheduled_at(archive, 7) == [t2] and resque.delayed_timestamp_size(t2) == 2
    assert resque.delayed_timestamp_peek(t1, 0, 10) == [{"class": "Archive", "args": [8], "queue": "archive"}]



def _node_item(r, ts: int, order: tuple[str, ...], args: list) -> None:
    """A delayed item as another writer lays it out (node-resque: class, queue, args)."""
    import json as _json

    item = _json.dumps({k: {"class": "Node", "queue": "q", "args": args}[k] for k in order}, separators=(",", ":"))
    r.rpush(f"resque:delayed:{ts}", item)
    r.sadd(f"resque:timestamps:{item}", f"delayed:{ts}")
    r.zadd("resque:delayed_queue_schedule", {ts: ts})


def test_items_in_another_key_order_are_found_removed_and_run_now(r, resque, registry):
    """Ruby matches a delayed item only by its exact bytes, so it never finds
    node-resque's; pyresque matches it by content, whatever the key order."""
    from pyresque.registry import job as register

    register("Node", queue="q", registry=registry)(lambda *a: None)
    _node_item(r, 2000000000, ("class", "queue", "args"), [1, "a"])
    _node_item(r, 2000000100, ("queue", "args", "class"), [1, "a"])
    _node_item(r, 2000000200, ("class", "queue", "args"), [2, "b"])
    assert resque.scheduled_at("Node", 1, "a") == [2000000000, 2000000100]
    assert resque.remove_delayed("Node", 1, "a") == 2
    assert r.llen("resque:delayed:2000000000") == 0 and r.llen("resque:delayed:2000000100") == 0
    assert resque.scheduled_at("Node", 1, "a") == []
    assert resque.enqueue_delayed("Node", 2, "b") == 1
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Node","args":[2,"b"]}']
    assert r.keys("resque:timestamps:*") == []


def test_enqueue_delayed_runs_after_schedule_even_when_before_enqueue_says_no(resque, r, registry):
    """Ruby's enqueue_delayed goes through enqueue_from_config: after_schedule runs around
    the enqueue whatever before_enqueue said; after_enqueue only for a queued job."""
    seen = []

    @pyresque.job("Gated", queue="g", registry=registry)
    class Gated:
        @staticmethod
        def perform(*args): ...

        @staticmethod
        def before_enqueue_gate(*args):
            return args != ("no",)

        @staticmethod
        def after_enqueue_note(*args):
            seen.append(("after_enqueue", args))

        @staticmethod
        def after_schedule_note(*args):
            seen.append(("after_schedule", args))

    resque.enqueue_in(60, Gated, "yes")
    resque.enqueue_in(60, Gated, "no")
    seen.clear()
    assert resque.enqueue_delayed(Gated, "yes") == 1 and resque.enqueue_delayed(Gated, "no") == 1
    assert seen == [("after_enqueue", ("yes",)), ("after_schedule", ("yes",)), ("after_schedule", ("no",))]
    assert r.lrange("resque:queue:g", 0, -1) == [b'{"class":"Gated","args":["yes"]}']
    assert resque.count_all_scheduled_jobs() == 0


def test_next_timestamp_reads_the_score_even_of_a_member_that_is_not_a_number(resque, r):
    assert resque.delayed.next_timestamp() is None
    r.zadd("resque:delayed_queue_schedule", {"soon": 1_800_000_000, "1900000000": 1_900_000_000})
    assert resque.delayed.next_timestamp() == 1_800_000_000
