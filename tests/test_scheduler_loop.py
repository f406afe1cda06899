"""The scheduler: master lock, atomic moves, malformed items, recurring ticks, wake-up, signals."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

import pyresque
from pyresque.check import schema_errors
from pyresque.config import SchedulerSettings
from pyresque.scheduler.lock import MasterLock
from pyresque.scheduler.loop import Scheduler
from pyresque.scheduler.move import LostLock
from pyresque.scheduler.runs import ruby_time
from pyresque.scheduler.schedule import parse_schedule
from pyjobs_procs import env_for, pyresque_cmd, title
from testsupport import wait_until

LOCK = "resque:resque:resque_scheduler_master_lock"


def due_bucket(r, ts, *raw):
    r.rpush(f"resque:delayed:{ts}", *raw)
    r.zadd("resque:delayed_queue_schedule", {str(ts): ts})
    for item in raw:
        r.sadd(b"resque:timestamps:" + (item if isinstance(item, bytes) else item.encode()), f"delayed:{ts}")


def test_moves_due_jobs_as_ruby_does(resque, r, registry):
    registry.register(lambda *a: None, name="Known", queue="known")
    due_bucket(r, 100,
               '{"class":"Plain","args":[1,"x"],"queue":"q"}',
               '{"class":"Known","args":{"a":1},"queue":null}',   # Ruby: a Hash is one argument
               '{"class":"Plain","args":null,"queue":"q"}')
    due_bucket(r, 2**40, '{"class":"Later","args":[],"queue":"q"}')
    Scheduler(resque).tick()
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Plain","args":[1,"x"]}', b'{"class":"Plain","args":[]}']
    assert r.lrange("resque:queue:known", 0, -1) == [b'{"class":"Known","args":[{"a":1}]}']
    assert r.smembers("resque:queues") == {b"q", b"known"}
    assert not r.exists("resque:delayed:100")
    assert r.zrange("resque:delayed_queue_schedule", 0, -1) == [str(2**40).encode()]
    assert r.keys("resque:timestamps:*") == [b'resque:timestamps:{"class":"Later","args":[],"queue":"q"}']
    assert r.get(LOCK).decode().endswith(f":{os.getpid()}")


def test_malformed_items_become_failures_keeping_their_text(resque, r):
    bad = ["not json", "[1]", '{"args":[]}', '{"class":"Unknown","args":[]}']
    due_bucket(r, 100, *bad, '{"class":"Fine","args":[],"queue":"q"}')
    Scheduler(resque).tick()
    failures = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert [f["raw_payload"] for f in failures] == bad
    assert all(f["exception"] == "pyresque.MalformedPayload" for f in failures)
    assert all(schema_errors("failure-record", f) == [] and f["worker"].endswith(":scheduler") for f in failures)
    assert r.llen("resque:queue:q") == 1 and not r.exists("resque:delayed:100")


def test_an_item_that_is_not_utf8_becomes_one_failure_and_later_jobs_still_move(procs, r, redis_server, tmp_path):
    """It used to be compared as U+FFFD text, never matched, and froze the scheduler."""
    import base64

    bad = b'{"class":"A","args":["\xff"],"queue":"q"}'
    now = int(time.time())
    due_bucket(r, now - 20, bad)
    due_bucket(r, now - 10, '{"class":"A","args":[1],"queue":"q"}')
    log_path = tmp_path / "scheduler.log"
    procs.run(pyresque_cmd("scheduler", "-i", "5"), env_for(redis_server, LOGFILE=str(log_path)))
    wait_until(lambda: r.llen("resque:queue:q") == 1 and not r.exists("resque:delayed_queue_schedule"), 15,
               "the good job to be moved")
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert base64.b64decode(failure["raw_payload_base64"]) == bad
    assert "not valid UTF-8" in failure["error"] and schema_errors("failure-record", failure) == []
    assert r.keys("resque:delayed:1*") == [] and r.keys("resque:timestamps:*") == []
    assert log_path.read_text().count("not valid UTF-8") == 1  # moved once, not retried


def test_a_schedule_member_that_is_not_a_timestamp_is_logged_once_and_skipped(resque, r, caplog):
    """Ruby's scheduler loops on it; pyresque used to die on it."""
    r.zadd("resque:delayed_queue_schedule", {"soon": 50})
    due_bucket(r, 100, '{"class":"A","args":[1],"queue":"q"}')
    # Ruby reads "150.0" as 150: its bucket moves and that exact member goes, or the pass would spin.
    r.rpush("resque:delayed:150", '{"class":"A","args":[2],"queue":"q"}')
    r.zadd("resque:delayed_queue_schedule", {"150.0": 150})
    s = Scheduler(resque)
    assert s.tick() > 0 and s.tick() > 0  # nothing due is left to spin on
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:q", 0, -1)] == [[1], [2]]
    assert r.zrange("resque:delayed_queue_schedule", 0, -1) == [b"soon"]  # left for a person to look at
    assert caplog.text.count("'soon'") == 1


