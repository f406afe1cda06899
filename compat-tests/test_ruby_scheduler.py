"""pyresque's delayed jobs and scheduler against the real resque-scheduler 5.0.

Both directions: what Python delays, Ruby finds, removes and moves; what Ruby
delays, pyresque finds, removes and moves; Ruby and Python schedulers elect
one master on Ruby's lock and fail over after ``kill -9``.
"""

from __future__ import annotations

import json
import time


from pyresque import Resque
from pyresque.check import schema_errors
from pyresque.registry import Registry
from pyresque.scheduler.lock import lock_value
from schedside import log_of, py_scheduler, ruby_scheduler
from testsupport import wait_until
from webside import kill_hard

ARGS = [1, "é\n\"x\"", {"a": [1.5, None, True], "b": {}}, 1.0e20]


def _keys(r) -> dict[str, object]:
    """Every scheduler key with its value, for byte comparisons."""
    out: dict[str, object] = {}
    for key in sorted(k.decode() for k in r.keys("resque:*")):
        kind = r.type(key).decode()
        if kind == "list":
            out[key] = [v.decode() for v in r.lrange(key, 0, -1)]
        elif kind == "set":
            out[key] = sorted(v.decode() for v in r.smembers(key))
        elif kind == "zset":
            out[key] = [(m.decode(), s) for m, s in r.zrange(key, 0, -1, withscores=True)]
    return out


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def test_python_writes_the_bytes_ruby_writes(ruby, r, redis_server):
    ts = int(time.time()) + 3600
    ruby.eval(f'require "resque-scheduler"; Resque.enqueue_at(Time.at({ts}), Recorder, *JSON.parse({json.dumps(json.dumps(ARGS))})); '
              f'Resque.enqueue_at_with_queue("other", {ts} + 1, "Mailers::Welcome", 2); nil')
    ruby_keys = _keys(r)
    r.flushall()
    resque = Resque(redis_server, registry=Registry())
    resque.enqueue_at_with_queue("record", ts, "Recorder", *ARGS)
    resque.enqueue_at_with_queue("other", ts + 1, "Mailers::Welcome", 2)
    assert _keys(r) == ruby_keys
    assert f"resque:delayed:{ts}" in ruby_keys


def test_ruby_finds_and_removes_what_python_delayed(ruby, r, redis_server):
    registry = Registry()
    registry.register(lambda *a: None, name="Recorder", queue="record")
    resque = Resque(redis_server, registry=registry)
    resque.enqueue_in(600, "Recorder", *ARGS)
    resque.enqueue_in(1200, "Recorder", *ARGS)
    stamps = resque.scheduled_at("Recorder", *ARGS)
    code = f'require "resque-scheduler"; args = JSON.parse({json.dumps(json.dumps(ARGS))}); '
    seen = ruby.eval(code + "[Resque.delayed?(Recorder, *args), Resque.scheduled_at(Recorder, *args).sort, "
                            "Resque.count_all_scheduled_jobs, Resque.remove_delayed(Recorder, *args)]")
    assert seen == [True, stamps, 2, 2]
    assert not resque.is_delayed("Recorder", *ARGS)
    assert r.keys("resque:timestamps:*") == []


def test_python_finds_and_removes_what_ruby_delayed(ruby, r, redis_server):
    registry = Registry()
    registry.register(lambda *a: None, name="Recorder", queue="record")
    resque = Resque(redis_server, registry=registry)
    ruby.eval(f'require "resque-scheduler"; args = JSON.parse({json.dumps(json.dumps(ARGS))}); '
              "Resque.enqueue_in(600, Recorder, *args); Resque.enqueue_in(900, Recorder, 9); nil")
    assert resque.is_delayed("Recorder", *ARGS)
    assert resque.count_all_scheduled_jobs() == 2
    assert resque.find_delayed_selection(lambda args: args == [9]) == ['{"class":"Recorder","args":[9],"queue":"record"}']
    assert resque.remove_delayed("Recorder", *ARGS) == 1
    assert ruby.eval('require "resque-scheduler"; [Resque.delayed?(Recorder, 9), Resque.count_all_scheduled_jobs]') == [True, 1]


