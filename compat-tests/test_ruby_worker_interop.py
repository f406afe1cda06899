"""The Python worker next to real Ruby Resque 3.0.3 workers (issue #3).

Every worker here is a real process: ``python -m pyresque work`` with the
jobs of pyjobs_worker.py, and ``Resque::Worker`` from ruby-fixtures/. Ruby
is the judge of what a worker looks like (``Resque::Worker.all``,
``Resque.working``, ``Resque.info``), of pruning and of failure records.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from pyresque.queues import QueueList
from rubyside import ruby_failure_fields
from testsupport import wait_until
from webside import HERE, HOST, ROOT, kill_hard, stop, worker_id

RELEASE = "pyresque-test:release"
GATE = "pyresque-test:gate"
LOCK = "resque:pruning_dead_workers_in_progress"


def drain_py(redis_server: str, queues: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``pyresque work -i 0`` until ``queues`` are empty."""
    full = dict(os.environ, REDIS_URL=redis_server, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    for name in ("RESQUE_NAMESPACE", "FAILURE_BACKEND", "QUEUES", "QUEUE"):
        full.pop(name, None)
    full.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "pyresque", "work", "-q", queues, "-i", "0", "--import", "pyjobs_worker"],
        cwd=str(HERE), env=full, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def results(r) -> list[dict]:
    return [json.loads(x) for x in r.lrange("pyresque-test:ruby-results", 0, -1)]


def registered(r) -> set[str]:
    return {m.decode() for m in r.smembers("resque:workers")}


def failures(r) -> list[dict]:
    return [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]


def busy(r, wid: str):
    return r.get(f"resque:worker:{wid}")


# Ruby enqueues, Python works -----------------------------------------------
def test_python_worker_runs_ruby_enqueued_jobs(ruby, r, redis_server):
    ruby.enqueue("record", "Recorder", [1, "two", {"three": [3.5]}, None, True])
    ruby.enqueue("mail", "Mailers::Welcome", [42, {"locale": "de"}])
    drain_py(redis_server, "record,mail")
    seen = results(r)
    assert [(s["class"], s["args"], s["side"]) for s in seen] == [
        ("Recorder", [1, "two", {"three": [3.5]}, None, True], "python"),
        ("Mailers::Welcome", [42, {"locale": "de"}], "python"),
    ]
    info = ruby.eval("Resque.info.slice(:processed, :failed, :pending, :workers, :working)")
    assert info == {"processed": 2, "failed": 0, "pending": 0, "workers": 0, "working": 0}


# What Ruby sees of a busy Python worker --------------------------------------
RUBY_VIEW = """
Resque::Worker.all.sort_by(&:to_s).map do |w|
  {
    "id" => w.to_s, "host" => w.hostname, "pid" => w.pid, "state" => w.state.to_s,
    "working" => w.working?, "idle" => w.idle?, "job" => w.job,
    "started" => w.started, "started_parsed" => (Time.parse(w.started).to_i rescue nil),
    "heartbeat" => w.heartbeat&.to_i, "processed" => w.processed, "failed" => w.failed,
    "find" => Resque::Worker.find(w.to_s)&.to_s,
  }
end.then do |all|
  {"all" => all, "working" => Resque.working.map(&:to_s).sort,
   "working_jobs" => Resque.working.sort_by(&:to_s).map(&:job),
   "info" => Resque.info.reject { |k, _| k == :servers }}
end
"""