def test_a_bucket_that_keeps_changing_is_left_for_the_next_pass(resque, r, registry):
    """The compare-and-move retries a bucket changed under it a bounded number of times, never spinning."""
    rewrites = []

    @pyresque.job("Churn", queue="c", registry=registry)
    class Churn:
        @staticmethod
        def perform(*a): ...

        @staticmethod
        def before_schedule_rewrite(*a):
            # Another client rewriting the head between the mover's read and its move, 10 times.
            if len(rewrites) < 10:
                rewrites.append(a)
                r.lset("resque:delayed:100", 0, json.dumps({"class": "Churn", "args": [len(rewrites)], "queue": "c"}))

    due_bucket(r, 100, '{"class":"Churn","args":[0],"queue":"c"}')
    due_bucket(r, 200, '{"class":"A","args":[],"queue":"q"}')
    s = Scheduler(resque)
    assert 0 < s.tick() <= 1.0  # tried again soon, not at once
    assert len(rewrites) == 10 and r.llen("resque:delayed:100") == 1 and r.llen("resque:queue:c") == 0
    assert r.llen("resque:queue:q") == 1
    s.tick()  # the next pass tries it again
    assert r.lrange("resque:queue:c", 0, -1) == [b'{"class":"Churn","args":[10]}']


def test_hooks_run_and_can_cancel_a_move_as_resque_scheduler(resque, r, registry):
    """before_schedule=false stops every hook; before_enqueue=false keeps the job off its
    queue, but after_schedule still runs, as Ruby's process_schedule_hooks does."""
    seen = []

    @pyresque.job("Hooked", queue="h", registry=registry)
    class Hooked:
        @staticmethod
        def perform(*a): ...

        @staticmethod
        def before_schedule_gate(*a):
            return a != ("unscheduled",)

        @staticmethod
        def before_delayed_enqueue_note(*a):
            seen.append(("before_delayed_enqueue", a))

        @staticmethod
        def before_enqueue_gate(*a):
            return a != ("no",)

        @staticmethod
        def after_enqueue_note(*a):
            seen.append(("after_enqueue", a))

        @staticmethod
        def after_schedule_note(*a):
            seen.append(("after_schedule", a))

    due_bucket(r, 100, *(f'{{"class":"Hooked","args":["{a}"],"queue":"h"}}' for a in ("yes", "no", "unscheduled")))
    Scheduler(resque).tick()
    assert r.lrange("resque:queue:h", 0, -1) == [b'{"class":"Hooked","args":["yes"]}']
    assert seen == [("before_delayed_enqueue", ("yes",)), ("before_delayed_enqueue", ("no",)),
                    ("after_enqueue", ("yes",)), ("after_schedule", ("yes",)), ("after_schedule", ("no",))]
    assert not r.exists("resque:delayed:100")