def test_python_delayed_job_moved_by_ruby_scheduler_run_by_ruby_worker(ruby, r, redis_server, procs, ruby_results):
    resque = Resque(redis_server, registry=Registry())
    resque.enqueue_in_with_queue("record", 1, "Recorder", *ARGS)
    ruby_scheduler(procs, RESQUE_SCHEDULER_INTERVAL="0.2")
    # Ruby (redis-rb 5) pushes the job before its MULTI trims the bucket: wait for both.
    wait_until(lambda: r.llen("resque:queue:record") == 1 and not r.keys("resque:delayed*"), 30,
               "Ruby's scheduler to move the job\n" + procs.logs())
    assert r.lrange("resque:queue:record", 0, -1) == [
        b'{"class":"Recorder","args":' + json.dumps(ARGS, ensure_ascii=False, separators=(",", ":")).replace("1e+20", "1.0e+20").encode() + b"}"]
    assert r.keys("resque:delayed*") == [] and r.keys("resque:timestamps:*") == []
    ruby.work("record")
    assert [x["args"] for x in ruby_results()] == [ARGS]


def test_ruby_delayed_job_moved_by_pyresque_scheduler_run_by_python_worker(ruby, r, procs, ruby_results):
    ruby.eval('require "resque-scheduler"; Resque.enqueue_in(1, Recorder, 7, "x"); nil')
    due = int(ruby.eval('require "resque-scheduler"; Resque.delayed_queue_peek(0, 1).first'))
    py_scheduler(procs)
    procs.py("record")
    results = wait_until(ruby_results, 30, "the Python worker to run the job\n" + procs.logs())
    assert results[0]["args"] == [7, "x"] and results[0]["side"] == "python"
    assert r.keys("resque:delayed*") == [] and r.keys("resque:timestamps:*") == []
    assert due <= time.time()


def test_ruby_and_python_schedulers_elect_one_master_and_fail_over(ruby, r, redis_server, procs):
    lock = "resque:resque:resque_scheduler_master_lock"
    resque = Resque(redis_server, registry=Registry())
    py = py_scheduler(procs, LOCK_TIMEOUT="3", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: r.get(lock) == f"{lock_value(py.pid)}".encode(), 20, "the Python scheduler to be master")
    rb = ruby_scheduler(procs, LOCK_TIMEOUT="3", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: "Child scheduler" in log_of(rb), 30, "Ruby's scheduler to run as a child")
    assert "Master scheduler" in _title(py.pid)  # the process title follows Ruby's
    assert "resque-scheduler-5.0.1: Master scheduler" in _title(py.pid)
    assert r.ttl(lock) <= 3

    kill_hard(py)
    resque.enqueue_in_with_queue("record", 1, "Recorder", "after python died")
    wait_until(lambda: r.get(lock) == f"{lock_value(rb.pid)}".encode(), 10, "Ruby's scheduler to take over")
    wait_until(lambda: r.llen("resque:queue:record") == 1, 10, "Ruby's scheduler, now master, to move the job")

    py2 = py_scheduler(procs, LOCK_TIMEOUT="3", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: "Child scheduler" in _title(py2.pid), 20, "the new Python scheduler to run as a child")
    kill_hard(rb)
    resque.enqueue_in_with_queue("record", 1, "Recorder", "after ruby died")
    wait_until(lambda: r.get(lock) == f"{lock_value(py2.pid)}".encode(), 10, "the Python scheduler to take over")
    wait_until(lambda: r.llen("resque:queue:record") == 2, 10, "the Python scheduler to move the job")
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:record", 0, -1)] == [
        ["after python died"], ["after ruby died"]]


def test_lock_value_and_key_match_ruby(ruby, r):
    key, value = ruby.eval('require "resque-scheduler"; l = Resque::Scheduler.send(:master_lock); '
                           "[Resque::Scheduler.send(:master_lock_key), l.value]")
    from pyresque.keys import Keys

    assert Keys("resque").master_lock() == "resque:" + key
    host, _, pid = value.rpartition(":")
    assert lock_value(int(pid)) == value
    assert schema_errors("scheduler-lock", value) == []