def test_ruby_sees_a_busy_python_worker_as_it_sees_a_ruby_one(ruby, r, procs):
    # Two jobs done (one failed), then a long one in progress, on each side.
    r.set(GATE, "")  # Flaky fails while the gate is empty
    py = procs.py("record")
    rb = procs.ruby("mail")
    py_id, rb_id = worker_id(py, "record"), worker_id(rb, "mail")
    wait_until(lambda: {py_id, rb_id} <= registered(r), 30, "both workers to register")
    ruby.eval('Resque.enqueue_to("record", "Recorder", 1); Resque.enqueue_to("record", "Exploder", 2);'
              'Resque.enqueue_to("mail", "Recorder", 1); Resque.enqueue_to("mail", "Exploder", 2); true')
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) == 4, 30, "four jobs to be processed")
    ruby.eval(f'Resque.enqueue_to("record", "Waiter", "{RELEASE}", "py"); '
              f'Resque.enqueue_to("mail", "Waiter", "{RELEASE}", "rb"); true')
    wait_until(lambda: busy(r, py_id) and busy(r, rb_id), 30, "both workers to be busy")
    view = ruby.eval(RUBY_VIEW)
    r.set(RELEASE, "1")

    by_id = {w["id"]: w for w in view["all"]}
    assert set(by_id) == {py_id, rb_id}
    py_w, rb_w = by_id[py_id], by_id[rb_id]
    assert (py_w["host"], py_w["pid"]) == (HOST, py.pid)
    for w, queue, tag in ((py_w, "record", "py"), (rb_w, "mail", "rb")):
        assert w["state"] == "working" and w["working"] and not w["idle"]
        assert w["job"]["queue"] == queue
        assert w["job"]["payload"] == {"class": "Waiter", "args": [RELEASE, tag]}
        assert list(w["job"]) == ["queue", "run_at", "payload"]
        assert w["started_parsed"] is not None
        assert w["heartbeat"] is not None and abs(w["heartbeat"] - time.time()) < 120
        assert (w["processed"], w["failed"]) == (2, 1)
        assert w["find"] == w["id"]
    # Same formats on both sides, not merely parsable ones.
    run_at = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    started = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$")
    assert run_at.match(py_w["job"]["run_at"]) and run_at.match(rb_w["job"]["run_at"])
    assert started.match(py_w["started"]) and started.match(rb_w["started"])
    assert view["working"] == sorted([py_id, rb_id])
    assert view["info"] == {"pending": 0, "processed": 4, "queues": 2, "workers": 2, "working": 2,
                            "failed": 2, "environment": "development"}
    hb = {k.decode(): v.decode() for k, v in r.hgetall("resque:workers:heartbeat").items()}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", hb[py_id]), hb
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", hb[rb_id]), hb

    # The failure records differ only where the languages must.
    records = {f["worker"]: f for f in failures(r)}
    # Ruby 3.0 writes no failure_id; pyresque writes 3.2's (compat-tests/test_resque32.py).
    assert list(records[rb_id]) == ruby_failure_fields()
    assert list(records[py_id]) == ruby_failure_fields()[:7] + ["failure_id"]
    assert records[py_id]["exception"].endswith("ArgumentError")
    assert records[py_id]["error"] == "exploded with [2]"
    assert records[py_id]["backtrace"] and all(":in `" in line for line in records[py_id]["backtrace"])

    # Quitting unregisters every trace, as Ruby does.
    wait_until(lambda: not busy(r, py_id) and not busy(r, rb_id), 30, "jobs to finish")
    assert stop(py) == 0
    stop(rb)
    assert not registered(r)
    leftovers = sorted(k.decode() for k in r.keys("resque:*") if py_id.encode() in k or rb_id.encode() in k)
    assert leftovers == []
    assert r.hkeys("resque:workers:heartbeat") == []


# Draining one queue together -------------------------------------------------
def test_ruby_and_python_workers_share_a_queue_exactly_once(ruby, r, procs):
    py = procs.py("record")
    rb = procs.ruby("record")
    ids = [worker_id(py, "record"), worker_id(rb, "record")]
    wait_until(lambda: set(ids) <= registered(r), 30, "both workers to register")
    ruby.eval('300.times { |i| Resque.enqueue_to("record", "Recorder", i) }; true')
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) >= 300, 90, "300 jobs to be processed")
    per_worker = [int(r.get(f"resque:stat:processed:{i}") or 0) for i in ids]
    seen = results(r)
    assert sorted(s["args"][0] for s in seen) == list(range(300))
    assert sum(per_worker) == 300
    assert all(n > 0 for n in per_worker), per_worker
    assert sum(1 for s in seen if s.get("side") == "python") == per_worker[0]
    assert int(r.get("resque:stat:processed")) == 300
    assert r.get("resque:stat:failed") is None
    assert ruby.eval("Resque.info[:processed]") == 300
    assert r.llen("resque:queue:record") == 0