def test_a_scheduler_without_the_lock_moves_nothing(resque, r):
    r.set(LOCK, "elsewhere:1", ex=60)
    due_bucket(r, 100, '{"class":"Plain","args":[],"queue":"q"}')
    s = Scheduler(resque)
    s.tick()
    assert s.master is False and r.llen("resque:delayed:100") == 1
    # A master whose lock is taken over stops at once, moving nothing.
    r.delete(LOCK)
    s.lock.acquire_or_renew()
    r.set(LOCK, "elsewhere:1")
    with pytest.raises(LostLock):
        s.mover.move_due()
    assert r.llen("resque:delayed:100") == 1 and r.llen("resque:queue:q") == 0


def test_lock_is_renewed_and_released_only_by_its_holder(r):
    from pyresque.keys import Keys

    a = MasterLock(r, Keys(), timeout_s=30, value="host:1")
    b = MasterLock(r, Keys(), timeout_s=30, value="host:2")
    assert a.acquire_or_renew() and not b.acquire_or_renew()
    assert 0 < r.ttl(LOCK) <= 30
    assert not b.release() and a.holder() == "host:1"
    assert a.release() and b.acquire_or_renew()
    prefixed = MasterLock(r, Keys(), lock_prefix="App", value="host:3")
    assert prefixed.key == "resque:resque:App:resque_scheduler_master_lock" and prefixed.acquire_or_renew()


def test_a_recurring_tick_is_enqueued_once_across_schedulers(resque, r, redis_server, registry):
    entries, problems = parse_schedule({"tick": {"every": "10s", "class": "Tick", "queue": "t", "args": [1]}})
    assert problems == []
    first = Scheduler(resque, entries=entries)
    first.started_s = 1000.0
    first.tick(now_s=1005.0)
    assert first.master and first._next["tick"] == 1010.0
    first.tick(now_s=1010.2)
    first.tick(now_s=1010.4)
    assert r.lrange("resque:queue:t", 0, -1) == [b'{"class":"Tick","args":[1]}']
    assert r.hget("resque:delayed:last_enqueued_at", "tick") is not None
    # The master dies; a new one takes the lock and must not repeat tick 1010.
    r.delete(LOCK)
    other = pyresque.Resque(redis_server, registry=registry)
    second = Scheduler(other, entries=entries, lock=MasterLock(other.redis, other.layout, value="other:2"))
    second.tick(now_s=1010.9)
    assert r.llen("resque:queue:t") == 1 and second._next["tick"] == 1020.0
    second.tick(now_s=1020.0)
    assert r.llen("resque:queue:t") == 2


def every_10s():
    entries, _ = parse_schedule({"tick": {"every": "10s", "class": "Tick", "queue": "t"}})
    return entries


def missed_lines(caplog):
    return [rec.getMessage() for rec in caplog.records if " missed " in rec.getMessage()]


def test_missed_ticks_are_logged_in_one_line_saying_how_many_and_when(resque, r, caplog):
    r.hset("resque:pyresque:schedule_tick", "tick", 1000)
    Scheduler(resque, entries=every_10s()).tick(now_s=1100.0)
    # 1010 ... 1090 were missed; 1100 is on time and runs.
    assert missed_lines(caplog) == [f"tick missed 9 tick(s) from {ruby_time(1010)} to {ruby_time(1090)} while no "
                                    "scheduler was master (not run; set PYRESQUE_SCHEDULE_CATCH_UP=1 to run them)"]
    assert r.lrange("resque:queue:t", 0, -1) == [b'{"class":"Tick","args":[]}']