def _count_ticks(r, master_pid: int, seconds: float) -> tuple[int, int]:
    """(jobs enqueued, cron ticks passed) over ``seconds`` by Redis's clock,
    checking all along that the scheduler ``master_pid`` holds the lock."""
    lock = "resque:resque:resque_scheduler_master_lock"
    first_len, (first_s, _) = r.llen("resque:queue:record"), r.time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert r.get(lock) == lock_value(master_pid).encode(), "one master all along"
        time.sleep(0.2)  # sampling the lock: the window's length is the measurement
    last_len, (last_s, _) = r.llen("resque:queue:record"), r.time()
    return last_len - first_len, last_s - first_s


def test_recurring_job_enqueued_once_per_tick_with_ruby_and_python_schedulers(ruby, r, procs, tmp_path):
    schedule = tmp_path / "schedule.yml"
    schedule.write_text('every_second:\n  cron: "* * * * * *"\n  class: Recorder\n  queue: record\n  args: [tick]\n')
    py = py_scheduler(procs, "--schedule", str(schedule), LOCK_TIMEOUT="5", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: "Master scheduler" in _title(py.pid), 20, "the Python scheduler to be master")
    rb = ruby_scheduler(procs, SCHEDULE_FILE=str(schedule), LOCK_TIMEOUT="5", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: "Child scheduler" in log_of(rb), 30, "Ruby's scheduler to run as a child")
    # With both running, Python master: one job per second, neither doubled
    # (two masters) nor missing (a gap); a tick in flight at either end of the
    # window may fall on either side of it.
    jobs, ticks = _count_ticks(r, py.pid, 8)
    assert abs(jobs - ticks) <= 1, (jobs, ticks)
    assert schema_errors("last-enqueued-at", r.hget("resque:delayed:last_enqueued_at", "every_second").decode()) == []
    kill_hard(py)  # now Ruby's scheduler takes over and writes last_enqueued_at
    wait_until(lambda: "Master scheduler" in log_of(rb), 15, "Ruby's scheduler to take over")
    before = r.hget("resque:delayed:last_enqueued_at", "every_second")
    wait_until(lambda: r.hget("resque:delayed:last_enqueued_at", "every_second") != before, 10, "a tick from Ruby")
    assert schema_errors("last-enqueued-at", r.hget("resque:delayed:last_enqueued_at", "every_second").decode()) == []
    # A second Python scheduler joins as a child: Ruby, now master, still enqueues each tick once.
    py2 = py_scheduler(procs, "--schedule", str(schedule), LOCK_TIMEOUT="5", RESQUE_SCHEDULER_INTERVAL="0.5")
    wait_until(lambda: "Child scheduler" in _title(py2.pid), 20, "the new Python scheduler to run as a child")
    jobs, ticks = _count_ticks(r, rb.pid, 6)
    assert abs(jobs - ticks) <= 1, (jobs, ticks)
    # What both schedulers left (Ruby's lock, both sides' jobs and last_enqueued_at) passes pyresque check.
    from pyresque.check import check
    from pyresque.keys import Keys

    assert [p for p in check(r, Keys()) if p.severity == "error"] == []


def _jobs_with_args(r, args):
    return [x for x in r.lrange("resque:queue:record", 0, -1) if json.loads(x)["args"] == args]