def test_a_python_worker_on_every_queue_leaves_ruby_only_jobs_to_the_ruby_worker(ruby, r, procs):
    """The default --unknown-jobs requeue: no failure, each job run once, by Ruby."""
    py = procs.py("*")
    py_id = worker_id(py, "*")
    wait_until(lambda: py_id in registered(r), 30, "the Python worker to register")
    ruby.eval('20.times { |i| Resque.enqueue_to("record", "RubyOnly", i); Resque.enqueue_to("record", "Recorder", i) }; true')
    wait_until(lambda: int(r.get(f"resque:stat:processed:{py_id}") or 0) >= 20, 60, "Python to run the Recorder jobs")
    assert r.llen("resque:failed") == 0, "Python failed none of Ruby's jobs"
    # Each is back on the queue (one may be in the Python worker's hands a moment at a time).
    wait_until(lambda: sorted(json.loads(x)["args"][0] for x in r.lrange("resque:queue:record", 0, -1))
               == list(range(20)), 30, "the RubyOnly jobs to be back on the queue")
    rb = procs.ruby("record")
    rb_id = worker_id(rb, "record")
    wait_until(lambda: sum(1 for s in results(r) if s.get("class") == "RubyOnly") == 20, 90, "Ruby to run RubyOnly")
    ruby_only = [s["args"][0] for s in results(r) if s.get("class") == "RubyOnly"]
    assert sorted(ruby_only) == list(range(20)), "each once"
    wait_until(lambda: int(r.get(f"resque:stat:processed:{rb_id}") or 0) == 20, 30, "Ruby to count them")
    assert int(r.get(f"resque:stat:processed:{py_id}")) == 20 and r.llen("resque:failed") == 0


# Pruning, with real processes --------------------------------------------------
def start_waiting(r, procs, side: str, queues: str, tag: str, ruby) -> tuple[subprocess.Popen, str]:
    """A worker of ``side`` busy with a Waiter job on queue ``record``."""
    proc = procs.py(queues) if side == "python" else procs.ruby(queues)
    wid = worker_id(proc, queues)
    wait_until(lambda: wid in registered(r), 30, f"{side} worker to register")
    ruby.eval(f'Resque.enqueue_to("record", "Waiter", "{RELEASE}", "{tag}"); true')
    wait_until(lambda: busy(r, wid), 30, f"{side} worker to take the job")
    # worker:<id> is written at reserve; wait until the job itself has begun.
    wait_until(lambda: any(s["args"] == [tag] for s in results(r)), 30, f"{side} worker to start the job")
    return proc, wid


@pytest.mark.parametrize("ruby_queues", ["record", "*"])
def test_ruby_never_prunes_a_live_python_worker(ruby, r, procs, ruby_queues):
    py, py_id = start_waiting(r, procs, "python", "record", "live", ruby)
    r.delete(LOCK)
    ruby.work(ruby_queues)  # starts up (and prunes), drains nothing, exits
    assert r.get(LOCK) is not None, "the Ruby worker did not get to prune"
    assert py_id in registered(r)
    assert busy(r, py_id)
    assert failures(r) == []
    r.set(RELEASE, "1")
    wait_until(lambda: not busy(r, py_id), 30, "the job to finish")
    assert stop(py) == 0
    assert [s["args"] for s in results(r)] == [["live"]]


def test_python_never_prunes_a_live_ruby_worker(ruby, r, procs, redis_server):
    rb, rb_id = start_waiting(r, procs, "ruby", "record", "live", ruby)
    r.delete(LOCK)
    drain_py(redis_server, "*")
    assert r.get(LOCK) is not None
    assert rb_id in registered(r) and busy(r, rb_id)
    assert failures(r) == []
    r.set(RELEASE, "1")
    wait_until(lambda: not busy(r, rb_id), 30, "the job to finish")


def assert_dirty_exit(r, wid: str, exception: str, error: str) -> None:
    assert wid not in registered(r)
    assert busy(r, wid) is None
    assert r.hget("resque:workers:heartbeat", wid) is None
    [record] = failures(r)
    # Ruby 3.0 stops at queue; pyresque adds Resque 3.2's failure_id after it.
    assert list(record)[:7] == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    assert list(record)[7:] in ([], ["failure_id"])
    assert record["payload"]["class"] == "Waiter"
    assert (record["exception"], record["error"], record["backtrace"]) == (exception, error, [])
    assert (record["worker"], record["queue"]) == (wid, "record")
    assert r.get("resque:stat:failed") is None  # a dirty exit is not counted, as in Ruby


