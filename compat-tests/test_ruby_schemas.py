"""What real Ruby Resque writes fits pyresque's protocol schemas, and passes pyresque check.

The same schemas judge pyresque's own output (tests/test_protocol_vectors.py),
so a schema that is too strict or too loose shows up on one side or the other.
"""

from __future__ import annotations

import json
from typing import Any

import redis as redis_py

from pyresque.check import check, format_problems, schema_errors
from pyresque.keys import Keys
from rubyside import ruby_failure_fields
from testsupport import wait_until

K = Keys()
RELEASE_KEY = "pyresque-test:release-waiter"


def members(r: redis_py.Redis, key: str) -> list[str]:
    return sorted(m.decode() for m in r.smembers(key))


def assert_clean(r: redis_py.Redis) -> None:
    problems = check(r, K)
    assert problems == [], format_problems(problems)


def test_ruby_enqueued_payloads_fit_the_schema(ruby: Any, r: redis_py.Redis) -> None:
    arg_lists: list[list[Any]] = [
        [],
        [1, "two", 3.0, None, True, False],
        [{"nested": {"list": [1, [2, [3]]]}, "é": "😀\u2028"}],
        [2**70, -0.0, 1e20, 1e-5, 0.1],
    ]
    for args in arg_lists:
        text = ruby.enqueue("record", "Recorder", args)
        assert schema_errors("job-payload", json.loads(text)) == [], text
    text = ruby.enqueue("mail", "Mailers::Welcome", [42])
    assert schema_errors("job-payload", json.loads(text)) == []
    assert_clean(r)


def test_a_ruby_worker_mid_job_fits_the_schemas(ruby: Any, r: redis_py.Redis) -> None:
    ruby.enqueue("record", "Waiter", [RELEASE_KEY, 1])
    proc = ruby.spawn("work.rb", QUEUES="record")
    try:
        def busy_worker() -> str | None:
            for wid in members(r, K.workers):
                if r.get(K.worker(wid)):
                    return wid
            return None

        wid = wait_until(busy_worker, 60, "the Ruby worker to start the Waiter job")
        assert schema_errors("worker-id", wid) == []
        record = json.loads(r.get(K.worker(wid)))
        assert schema_errors("worker-record", record) == [], record
        assert list(record) == ["queue", "run_at", "payload"]
        started = r.get(K.worker_started(wid)).decode()
        assert schema_errors("worker-started", started) == [], started
        beat = r.hget(K.heartbeat, wid).decode()
        assert schema_errors("heartbeat", beat) == [], beat
        assert_clean(r)
    finally:
        r.set(RELEASE_KEY, "1")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert_clean(r)


def test_ruby_failure_records_fit_the_schema(ruby: Any, r: redis_py.Redis) -> None:
    ruby.enqueue("record", "Exploder", [1, "x"])
    ruby.work("record")
    [raw] = r.lrange(K.failed, 0, -1)
    record = json.loads(raw)
    assert schema_errors("failure-record", record) == [], record
    assert list(record) == ruby_failure_fields()
    assert record["exception"] == "ArgumentError"
    assert int(r.get(K.failed_stat())) == 1 and int(r.get(K.processed_stat())) == 1
    assert_clean(r)

    ruby.eval("Resque::Failure.requeue(0); true")
    retried = json.loads(r.lindex(K.failed, 0))
    assert "retried_at" in retried
    assert schema_errors("failure-record", retried) == [], retried
    assert_clean(r)


def test_ruby_multi_queue_failures_fit_the_schema(ruby: Any, r: redis_py.Redis) -> None:
    ruby.enqueue("record", "Exploder", [2])
    ruby.work("record", FAILURE_BACKEND="redis_multi_queue")
    assert members(r, K.failed_queues) == ["record_failed"]
    [raw] = r.lrange(K.failed_list("record_failed"), 0, -1)
    assert schema_errors("failure-record", json.loads(raw)) == []
    ruby.run("eval.rb", stdin='Resque::Failure.requeue(0, "record_failed"); true', FAILURE_BACKEND="redis_multi_queue")
    retried = json.loads(r.lindex(K.failed_list("record_failed"), 0))
    assert schema_errors("failure-record", retried) == [], retried
    assert_clean(r)


def test_ruby_scheduler_delayed_items_pass_the_check(ruby: Any, r: redis_py.Redis) -> None:
    ruby.eval(
        'require "resque-scheduler"; '
        'Resque.enqueue_at_with_queue("record", Time.now + 3600, Recorder, 1, "a"); '
        'Resque.enqueue_in(7200, Recorder, 2.5); true'
    )
    delayed = [k.decode() for k in r.scan_iter(match=K.prefix + "delayed:*")]
    assert len(delayed) == 2
    for key in delayed:
        for raw in r.lrange(key, 0, -1):
            assert schema_errors("delayed-item", json.loads(raw)) == [], raw
    assert_clean(r)