def test_dynamic_schedules_set_by_python_run_on_ruby_and_the_reverse(ruby, r, redis_server, procs):
    from pyresque.scheduler.schedule import set_schedule

    resque = Resque(redis_server, registry=Registry())
    set_schedule(r, resque.layout, "from_python",
                 {"every": "1s", "class": "Recorder", "queue": "record", "args": ["py"], "persist": True})
    rb = ruby_scheduler(procs, DYNAMIC_SCHEDULE="true", RESQUE_SCHEDULER_INTERVAL="0.2")
    wait_until(lambda: _jobs_with_args(r, ["py"]), 30, "Ruby's scheduler to run Python's dynamic schedule")
    # Ruby pushes the job first and writes last_enqueued_at just after it.
    wait_until(lambda: r.hget("resque:delayed:last_enqueued_at", "from_python") is not None, 5,
               "Ruby's scheduler to record when it ran Python's schedule")
    kill_hard(rb)
    r.delete("resque:resque:resque_scheduler_master_lock")  # the dead master's, as its TTL would

    ruby.eval('require "resque-scheduler"; Resque.set_schedule("from_ruby", '
              '{"every" => "1s", "class" => "Recorder", "queue" => "record", "args" => ["rb"], "persist" => true}); nil')
    py_scheduler(procs, "-D")
    wait_until(lambda: _jobs_with_args(r, ["rb"]), 30, "pyresque's scheduler to run Ruby's dynamic schedule")
    from_ruby = json.loads(r.hget("resque:persistent_schedules", "from_ruby"))
    assert from_ruby == {"every": "1s", "class": "Recorder", "queue": "record", "args": ["rb"]}
    assert schema_errors("schedule-config", from_ruby) == []


def test_a_ruby_write_wakes_the_pyresque_scheduler(ruby, r, procs):
    # A 60 s interval: only the wake-up on Ruby's ZADD can make the move prompt.
    py = py_scheduler(procs, "-i", "60")
    wait_until(lambda: "Master scheduler" in _title(py.pid), 20, "the Python scheduler to be master")
    due = int(ruby.eval('require "resque-scheduler"; t = Time.now.to_i + 2; Resque.enqueue_at(Time.at(t), Recorder, "woken"); t'))
    wait_until(lambda: r.llen("resque:queue:record") == 1, 10, "the job Ruby delayed to be moved", step_s=0.001)
    assert time.time() - due < 1.0


def test_delay_or_enqueue_both_ways(ruby, r, redis_server):
    registry = Registry()
    registry.register(lambda *a: None, name="Recorder", queue="record")
    resque = Resque(redis_server, registry=registry)
    t1, t2 = int(time.time()) + 600, int(time.time()) + 1200
    ruby.eval(f'require "resque-scheduler"; 2.times {{ Resque.enqueue_at(Time.at({t1}), Recorder, 5) }}; nil')
    assert resque.delay_or_enqueue_at(t2, "Recorder", 5) == 2
    assert ruby.eval(f'require "resque-scheduler"; [Resque.scheduled_at(Recorder, 5), Resque.delayed_timestamp_size({t2})]') \
        == [[t2], 2]
    ruby.eval(f'require "resque-scheduler"; Resque.delay_or_enqueue_at(Time.at({t1}), Recorder, 5); nil')
    assert resque.scheduled_at("Recorder", 5) == [t1] and resque.delayed_timestamp_size(t1) == 2


def test_an_item_that_is_not_json_kills_rubys_scheduler_but_not_pyresques(ruby, r, redis_server, procs):
    def plant():
        r.rpush("resque:delayed:5", "not json", '{"class":"Recorder","args":[1],"queue":"record"}')
        r.zadd("resque:delayed_queue_schedule", {"5": 5})

    plant()
    rb = ruby_scheduler(procs, RESQUE_SCHEDULER_INTERVAL="0.2", LOCK_TIMEOUT="2")
    assert rb.wait(60) != 0  # Ruby's scheduler exits on the item (SPEC §9.3)
    assert "JSON" in log_of(rb) or "ParserError" in log_of(rb) or "unexpected token" in log_of(rb)
    assert r.llen("resque:delayed:5") == 2  # and moves nothing
    wait_until(lambda: not r.exists("resque:resque:resque_scheduler_master_lock"), 10, "its lock to expire")

    py = py_scheduler(procs)
    wait_until(lambda: r.llen("resque:queue:record") == 1, 20, "pyresque's scheduler to move the good item")
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["raw_payload"] == "not json" and schema_errors("failure-record", failure) == []
    assert py.poll() is None and not r.exists("resque:delayed:5")