@pytest.mark.parametrize("ruby_queues", ["record", "*"])
def test_ruby_prunes_a_killed_python_worker_and_fails_its_job(ruby, r, procs, ruby_queues):
    py, py_id = start_waiting(r, procs, "python", "record", "doomed", ruby)
    kill_hard(py)
    # The job is not lost: it sits in worker:<id> until someone prunes.
    assert json.loads(busy(r, py_id))["payload"] == {"class": "Waiter", "args": [RELEASE, "doomed"]}
    r.delete(LOCK)
    ruby.work(ruby_queues)
    assert_dirty_exit(r, py_id, "Resque::DirtyExit", "Job still being processed")
    # And Ruby can retry it.
    r.set(RELEASE, "1")
    ruby.eval("Resque::Failure.requeue(0); true")
    ruby.work("record")
    assert [s["args"] for s in results(r)] == [["doomed"], ["doomed"]]


@pytest.mark.parametrize("py_queues", ["record", "*"])
def test_python_prunes_a_killed_ruby_worker_and_fails_its_job(ruby, r, procs, redis_server, py_queues):
    rb, rb_id = start_waiting(r, procs, "ruby", "record", "doomed", ruby)
    kill_hard(rb)
    r.delete(LOCK)
    drain_py(redis_server, py_queues)
    assert_dirty_exit(r, rb_id, "Resque::DirtyExit", "Job still being processed")


def test_a_killed_python_worker_is_failed_by_the_next_python_worker(ruby, r, procs, redis_server):
    py, py_id = start_waiting(r, procs, "python", "record", "doomed", ruby)
    kill_hard(py)
    r.delete(LOCK)
    drain_py(redis_server, "record")
    assert_dirty_exit(r, py_id, "Resque::DirtyExit", "Job still being processed")
    # Ruby reads the record Python wrote as its own.
    [seen] = ruby.eval("Resque::Failure.all(0, 1).then { |f| f.is_a?(Array) ? f : [f] }")
    assert seen["worker"] == py_id and seen["exception"] == "Resque::DirtyExit"


def age_heartbeat(r, wid: str, seconds: int = 400) -> None:
    now = r.time()[0] - seconds
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    r.hset("resque:workers:heartbeat", wid, stamp)


@pytest.mark.parametrize("pruner", ["ruby", "python"])
@pytest.mark.parametrize("victim", ["ruby", "python"])
def test_a_stale_heartbeat_is_pruned_by_both_sides(ruby, r, procs, redis_server, pruner, victim):
    proc, wid = start_waiting(r, procs, victim, "record", "stale", ruby)
    kill_hard(proc)
    age_heartbeat(r, wid)
    r.delete(LOCK)
    # A worker on other queues: only the heartbeat rule can prune the victim.
    if pruner == "ruby":
        ruby.work("elsewhere")
    else:
        drain_py(redis_server, "elsewhere")
    assert_dirty_exit(r, wid, "Resque::PruneDeadWorkerDirtyExit",
                      f"Worker {wid} did not gracefully exit while processing Waiter")


def test_a_fresh_heartbeat_on_other_queues_is_left_alone(ruby, r, procs, redis_server):
    """Dead, but on other queues and with a recent heartbeat: neither side may prune it yet."""
    py, py_id = start_waiting(r, procs, "python", "record", "x", ruby)
    kill_hard(py)
    r.delete(LOCK)
    ruby.work("elsewhere")
    r.delete(LOCK)
    drain_py(redis_server, "elsewhere")
    assert py_id in registered(r) and busy(r, py_id)
    assert failures(r) == []


# Queue resolution ------------------------------------------------------------
EXISTING = ["zeta", "alpha", "critical", "Beta", ".dot", "file_a", "file_b", "low"]
PATTERNS = [["*"], ["critical", "*"], ["*", "critical"], ["notthere", "*"], ["critical", "notthere"],
            ["*", "!low"], ["!low", "*"], ["file_*", "low", "*"], ["{alpha,zeta}"], [".dot"], [".*"],
            ["?eta"], ["[a-c]*"], ["*a*", "!file_*"], ["low", "critical"]]


def test_dynamic_queue_resolution_agrees_with_ruby(ruby, r):
    for name in EXISTING:
        r.sadd("resque:queues", name)
    code = f"""
    pats = JSON.parse({json.dumps(json.dumps(PATTERNS))})
    pats.map {{ |p| Resque::Worker.new(*p).queues }}
    """
    expected = ruby.eval(code)
    got = [QueueList(p).resolve(EXISTING) for p in PATTERNS]
    assert dict(zip(map(tuple, PATTERNS), got)) == dict(zip(map(tuple, PATTERNS), expected))