def test_catch_up_enqueues_each_missed_tick_once_up_to_a_cap(resque, r, caplog):
    r.hset("resque:pyresque:schedule_tick", "tick", 1000)
    catching = SchedulerSettings(catch_up=True)
    Scheduler(resque, catching, entries=every_10s()).tick(now_s=1100.0)
    assert r.llen("resque:queue:t") == 10 and r.hget("resque:pyresque:schedule_tick", "tick") == b"1100"
    # A master taking over later enqueues none of them again.
    r.delete(LOCK)
    Scheduler(resque, catching, entries=every_10s(), lock=MasterLock(r, resque.layout, value="other:3")).tick(now_s=1100.5)
    assert r.llen("resque:queue:t") == 10
    # A second-by-second schedule down for 1000 s: 994 missed, the first 100 run, then the on-time one.
    every_1s, _ = parse_schedule({"sec": {"every": "1s", "class": "Sec", "queue": "s"}})
    r.delete(LOCK)
    r.hset("resque:pyresque:schedule_tick", "sec", 0)
    caplog.clear()
    Scheduler(resque, catching, entries=every_1s).tick(now_s=1000.0)
    assert r.llen("resque:queue:s") == 101
    assert missed_lines(caplog) == [f"sec missed 994 tick(s) from {ruby_time(1)} to {ruby_time(994)} while no "
                                    "scheduler was master: enqueuing 100 now; 894 after the first 100 are dropped"]


def test_a_tick_ruby_enqueued_is_neither_missed_nor_repeated(resque, r, caplog):
    """A Ruby master ran the schedule up to 1090 (its last_enqueued_at); pyresque's own
    record is older. Taking over at 1100, pyresque runs 1100 only, catch-up or not."""
    r.hset("resque:pyresque:schedule_tick", "tick", 1000)
    r.hset("resque:delayed:last_enqueued_at", "tick", ruby_time(1090))
    Scheduler(resque, SchedulerSettings(catch_up=True), entries=every_10s()).tick(now_s=1100.0)
    assert r.llen("resque:queue:t") == 1 and r.hget("resque:pyresque:schedule_tick", "tick") == b"1100"
    assert r.hget("resque:delayed:last_enqueued_at", "tick").decode() == ruby_time(1100)
    assert missed_lines(caplog) == []


def test_only_a_new_master_looks_for_missed_ticks_not_a_reload(resque, r, caplog):
    s = Scheduler(resque, SchedulerSettings(catch_up=True), entries=every_10s())
    s.started_s = 1000.0
    s.tick(now_s=1005.0)
    s.tick(now_s=1010.0)
    assert r.llen("resque:queue:t") == 1
    # Still master at 1100 (a pass that took long); USR2 reloads the schedule.
    s._reload_requested = True
    s.tick(now_s=1100.0)
    assert missed_lines(caplog) == [] and r.llen("resque:queue:t") == 2  # 1100 on time, nothing replayed


def test_scheduler_process_moves_a_job_right_at_its_second_and_stops_on_term(procs, r, redis_server):
    proc = procs.run(pyresque_cmd("scheduler", "-i", "5"), env_for(redis_server))
    wait_until(lambda: "Master scheduler" in title(proc.pid), 20, "the scheduler to be master")
    assert title(proc.pid).startswith("resque-scheduler-5.0.1")
    client = pyresque.Resque(redis_server)
    lateness = []
    for _ in range(3):
        due = int(time.time()) + 1
        client.enqueue_at_with_queue("q", due, "Plain", due)  # woken by the write, then sleeps until `due`
        wait_until(lambda: r.llen("resque:queue:q") > len(lateness), 5, "the job to be moved", step_s=0.001)
        lateness.append(time.time() - due)
    assert max(lateness) < 0.25, lateness  # Ruby's poll: up to 5 s
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not r.exists(LOCK)  # released on the way out


def test_a_bucket_larger_than_a_batch_moves_in_order(resque, r):
    items = [f'{{"class":"Plain","args":[{n}],"queue":"{"ab"[n % 2]}"}}' for n in range(7)]
    due_bucket(r, 100, *items)
    s = Scheduler(resque, SchedulerSettings(batch_size=3))
    s.tick()
    assert [json.loads(x)["args"][0] for x in r.lrange("resque:queue:a", 0, -1)] == [0, 2, 4, 6]
    assert [json.loads(x)["args"][0] for x in r.lrange("resque:queue:b", 0, -1)] == [1, 3, 5]
    assert r.keys("resque:delayed*") == [] and r.keys("resque:timestamps:*") == []


