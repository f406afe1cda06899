"""``pyresque check`` on resque-scheduler's and resque-retry's keys."""

from __future__ import annotations

from pyresque.check import check
from pyresque.scheduler.loop import Scheduler
from pyresque.scheduler.schedule import set_schedule


def problems(resque):
    return [(p.severity, resque.layout.strip(p.key), p.message) for p in check(resque.redis, resque.layout)]


def test_what_pyresque_writes_passes(resque, r):
    resque.enqueue_in_with_queue("q", 600, "Archive", 1, {"a": None})
    set_schedule(r, resque.layout, "nightly", {"cron": "0 3 * * *", "class": "Nightly", "queue": "n", "persist": True})
    Scheduler(resque).tick()
    r.hset("resque:delayed:last_enqueued_at", "nightly", "2026-01-15 16:28:07 -0500")
    r.set("resque:resque-retry:Archive:abc", "0")
    assert problems(resque) == []


def test_broken_scheduler_keys_are_reported(resque, r):
    r.rpush("resque:delayed:100", '{"class":"K","args":[],"queue":null}', "nope")
    r.rpush("resque:delayed:200", '{"class":"K","args":[],"queue":"q"}')
    r.zadd("resque:delayed_queue_schedule", {"100": 100})
    r.hset("resque:persistent_schedules", mapping={"bad": "{not json", "cronless": '{"class":"X"}'})
    r.hset("resque:delayed:last_enqueued_at", "x", "yesterday")
    r.set("resque:resque:resque_scheduler_master_lock", "host:12")  # no TTL
    r.set("resque:resque-retry:K", "many")
    found = problems(resque)
    text = "\n".join(f"{s} {k}: {m}" for s, k, m in found)
    assert ("error", "delayed:100") in {(s, k) for s, k, _ in found if "not valid JSON" in _}
    assert "warning delayed:100: item 0 has no queue" in text
    assert "error delayed:200: 200 is not in the schedule" in text
    assert "error persistent_schedules: schedule 'bad' is not valid JSON" in text
    assert "warning persistent_schedules: schedule 'cronless': has no cron or every" in text
    assert "warning delayed:last_enqueued_at: 'x'" in text
    assert "error resque:resque_scheduler_master_lock: has no TTL" in text
    assert "error resque-retry:K: 'many' is not an integer" in text