# Local time zones ----------------------------------------------------------------
@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "Asia/Tehran"])
def test_times_are_written_in_the_local_zone_exactly_as_ruby_writes_them(ruby, r, procs, tz):
    """started, heartbeat and failed_at are local times; run_at is UTC. Same bytes' shape on both sides."""
    py = procs.py("record", TZ=tz)
    rb = procs.ruby("mail", TZ=tz)
    py_id, rb_id = worker_id(py, "record"), worker_id(rb, "mail")
    wait_until(lambda: {py_id, rb_id} <= registered(r), 30, "both workers to register")
    ruby.eval('Resque.enqueue_to("record", "Exploder", 1); Resque.enqueue_to("mail", "Exploder", 1); true')
    wait_until(lambda: r.llen("resque:failed") == 2, 30, "both failures")

    def zone_part(text: str) -> str:
        return text[19:]  # everything after "YYYY-MM-DD HH:MM:SS"

    started = {w: r.get(f"resque:worker:{w}:started").decode() for w in (py_id, rb_id)}
    beats = {w: r.hget("resque:workers:heartbeat", w).decode() for w in (py_id, rb_id)}
    failed_at = {f["worker"]: f["failed_at"] for f in failures(r)}
    assert zone_part(started[py_id]) == zone_part(started[rb_id]), started
    assert zone_part(beats[py_id]) == zone_part(beats[rb_id]), beats
    assert zone_part(failed_at[py_id]) == zone_part(failed_at[rb_id]), failed_at
    # And Ruby reads Python's values back to the same instants it wrote itself.
    code = f"""
    ids = {json.dumps([py_id, rb_id])}
    failed = Resque::Failure.all(0, 2).to_h {{ |f| [f["worker"], f["failed_at"]] }}
    ids.map do |id|
      w = Resque::Worker.find(id)
      [Time.parse(w.started).to_i, w.heartbeat.to_i, DateTime.parse(failed[id]).to_time.to_i]
    end
    """
    (py_started, py_beat, py_failed), (rb_started, rb_beat, rb_failed) = ruby.eval(code)
    now = time.time()
    for value in (py_started, py_beat, py_failed, rb_started, rb_beat, rb_failed):
        assert abs(value - now) < 60, (value, now)


# File.fnmatch corner cases: every (pattern, name) pair, judged by Ruby.
FN_NAMES = [".dot", "a/b", "a.b", "[x]", "x]", "[", "[]x]", "[a", "back\\slash", "star*", "é", "ü-x", "Beta", "alpha",
            "-", "a-b", "!bang", "^caret", "", "a", ".", "..x", "ab", "b", "z", "m", "\\"]
FN_PATTERNS = ["*", "[.]dot", "\\.dot", "?dot", "*dot", ".*", "[!a]*", "[^a]*", "[]a]*", "[]]", "[]x]", "\\*",
               "star\\*", "*\\*", "a\\", "\\", "[a-]*", "[z-a]*", "[z-a]", "[a-c]", "*/*", "a?b", "**", "[", "[a",
               "[\\]]", "[x]", "\\[x]", "[[]x]", "back\\\\slash", "[é]", "[à-ü]*", "?", "[!]*", "[!]", "[^]",
               "[-a]*", "[a-b-c]", "!bang", "[!!]*", "[\\!]bang", "a[.]b", "a[/]b", "*.*", "[!.]*", "a\\b",
               "[a\\-c]*", "[^]a]*", "{a,b}", "a{", "*{*", "[a-", "[a-\\", "[\\", "*a*b", "*\\", "?*", "*?", "\\\\"]


def test_fnmatch_corner_cases_agree_with_ruby(ruby):
    from pyresque.queues import fnmatch

    code = f"""
    names = JSON.parse({json.dumps(json.dumps(FN_NAMES))})
    pats = JSON.parse({json.dumps(json.dumps(FN_PATTERNS))})
    pats.map {{ |p| names.select {{ |n| File.fnmatch(p, n) }} }}
    """
    expected = dict(zip(FN_PATTERNS, ruby.eval(code)))
    got = {p: [n for n in FN_NAMES if fnmatch(p, n)] for p in FN_PATTERNS}
    assert {p: v for p, v in got.items() if v != expected[p]} == {p: v for p, v in expected.items() if v != got[p]}