def test_a_custom_job_class_is_enqueued_under_its_name_as_ruby_does(resque, r):
    entries, _ = parse_schedule({"status": {"every": "10s", "class": "Report", "custom_job_class": "StatusJob",
                                            "queue": "s", "args": {"a": 1}}})
    s = Scheduler(resque, entries=entries)
    s.started_s = 1000.0
    s.tick(now_s=1005.0)
    s.tick(now_s=1010.0)
    assert r.lrange("resque:queue:s", 0, -1) == [b'{"class":"StatusJob","args":[{"a":1}]}']


def test_scheduler_signals_and_json_logs_as_ruby(procs, r, redis_server, tmp_path):
    schedule = tmp_path / "schedule.yml"
    schedule.write_text("nightly:\n  cron: '0 3 * * *'\n  class: Nightly\n  queue: n\nbroken:\n  cron: 'nope'\n")
    log_path = tmp_path / "scheduler.log"
    proc = procs.run(pyresque_cmd("scheduler", "--schedule", str(schedule), "-i", "5"),
                     env_for(redis_server, LOGFORMAT="json", LOGFILE=str(log_path)))
    wait_until(lambda: "Master scheduler" in title(proc.pid), 20, "the scheduler to be master")

    def logged():
        return [json.loads(line) for line in log_path.read_text().splitlines()]

    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: any("nightly cron: 0 3 * * *" in e["msg"] for e in logged()), 10, "USR1 to log the schedule")
    proc.send_signal(signal.SIGUSR2)

    def reload_lines():
        msgs = [e["msg"] for e in logged()]
        after = msgs[msgs.index("Got USR2 signal"):] if "Got USR2 signal" in msgs else []
        return [m for m in after if m in ("Got USR2 signal", "Reloading Schedule", "Loading Schedule", "Schedules Loaded")]

    wait_until(lambda: "Schedules Loaded" in reload_lines(), 10, "USR2 to reload the schedule")
    assert reload_lines() == ["Got USR2 signal", "Reloading Schedule", "Loading Schedule", "Schedules Loaded"]  # Ruby's
    wait_until(lambda: title(proc.pid).endswith(": Master scheduler"), 10, "the title to show the role again")
    assert any("'broken'" in e["msg"] and e["level"] == "ERROR" for e in logged())  # logged, not fatal
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert {"name", "progname", "level", "timestamp", "msg"} <= set(logged()[-1])


def test_quiet_logs_nothing_below_fatal_as_resque_scheduler(procs, r, redis_server, tmp_path):
    """resque-scheduler's QUIET sets its logger to FATAL: not even an error is written."""
    schedule = tmp_path / "schedule.yml"
    schedule.write_text("broken:\n  cron: 'nope'\n")
    for how, extra in (("QUIET", {"QUIET": "true"}), ("-q", {})):
        log_path = tmp_path / f"{how}.log"
        args = ["--schedule", str(schedule), "--logfile", str(log_path)] + (["-q"] if how == "-q" else [])
        proc = procs.run(pyresque_cmd("scheduler", *args), env_for(redis_server, **extra))
        wait_until(lambda: "Master scheduler" in title(proc.pid), 20, "the scheduler to be master")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert log_path.read_text() == "", how  # without QUIET: "[ERROR] ... 'broken' ..."


