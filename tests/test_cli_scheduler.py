"""``pyresque enqueue --in/--at``, ``delayed ...`` and ``schedule ...`` as an operator runs them."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
from datetime import datetime, timezone

import pytest

from pyjobs_procs import env_for, pyresque_cmd, stop
from pyresque.config import SchedulerSettings
from testsupport import wait_until


def run(redis_url, *args):
    return subprocess.run(pyresque_cmd(*args), env=env_for(redis_url), capture_output=True, text=True, timeout=30)


def test_enqueue_in_and_at_then_list_show_remove(r, redis_server):
    before = int(time.time())
    out = run(redis_server, "enqueue", "--in", "10m", "q", "Archive", "1", '"main"', "--json")
    assert out.returncode == 0, out.stderr
    assert before + 600 <= json.loads(out.stdout)["at"] <= int(time.time()) + 600
    assert run(redis_server, "enqueue", "--at", "2030-01-01T09:00:00+01:00", "q", "Archive", "2").returncode == 0
    listed = json.loads(run(redis_server, "delayed", "list", "--json").stdout)
    assert [row["count"] for row in listed] == [1, 1] and listed[1]["timestamp"] == 1893484800
    shown = json.loads(run(redis_server, "delayed", "show", "1893484800", "--json").stdout)
    assert shown == [{"class": "Archive", "args": [2], "queue": "q"}]
    removed = run(redis_server, "delayed", "remove", "Archive", "1", '"main"', "--queue", "q", "--json")
    assert json.loads(removed.stdout) == {"removed": 1}
    now = run(redis_server, "delayed", "enqueue-now", "Archive", "2", "--queue", "q")
    assert now.returncode == 0 and r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Archive","args":[2]}']
    assert run(redis_server, "delayed", "remove", "Archive", "2", "--queue", "q").returncode == 1  # nothing left


def test_bad_input_is_one_line_and_a_non_zero_exit(r, redis_server, tmp_path):
    bad_schedule = tmp_path / "s.yml"
    bad_schedule.write_text("a:\n  cron: 'nope'\n  class: A\n  queue: q\n")
    for args in (["enqueue", "--in", "10 minutes", "q", "A"],
                 ["enqueue", "--at", "tomorrow", "q", "A"],
                 ["enqueue", "--in", "1e400", "q", "A"],           # infinity
                 ["enqueue", "--in", "nan", "q", "A"],
                 ["enqueue", "--in", "99999999999d", "q", "A"],    # the year 273,792,727
                 ["enqueue", "--at", "9999-12-31T23:00:00-10:00", "q", "A"],  # the year 10000 in UTC
                 ["delayed", "show", "soon"],
                 ["delayed", "remove", "A"],
                 ["schedule", "list", "--schedule", str(bad_schedule)],
                 ["schedule", "list", "--schedule", str(tmp_path / "missing.yml")]):
        out = run(redis_server, *args)
        assert out.returncode != 0, args
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, (args, out.stderr)
    assert r.keys("resque:*") == []


def test_enqueue_at_a_past_time_says_it_enqueued_now(r, redis_server):
    """Ruby's enqueue_at (and pyresque's) enqueues a job whose time has passed at
    once; the line must say so, not "delayed ... until" a time gone by."""
    out = run(redis_server, "enqueue", "--at", "2020-01-01T00:00:00+00:00", "q", "Archive", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("enqueued Archive to q now: its time, ") and "has passed" in out.stdout
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Archive","args":[1]}']
    assert r.keys("resque:delayed*") == []
    out = run(redis_server, "enqueue", "--at", "2020-01-01T00:00:00+00:00", "q", "Archive", "2", "--json")
    assert json.loads(out.stdout) == {"queue": "q", "class": "Archive", "args": [2], "at": 1577836800, "delayed": False}
    out = run(redis_server, "enqueue", "--in", "1h", "q", "Archive", "3", "--json")
    assert json.loads(out.stdout)["delayed"] is True and r.zcard("resque:delayed_queue_schedule") == 1


def test_schedule_list_shows_next_runs(r, redis_server, tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("nightly:\n  cron: '0 3 * * * UTC'\n  class: Nightly\n  queue: n\n  description: at three\n")
    out = run(redis_server, "schedule", "list", "--schedule", str(f), "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["name"] == "nightly" and row["description"] == "at three"
    nxt = datetime.fromisoformat(row["next_run"]).astimezone(timezone.utc)
    assert (nxt.hour, nxt.minute, nxt.second) == (3, 0, 0) and 0 < nxt.timestamp() - time.time() <= 86400
    assert row["last_enqueued_at"] is None


def test_an_entry_without_a_queue_needs_a_registered_class(r, redis_server, tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("beat:\n  every: 30s\n  class: Heartbeat\n")
    out = run(redis_server, "schedule", "list", "--schedule", str(f))
    assert out.returncode == 1 and "Heartbeat is not registered" in out.stderr
    jobs = tmp_path / "beatjobs.py"
    jobs.write_text("import pyresque\n\n@pyresque.job('Heartbeat', queue='monitoring')\ndef beat(): ...\n")
    env = env_for(redis_server, PYTHONPATH=f"{tmp_path}:{env_for(redis_server)['PYTHONPATH']}")
    out = subprocess.run(pyresque_cmd("schedule", "list", "--schedule", str(f), "--import", "beatjobs", "--json"),
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["queue"] == "monitoring"


@pytest.mark.parametrize("env, flags, names", [
    ({"LOCK_TIMEOUT": "0"}, [], "LOCK_TIMEOUT"),             # EXPIRE 0 would drop the lock at once
    ({"LOCK_TIMEOUT": "1.5"}, [], "LOCK_TIMEOUT"),
    ({"LOCK_TIMEOUT": "abc"}, [], "LOCK_TIMEOUT"),
    ({"RESQUE_SCHEDULER_INTERVAL": "nan"}, [], "RESQUE_SCHEDULER_INTERVAL"),
    ({"RESQUE_SCHEDULER_INTERVAL": "inf"}, [], "RESQUE_SCHEDULER_INTERVAL"),  # would never poll
    ({"RESQUE_SCHEDULER_INTERVAL": "0"}, [], "RESQUE_SCHEDULER_INTERVAL"),    # would spin
    ({"RESQUE_SCHEDULER_INTERVAL": "soon"}, [], "RESQUE_SCHEDULER_INTERVAL"),
    ({"RESQUE_SCHEDULER_INTERVAL": "60", "LOCK_TIMEOUT": "30"}, [], "LOCK_TIMEOUT"),  # the lock lapses between passes
    ({"DELAYED_REQUEUE_BATCH_SIZE": "0"}, [], "DELAYED_REQUEUE_BATCH_SIZE"),
    ({}, ["-i", "nan"], "--interval"),
])
def test_bad_scheduler_settings_are_one_line_and_exit_2(r, redis_server, env, flags, names):
    out = subprocess.run(pyresque_cmd("scheduler", *flags), env=env_for(redis_server, **env),
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("pyresque: error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert names in out.stderr
    assert r.keys("*") == []  # it never started: no lock taken


def test_the_library_refuses_a_lock_timeout_below_a_second_with_its_own_error(r):
    from pyresque.errors import WorkerError
    from pyresque.keys import Keys
    from pyresque.scheduler.lock import MasterLock

    for bad in (0, 0.5, float("nan"), float("inf"), None):
        with pytest.raises(WorkerError, match="LOCK_TIMEOUT"):
            MasterLock(r, Keys(), timeout_s=bad)


@pytest.mark.parametrize("value, on", [
    ("1", True), ("true", True), ("yes", True), ("Y", True), ("enabled", True),  # on, as rake resque:scheduler
    ("0", False), ("false", False), ("FALSE", False), ("no", False), ("off", False), ("", False),  # Ruby: on
])
def test_dynamic_schedule_and_verbose_are_on_when_set_unless_they_say_off(value, on):
    s = SchedulerSettings.from_env({"DYNAMIC_SCHEDULE": value, "VERBOSE": value})
    assert s.dynamic is on and (s.log_level == logging.DEBUG) is on
    # Where rake resque:scheduler would read it differently, the scheduler says so.
    assert len(s.notes) == (0 if on else 2)


def test_dynamic_schedule_false_is_off_and_says_ruby_reads_it_as_on(procs, r, redis_server, resque, tmp_path):
    from pyresque.scheduler.schedule import set_schedule

    log = tmp_path / "scheduler.log"
    off = procs.run(pyresque_cmd("scheduler", "-i", "0.2", "-l", str(log)), env_for(redis_server, DYNAMIC_SCHEDULE="false"))
    read = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    text = wait_until(lambda: "Schedule empty!" in read() and read(), 20, "the scheduler to load its schedule")
    assert "DYNAMIC_SCHEDULE='false' is read as off; rake resque:scheduler reads any value" in text
    # Off: a schedule set while it runs is not picked up. A delayed job set
    # after it shows a pass went by (a dynamic master reads the changes first).
    set_schedule(r, resque.layout, "beat", {"every": "1s", "class": "Beat", "queue": "beat", "persist": True})
    resque.enqueue_in_with_queue("later", 1, "Later")
    wait_until(lambda: r.llen("resque:queue:later"), 20, "the scheduler to move the delayed job")
    assert r.smembers("resque:schedules_changed") == {b"beat"} and r.llen("resque:queue:beat") == 0
    stop(off, signal.SIGTERM)
    yes = procs.run(pyresque_cmd("scheduler", "-i", "0.2"), env_for(redis_server, DYNAMIC_SCHEDULE="yes"))
    wait_until(lambda: r.llen("resque:queue:beat"), 20, "the schedule in Redis to run")
    # On: one changed while it runs is picked up.
    set_schedule(r, resque.layout, "beat2", {"every": "1s", "class": "Beat", "queue": "beat2", "persist": True})
    wait_until(lambda: r.llen("resque:queue:beat2"), 20, "DYNAMIC_SCHEDULE=yes to pick up a new schedule")
    stop(yes, signal.SIGTERM)


def test_a_schedule_kept_in_redis_runs_without_dynamic_schedule_as_in_ruby(procs, r, redis_server, resque):
    # Ruby's Resque.schedule merges persistent_schedules in at every start;
    # DYNAMIC_SCHEDULE only decides whether later changes are picked up.
    from pyresque.scheduler.schedule import set_schedule

    set_schedule(r, resque.layout, "beat", {"every": "1s", "class": "Beat", "queue": "beat", "persist": True})
    procs.run(pyresque_cmd("scheduler", "-i", "0.2"), env_for(redis_server))
    wait_until(lambda: r.llen("resque:queue:beat"), 20, "the schedule kept in Redis to run")


def test_the_scheduler_persists_the_file_entries_marked_persist(procs, r, redis_server, tmp_path):
    """Ruby's `Resque.schedule = YAML.load_file(...)` makes `persist: true` entries
    dynamic schedules; so does starting `pyresque scheduler --schedule` (compat:
    compat-tests/test_ruby_scheduler_config.py compares the bytes with Ruby's)."""
    f = tmp_path / "s.yml"
    f.write_text("beat:\n  every: 30s\n  queue: h\n  persist: true\nfile_only:\n  every: 1h\n  class: F\n  queue: f\n")
    procs.run(pyresque_cmd("scheduler", "--schedule", str(f)), env_for(redis_server))
    stored = wait_until(lambda: r.hgetall("resque:persistent_schedules"), 20, "the schedule to be persisted")
    assert stored == {b"beat": b'{"every":"30s","queue":"h","class":"beat"}'}
    out = run(redis_server, "schedule", "list", "--json")  # without the file: it is a dynamic schedule now
    assert [row["name"] for row in json.loads(out.stdout)] == ["beat"]
    out = run(redis_server, "schedule", "list", "--schedule", str(f), "--json")  # with it: listed once
    assert sorted(row["name"] for row in json.loads(out.stdout)) == ["beat", "file_only"]