QUEUES_STRINGS = ["a,,b", " a , b ", "a,b,", "a,b,,", ",a", "a, ,b", "*,,!low", " * ", "low,*,"]


def test_queues_strings_give_rubys_worker_id_and_queues(ruby, r):
    """QUEUES is split as Ruby splits it: empty entries stay (but trailing ones go)."""
    for name in ["a", "b", "low", "other", ""]:
        r.sadd("resque:queues", name)
    code = f"""
    JSON.parse({json.dumps(json.dumps(QUEUES_STRINGS))}).map do |text|
      w = Resque::Worker.new(*text.split(","))
      [w.to_s.split(":", 3)[2], w.queues]
    end
    """
    expected = ruby.eval(code)
    existing = [m.decode() for m in r.smembers("resque:queues")]
    got = []
    for text in QUEUES_STRINGS:
        q = QueueList.parse(text)
        got.append([q.id_part, q.resolve(existing)])
    assert dict(zip(QUEUES_STRINGS, got)) == dict(zip(QUEUES_STRINGS, expected))


@pytest.mark.parametrize("namespace", ["resque", "app:ns"])
def test_an_idle_python_worker_wakes_for_ruby_enqueues_in_its_namespace(r, procs, redis_server, namespace, ruby_available):
    """60 s interval: only the wake-up on Ruby's SADD/RPUSH can start these jobs in time."""
    from rubyside import ruby_failure_fields, Ruby

    rb = Ruby(redis_server, namespace=None if namespace == "resque" else namespace)
    py = procs.py("record,mail", interval="60", RESQUE_NAMESPACE=namespace)
    wid = worker_id(py, "record,mail")
    wait_until(lambda: r.sismember(f"{namespace}:workers", wid), 30, "the worker to register")
    t0 = time.monotonic()
    rb.eval('Resque.enqueue_to("mail", "Mailers::Welcome", 1); Resque.enqueue_to("record", "Recorder", 2); true')
    wait_until(lambda: len(results(r)) == 2, 20, "both jobs to run")
    assert sorted(s["args"][0] for s in results(r)) == [1, 2]
    assert time.monotonic() - t0 < 20


# What perform receives for every shape of "args" ------------------------------------
@pytest.mark.parametrize("raw", [
    '{"class":"Recorder","args":[[1],{"x":null}]}',
    '{"class":"Recorder"}',
    '{"class":"Recorder","args":null}',
])
def test_python_jobs_receive_the_args_ruby_jobs_receive(raw, ruby, r, redis_server):
    seen = {}
    for side in ("ruby", "python"):
        r.delete("pyresque-test:ruby-results", "resque:failed")
        r.sadd("resque:queues", "record")
        r.rpush("resque:queue:record", raw)
        if side == "ruby":
            ruby.work("record")
        else:
            drain_py(redis_server, "record")
        seen[side] = ([s["args"] for s in results(r)], [f["error"] for f in failures(r)])
    assert seen["python"] == seen["ruby"]


@pytest.mark.parametrize("raw", [
    '{"class":"Recorder","args":{"a":1,"b":[2]}}',
    '{"class":"Recorder","args":"str"}',
    '{"class":"Recorder","args":5}',
])
def test_non_list_args_are_a_failure_record_in_python_where_ruby_splats_them(raw, ruby, r, redis_server):
    """A deliberate divergence: Ruby calls perform(*args), so a Hash arrives as
    [[k, v], ...] and a scalar as [x], which no client means to send. pyresque
    does not guess: the job becomes a failure record with its raw payload,
    which can be inspected, fixed and retried."""
    r.sadd("resque:queues", "record")
    r.rpush("resque:queue:record", raw)
    ruby.work("record")
    assert len(results(r)) == 1  # Ruby ran it, splatted
    r.delete("pyresque-test:ruby-results")
    r.rpush("resque:queue:record", raw)
    drain_py(redis_server, "record")
    assert results(r) == []
    [rec] = failures(r)
    assert rec["exception"] == "pyresque.MalformedPayload"
    assert rec["error"].startswith('payload "args" is a JSON ')
    assert rec["raw_payload"] == raw
