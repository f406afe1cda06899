"""The worker in this process, draining its queues (``interval_s=0``).

Stats, registration records, state during a job, failure records and job
hooks, in both execution modes, against a real redis-server. Ruby rules:
resque-protocol-notes.md §3.2 (lifecycle), §4.1 (records), §5 (stats),
§6.5 (hooks).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from pyresque import DontPerform, Resque
from pyresque.worker import Worker
from testsupport import wait_until

HOST = socket.gethostname()
FAILED_AT = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S+"
FIELDS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]


class CustomError(Exception):
    pass


def stat(r, name):
    v = r.get(f"resque:stat:{name}")
    return int(v) if v is not None else 0


def failures(r, key="resque:failed"):
    return [json.loads(x) for x in r.lrange(key, 0, -1)]


def assert_unregistered(r, wid):
    assert r.smembers("resque:workers") == set()
    assert not r.exists(f"resque:worker:{wid}", f"resque:worker:{wid}:started",
                        f"resque:stat:processed:{wid}", f"resque:stat:failed:{wid}")
    assert not r.hexists("resque:workers:heartbeat", wid)


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_drain_runs_everything_counts_by_ruby_rules_and_unregisters(r, resque, registry, fork):
    ran = []

    @registry.register
    def Ok(n):
        r.rpush("t:ran", n)

    @registry.register
    def Bad(n):
        raise CustomError(f"bad {n}")

    for i in range(3):
        resque.enqueue_to("q", "Ok", i)
    for i in range(2):
        resque.enqueue_to("q", "Bad", i)
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork)
    seen = {}

    def on_empty():
        # Runs before unregister: the per-worker stats still exist here.
        seen["processed"] = stat(r, f"processed:{worker.id}")
        seen["failed"] = stat(r, f"failed:{worker.id}")
        seen["registered"] = r.sismember("resque:workers", worker.id)
        seen["started"] = r.get(f"resque:worker:{worker.id}:started")
        seen["beat"] = r.hget("resque:workers:heartbeat", worker.id)

    registry.add_worker_hook("queue_empty", on_empty)
    t0 = time.monotonic()
    worker.work()
    assert time.monotonic() - t0 < 10, "interval 0 drains and returns"
    assert worker.id == f"{HOST}:{worker.pid}:q"
    assert sorted(r.lrange("t:ran", 0, -1)) == [b"0", b"1", b"2"]
    assert stat(r, "processed") == 5 and stat(r, "failed") == 2
    assert seen["processed"] == 5 and seen["failed"] == 2 and seen["registered"]
    assert re.fullmatch(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", seen["started"])
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", seen["beat"])
    assert [f["error"] for f in failures(r)] == ["bad 0", "bad 1"]
    assert r.llen("resque:queue:q") == 0
    assert_unregistered(r, worker.id)


def test_state_during_a_job_is_what_resque_web_reads(r, resque, registry):
    @registry.register
    def Hold(tag):
        r.rpush("t:started", tag)
        wait_until(lambda: r.exists("t:release"), 30, "release")

    resque.enqueue_to("q", "Hold", "a")
    worker = Worker(resque, ["q", "*", "!skip*"], interval_s=0, registry=registry, fork_per_job=False)
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: r.llen("t:started"), 10, "the job to start")
        wid = f"{HOST}:{worker.pid}:q,*"
        assert worker.id == wid
        assert r.smembers("resque:workers") == {wid.encode()}
        record = r.get(f"resque:worker:{wid}").decode()
        m = re.fullmatch(r'\{"queue":"q","run_at":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)",'
                         r'"payload":\{"class":"Hold","args":\["a"\]\}\}', record)
        assert m, record
        run_at = time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert abs(run_at - time.time()) < 5
        started = r.get(f"resque:worker:{wid}:started").decode()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", started)
        beat = r.hget("resque:workers:heartbeat", wid).decode()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", beat)
        from datetime import datetime
        server_now, _ = r.time()
        assert abs(datetime.fromisoformat(beat).timestamp() - server_now) < 5
    finally:
        r.set("t:release", 1)
        thread.join(30)
    assert not thread.is_alive()
    assert_unregistered(r, wid)


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_failure_record_fields_names_and_backtrace(r, resque, registry, fork):
    @registry.register
    def Builtin(x):
        raise KeyError(x)

    @registry.register
    def Custom(x):
        raise CustomError(f"custom {x}")

    resque.enqueue_to("q", "Builtin", "k")
    resque.enqueue_to("q", "Custom", 1)
    resque.enqueue_to("q", "Missing", 2)
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail")
    worker.work()
    raws = r.lrange("resque:failed", 0, -1)
    assert len(raws) == 3
    recs = [json.loads(x) for x in raws]
    for rec in recs:
        assert list(rec) == FIELDS + ["failure_id"]
        assert re.fullmatch(FAILED_AT, rec["failed_at"]), rec["failed_at"]
        assert rec["worker"] == worker.id and rec["queue"] == "q"
        assert isinstance(rec["backtrace"], list) and all(isinstance(x, str) for x in rec["backtrace"])
        assert not any("/pyresque/" in line for line in rec["backtrace"]), rec["backtrace"]
    builtin, custom, missing = recs
    assert builtin["payload"] == {"class": "Builtin", "args": ["k"]}
    assert (builtin["exception"], builtin["error"]) == ("KeyError", "'k'")
    assert builtin["backtrace"] and "test_worker_drain.py" in builtin["backtrace"][0]
    assert re.fullmatch(r".+test_worker_drain\.py:\d+:in `Builtin'", builtin["backtrace"][0])
    assert custom["exception"] == f"{CustomError.__module__}.CustomError"
    assert custom["error"] == "custom 1"
    assert missing["exception"] == "pyresque.UnknownJob" and "Missing" in missing["error"]
    assert missing["payload"] == {"class": "Missing", "args": [2]}
    assert stat(r, "failed") == 3 and stat(r, "processed") == 3


def test_redis_multi_queue_backend_writes_per_queue_lists(r, redis_server, registry):
    resque = Resque(redis_server, registry=registry, failure_backend="redis_multi_queue")

    @registry.register
    def Bad():
        raise ValueError("x")

    resque.enqueue_to("alpha", "Bad")
    resque.enqueue_to("beta", "Bad")
    Worker(resque, ["alpha", "beta"], interval_s=0, registry=registry, fork_per_job=False).work()
    assert r.smembers("resque:failed_queues") == {b"alpha_failed", b"beta_failed"}
    assert [f["queue"] for f in failures(r, "resque:alpha_failed")] == ["alpha"]
    assert [f["queue"] for f in failures(r, "resque:beta_failed")] == ["beta"]
    assert not r.exists("resque:failed")


BAD_PAYLOADS = [
    b'{"class":"Ok","args":[1]',                   # truncated JSON
    b'{"class":"Ok","args":[NaN]}',                # NaN is not JSON
    b'["Ok",[1]]',                                  # not an object
    b'"Ok"',
    b'42',
    b'{"args":[1]}',                                # no class
    b'{"class":7,"args":[]}',                       # class not a string
    b'{"class":"","args":[]}',
    b'{"class":"Ok","args":{"a":1}}',               # args not a list
    b'{"class":"Ok","args":"x"}',
    b'  {"class" : "Ok" , "args" : 1 }  ',          # odd spacing, kept byte for byte
]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_bad_payloads_become_failures_and_the_worker_goes_on(r, resque, registry, fork):
    @registry.register
    def Ok(*args):
        r.rpush("t:ran", json.dumps(list(args)))

    for raw in BAD_PAYLOADS:
        r.rpush("resque:queue:q", raw)
    r.rpush("resque:queue:q", b'{"class":"Ok"}', b'{"class":"Ok","args":null}',
            b'{"class":"Unregistered","args":[1]}', b'{"class":"Ok","args":["\xff"]}',
            b'{"class":"Ok","args":[2]}')
    r.sadd("resque:queues", "q")
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail")
    worker.work()
    # Ruby runs a job with missing or null args with no arguments.
    assert [json.loads(x) for x in r.lrange("t:ran", 0, -1)] == [[], [], [2]]
    recs = failures(r)
    assert len(recs) == len(BAD_PAYLOADS) + 2
    for raw, rec in zip(BAD_PAYLOADS, recs):
        assert list(rec)[:7] == FIELDS
        assert rec["exception"] == "pyresque.MalformedPayload", rec
        assert rec["raw_payload"] == raw.decode(), "the queued text is kept byte for byte"
        assert rec["payload"] is None or isinstance(rec["payload"], dict)
        assert rec["worker"] == worker.id and rec["queue"] == "q"
    assert recs[8]["payload"] == {"class": "Ok", "args": {"a": 1}}
    assert recs[2]["payload"] is None
    unknown, bad_utf8 = recs[-2:]
    assert unknown["exception"] == "pyresque.UnknownJob" and "raw_payload" not in unknown
    assert bad_utf8["exception"] == "pyresque.MalformedPayload", bad_utf8
    assert "UTF-8" in bad_utf8["error"] or "utf-8" in bad_utf8["error"]
    total = len(BAD_PAYLOADS) + 5
    assert stat(r, "processed") == total
    assert stat(r, "failed") == len(BAD_PAYLOADS) + 2
    assert r.llen("resque:queue:q") == 0
    assert_unregistered(r, worker.id)


def test_job_hooks_with_resque_meanings(r, resque, registry):
    events = []

    @registry.register
    class Hooked:
        @staticmethod
        def before_perform_check(mode):
            events.append(("before", mode))
            if mode == "skip":
                raise DontPerform()

        @staticmethod
        def around_perform_a(mode):
            events.append(("around_a_in", mode))
            if mode == "no-yield":
                return
            yield
            events.append(("around_a_out", mode))

        @staticmethod
        def around_perform_b(mode):
            events.append(("around_b_in", mode))
            yield
            events.append(("around_b_out", mode))

        @staticmethod
        def perform(mode):
            events.append(("perform", mode))
            if mode == "fail":
                raise RuntimeError("failed on purpose")

        @staticmethod
        def after_perform_log(mode):
            events.append(("after", mode))

        @staticmethod
        def on_failure_note(exc, mode):
            events.append(("on_failure", type(exc).__name__, str(exc), mode))

    # Generators are hooks only when their body yields; the no-yield branch
    # must still make around_perform_a a generator function.
    for mode in ("ok", "skip", "no-yield", "fail"):
        resque.enqueue_to("q", "Hooked", mode)
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False).work()
    by_mode = {m: [e[:1] + e[2:-1] if e[0] == "on_failure" else e[0] for e in events if e[-1] == m]
               for m in ("ok", "skip", "no-yield", "fail")}
    assert by_mode["ok"] == ["before", "around_a_in", "around_b_in", "perform", "around_b_out", "around_a_out", "after"]
    assert by_mode["skip"] == ["before"], "DontPerform skips the job and the other hooks"
    # A non-yielding around hook skips the job; Resque still calls after_perform.
    assert by_mode["no-yield"] == ["before", "around_a_in", "after"]
    assert by_mode["fail"][:4] == ["before", "around_a_in", "around_b_in", "perform"]
    assert "after" not in by_mode["fail"]
    assert [e for e in events if e[0] == "on_failure"] == [("on_failure", "RuntimeError", "failed on purpose", "fail")]
    # A DontPerform job counts as processed, not failed.
    assert stat(r, "processed") == 4 and stat(r, "failed") == 1
    assert [f["exception"] for f in failures(r)] == ["RuntimeError"]


def test_worker_hooks_in_process(r, resque, registry):
    events = []

    @registry.register
    def Ok():
        events.append("job")

    for kind in ("before_first_fork", "before_fork", "after_fork", "queue_empty", "worker_exit"):
        registry.add_worker_hook(kind, lambda *a, kind=kind: events.append(kind))
    registry.add_worker_hook("before_first_fork", lambda w: events.append(("bff_registered", r.sismember("resque:workers", w.id))))
    resque.enqueue_to("q", "Ok")
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False)
    worker.work()
    # before_first_fork runs before registration; no fork hooks without forking.
    assert events == ["before_first_fork", ("bff_registered", False), "job", "queue_empty", "worker_exit"]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_failing_job_with_a_huge_int_argument_is_recorded_as_it_failed(r, resque, registry, fork):
    # Ruby has no digit limit; Python's int<->str has one (4300 digits) by default.
    huge = (10**5000 - 1) // 9 * 7  # 5000 sevens

    @registry.register
    def Big(n):
        raise ValueError("too big")

    resque.enqueue_to("q", "Big", huge)
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork).work()
    [raw] = r.lrange("resque:failed", 0, -1)
    assert b'"exception":"ValueError","error":"too big"' in raw, raw[:200] + raw[-300:]
    assert b'"args":[' + b"7" * 5000 + b"]" in raw
    assert stat(r, "failed") == 1


def test_skip_patterns_are_not_worked_and_not_in_the_id(r, resque, registry):
    ran = []
    registry.register(lambda q: ran.append(q), name="Where")
    for q in ("high", "low", "logs"):
        resque.enqueue_to(q, "Where", q)
    worker = Worker(resque, ["*", "!lo*"], interval_s=0, registry=registry, fork_per_job=False)
    worker.work()
    assert worker.id.endswith(":*")
    assert ran == ["high"]
    assert r.llen("resque:queue:low") == 1 and r.llen("resque:queue:logs") == 1


def test_the_heartbeat_keeps_beating_during_a_long_job(r, resque, registry):
    @registry.register
    def Long():
        r.hdel("resque:workers:heartbeat", worker.id)
        wait_until(lambda: r.hexists("resque:workers:heartbeat", worker.id), 10, "a new beat during the job")

    resque.enqueue_to("q", "Long")
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False, heartbeat_interval_s=0.05)
    worker.work()
    assert stat(r, "processed") == 1 and stat(r, "failed") == 0


def test_a_worker_that_fails_to_start_leaves_nothing_behind(r, resque, registry):
    exits = []

    def explode(worker):
        raise RuntimeError("cannot start")

    registry.add_worker_hook("before_first_fork", explode)
    registry.add_worker_hook("worker_exit", lambda: exits.append(True))
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False)
    import signal as signal_mod
    before = signal_mod.getsignal(signal_mod.SIGTERM)
    with pytest.raises(RuntimeError, match="cannot start"):
        worker.work()
    # As Ruby's "Failed to start worker": unregistered, worker_exit hooks run.
    assert exits == [True]
    assert_unregistered(r, worker.id)
    assert r.hlen("resque:workers:heartbeat") == 0
    assert signal_mod.getsignal(signal_mod.SIGTERM) is before


HOSTILE_PAYLOADS = [
    b"[" * 100_000,                                            # deeper than any parser's recursion limit
    b'{"class":"Ok","args":' + b"[" * 100_000 + b"]}",
    b'{"class":"Ok","args":[' + b"[" * 5_000 + b"]" * 5_000 + b"]}",
    b'{"class":"Ok","args":[' + b'{"k":' * 600 + b"1" + b"}" * 600 + b"]}",
    b'{"class":"Ok","args":["\\ud800"]}',                       # a lone surrogate
    b'{"class":"Ok","args":[' + b"9" * 300_000 + b"]",         # 300,000 digits, truncated
]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_hostile_payloads_become_failures_and_the_worker_survives(r, resque, registry, fork):
    @registry.register
    def Ok(*args):
        r.rpush("t:ran", json.dumps(args[:1]))

    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", *HOSTILE_PAYLOADS, b'{"class":"Ok","args":["after"]}')
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork)
    worker.work()
    assert r.lrange("t:ran", 0, -1) == [b'["after"]']
    recs = failures(r)
    assert [rec["exception"] for rec in recs] == ["pyresque.MalformedPayload"] * len(HOSTILE_PAYLOADS)
    assert [rec["raw_payload"].encode() for rec in recs] == HOSTILE_PAYLOADS
    assert all(rec["payload"] is None and list(rec)[:7] == FIELDS for rec in recs)
    assert "nested deeper than 512 levels" in recs[0]["error"]
    assert stat(r, "processed") == len(HOSTILE_PAYLOADS) + 1
    assert stat(r, "failed") == len(HOSTILE_PAYLOADS)
    assert_unregistered(r, worker.id)


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_nul_in_the_class_name_is_a_failure_and_the_worker_survives(r, resque, registry, fork):
    # The class name reaches the process title, where a NUL used to raise.
    @registry.register
    def Ok(*args):
        r.rpush("t:ran", json.dumps(list(args)))

    registry.register(lambda: r.rpush("t:ran", "registered nul"), name="Reg\0istered")
    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q",
            b'{"class":"Nul\\u0000Job","args":[1]}',    # escaped: a valid payload of an unknown class
            b'{"class":"\\u0000","args":[]}',
            b'{"class":"Nul\x00Job","args":[1]}',       # a raw NUL is not JSON
            b'{"class":"Reg\\u0000istered","args":[]}',
            b'{"class":"Ok","args":["after"]}')
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail")
    worker.work()
    assert r.lrange("t:ran", 0, -1) == [b"registered nul", b'["after"]']
    unknown, only_nul, raw_nul = failures(r)
    assert (unknown["exception"], unknown["payload"]) == ("pyresque.UnknownJob", {"class": "Nul\0Job", "args": [1]})
    assert "Nul\\x00Job" in unknown["error"] and "raw_payload" not in unknown
    assert (only_nul["exception"], only_nul["payload"]) == ("pyresque.UnknownJob", {"class": "\0", "args": []})
    assert raw_nul["exception"] == "pyresque.MalformedPayload"
    assert raw_nul["raw_payload"] == '{"class":"Nul\x00Job","args":[1]}'
    assert stat(r, "processed") == 5 and stat(r, "failed") == 3
    assert_unregistered(r, worker.id)


def test_stats_count_every_record_of_a_reserved_payload_but_not_dirty_exits(r, resque, registry):
    """The counting rule (protocol/SPEC.md §8), in fork mode, where a child can die.

    A failure record made for a payload the worker reserved counts in
    stat:processed and stat:failed, malformed payloads and unknown classes
    included (Ruby counts a class it cannot find, a NameError, the same way).
    A job skipped by DontPerform is processed, not failed. A child killed by
    a signal is a dirty exit: processed, recorded, not counted as failed.
    """
    import os
    import signal

    @registry.register
    def Ok():
        pass

    @registry.register
    def Raises():
        raise CustomError("raised")

    @registry.register
    def Killed():
        os.kill(os.getpid(), signal.SIGKILL)

    @registry.register
    class Skipped:
        @staticmethod
        def before_perform_skip():
            raise DontPerform()

        @staticmethod
        def perform():
            raise AssertionError("skipped jobs do not run")

    for name in ("Ok", "Raises", "Unknown", "Killed", "Skipped"):
        resque.enqueue_to("q", name)
    r.rpush("resque:queue:q", b"not json")
    worker = Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=True, unknown_jobs="fail")
    mine = {}
    registry.add_worker_hook("queue_empty", lambda: mine.update(
        processed=stat(r, f"processed:{worker.id}"), failed=stat(r, f"failed:{worker.id}")))
    worker.work()
    assert [f["exception"] for f in failures(r)] == [
        f"{CustomError.__module__}.CustomError", "pyresque.UnknownJob", "Resque::DirtyExit", "pyresque.MalformedPayload"]
    assert (stat(r, "processed"), stat(r, "failed")) == (6, 3)
    assert mine == {"processed": 6, "failed": 3}


@pytest.mark.parametrize("count", [3, 40, 9000], ids=["few", "many", "past-lua-unpack-slices"])
def test_many_queues_are_worked_in_priority_order(r, resque, registry, count):
    # next_job.lua finds the first queue with a job by halving the list
    # (EXISTS over slices); order must be exactly the queue list's.
    @registry.register
    def Note(name):
        r.rpush("t:ran", name)

    names = [f"q{i:04d}" for i in range(count)]
    holding = [names[-1], names[count // 2], names[1]]
    for name in holding:
        for _ in range(2):
            resque.enqueue_to(name, "Note", name)
    worker = Worker(resque, names, registry=registry, interval_s=0, fork_per_job=False)
    worker.work()
    ran = [x.decode() for x in r.lrange("t:ran", 0, -1)]
    assert ran == [n for n in sorted(holding) for _ in range(2)]
    assert stat(r, "processed") == 6 and failures(r) == []


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_star_worker_records_a_failure_on_a_queue_whose_name_is_not_utf8(r, resque, registry, fork):
    @registry.register
    def Boom():
        raise RuntimeError("boom")

    r.sadd("resque:queues", b"bad\xff")
    r.rpush(b"resque:queue:bad\xff", b'{"class":"Boom","args":[]}')
    Worker(resque, ["*"], interval_s=0, registry=registry, fork_per_job=fork).work()
    [record] = failures(r)
    # JSON cannot carry the name's bytes: resque-web and Ruby read U+FFFD, as they show it.
    assert (record["exception"], record["queue"]) == ("RuntimeError", "bad\ufffd")
    assert r.llen(b"resque:queue:bad\xff") == 0 and stat(r, "processed") == 1 and stat(r, "failed") == 1