def test_titles_follow_resque_scheduler_steps_then_show_the_role_again(resque, r, monkeypatch):
    from pyresque.scheduler import loop
    from pyresque.scheduler.schedule import set_schedule

    titles = []
    monkeypatch.setattr(loop, "_setproctitle", lambda t: titles.append(t.partition(": ")[2]))
    s = Scheduler(resque, SchedulerSettings(dynamic=True))
    s.tick()
    assert titles == ["Master scheduler", "Reloading Schedule", "Loading Schedule", "Schedules Loaded",
                      "Master scheduler"]
    for step in ("delayed", "usr2", "dynamic"):
        titles.clear()
        if step == "delayed":
            due_bucket(r, 100, '{"class":"A","args":[],"queue":"q"}')
        elif step == "usr2":
            s._reload_requested = True
        else:
            set_schedule(r, resque.layout, "beat", {"every": "1h", "class": "Beat", "queue": "b"})
        s.tick()
        assert titles == {"delayed": ["Processing Delayed Items", "Master scheduler"],
                          "usr2": ["Reloading Schedule", "Loading Schedule", "Schedules Loaded", "Master scheduler"],
                          "dynamic": ["Updating schedule", "Schedules Loaded", "Master scheduler"]}[step]
    titles.clear()
    s.tick()
    assert titles == []  # an idle pass leaves the title alone


def test_a_raising_hook_fails_that_job_only(resque, r, registry):
    @pyresque.job("Grumpy", queue="g", registry=registry)
    class Grumpy:
        @staticmethod
        def perform(*a): ...

        @staticmethod
        def before_enqueue_check(n):
            if n == 2:
                raise RuntimeError("no")

    due_bucket(r, 100, *(f'{{"class":"Grumpy","args":[{n}],"queue":"g"}}' for n in range(4)))
    Scheduler(resque).tick()
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:g", 0, -1)] == [[0], [1], [3]]
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert "raised RuntimeError: no" in failure["error"] and failure["raw_payload"].endswith('[2],"queue":"g"}')


def test_kill_9_mid_move_neither_loses_nor_duplicates(procs, r, redis_server):
    from pyresque.scheduler.delayed import encode_item

    total = 20_000
    due = int(time.time()) - 50
    pipe = r.pipeline(transaction=False)
    for i in range(total):
        ts, item = due + i % 20, encode_item("Plain", [i], "q")
        pipe.rpush(f"resque:delayed:{ts}", item)
        pipe.sadd(f"resque:timestamps:{item}", f"delayed:{ts}")
    pipe.zadd("resque:delayed_queue_schedule", {str(due + k): due + k for k in range(20)})
    pipe.execute()
    first = procs.run(pyresque_cmd("scheduler", "-i", "1"), env_for(redis_server, DELAYED_REQUEUE_BATCH_SIZE="50"))
    wait_until(lambda: r.llen("resque:queue:q") > 0, 20, "the move to start", step_s=0.001)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    moved_when_killed = r.llen("resque:queue:q")
    assert 0 < moved_when_killed < total
    r.delete(LOCK)  # the dead master's lock, as its TTL would
    procs.run(pyresque_cmd("scheduler", "-i", "1"), env_for(redis_server))
    wait_until(lambda: r.llen("resque:queue:q") == total and not r.exists("resque:delayed_queue_schedule"), 60,
               "the second scheduler to finish the move")
    args = sorted(json.loads(x)["args"][0] for x in r.lrange("resque:queue:q", 0, -1))
    assert args == list(range(total))
    assert r.keys("resque:delayed:*") == [] and r.keys("resque:timestamps:*") == []


def test_the_scheduler_runs_in_the_background_with_a_pidfile(r, redis_server, tmp_path):
    """resque-scheduler's BACKGROUND and PIDFILE, as `pyresque work` has them."""
    import os
    import signal
    import subprocess

    from pyjobs_procs import env_for, pyresque_cmd
    from testsupport import wait_until

    pidfile, logfile = tmp_path / "scheduler.pid", tmp_path / "scheduler.log"
    out = subprocess.run(pyresque_cmd("scheduler", "--logfile", str(logfile)),
                         env=env_for(redis_server, BACKGROUND="1", PIDFILE=str(pidfile)),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr  # the launcher returns once detached
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile"))
    try:
        from pyjobs_procs import title

        wait_until(lambda: "Master" in title(pid), 15, "the detached scheduler to become master")
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 15, "the scheduler to stop")
    assert not pidfile.exists(), "removed at exit"
