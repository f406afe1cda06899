"""resque-retry semantics for Python jobs: counters, limits, delays, exceptions, suppression."""

from __future__ import annotations

import json

import pytest

import pyresque
from pyresque.retry import RetryPolicy, retry_identifier, ruby_join
from pyresque.worker import Worker


def drain(resque, registry, queue, fork=False):
    Worker(resque, queue, registry=registry, interval_s=0, fork_per_job=fork, handle_signals=False).work()


def test_ruby_join_and_the_key():
    assert ruby_join([1, "a b", None, [2, [3]], {"a": 1, "b": [1.5, None, 'x"y']}, True, 1e20]) == \
        '1-a b--2-3-{"a"=>1, "b"=>[1.5, nil, "x\\"y"]}-true-1.0e+20'
    assert ruby_join([{"a": 1}], ruby_version="3.4") == '{"a" => 1}'
    assert retry_identifier("Foo", []) == "Foo"
    assert retry_identifier("Foo", [""]) == "Foo"  # an empty join has no id, as in Ruby
    assert retry_identifier("My Job", [1]) == "MyJob:356a192b7913b04c54574d18c28d46e6395428ab"  # whitespace stripped


@pytest.mark.parametrize("fork", [False, True])
def test_python_gives_up_after_the_limit_and_records_one_failure(r, resque, registry, fork):
    @pyresque.job("Quick", queue="q", retry_limit=2, registry=registry)  # retry_delay 0: at once
    def quick(n):
        raise RuntimeError(f"boom {n}")

    resque.enqueue("Quick", 5)
    drain(resque, registry, "q", fork)
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["error"] == "boom 5" and r.keys("resque:resque-retry:*") == []
    assert int(r.get("resque:stat:processed")) == 3
    assert int(r.get("resque:stat:failed")) == 3, "every failed run counts, retried or not, as in Ruby"


def test_success_clears_the_counter_and_delays_go_through_the_scheduler(r, resque, registry):
    calls = []

    @pyresque.job("Flaky", queue="q", backoff=[0, 30], registry=registry)
    def flaky(n):
        calls.append(n)
        if len(calls) < 3:
            raise ValueError("not yet")

    resque.enqueue("Flaky", 1)
    drain(resque, registry, "q")  # attempt 0 fails, backoff[0] = 0: again at once; attempt 1 fails: 30 s
    key = "resque:resque-retry:" + retry_identifier("Flaky", [1])
    assert calls == [1, 1] and r.get(key) == b"1" and resque.count_all_scheduled_jobs() == 1
    (ts,) = resque.delayed_queue_peek(0, 1)
    assert resque.delayed_timestamp_peek(ts, 0, 1) == [{"class": "Flaky", "args": [1], "queue": "q"}]
    assert resque.enqueue_delayed_selection(lambda a: True) == 1
    drain(resque, registry, "q")
    assert calls == [1, 1, 1] and not r.exists(key) and r.llen("resque:failed") == 0


def test_fatal_and_retry_exceptions(r, resque, registry):
    @pyresque.job("Fatal", queue="q", retry_limit=5, fatal_exceptions=[KeyError], registry=registry)
    def fatal():
        raise KeyError("x")

    @pyresque.job("Picky", queue="q", retry_limit=5, retry_exceptions={TimeoutError: [0, 0]}, registry=registry)
    def picky():
        raise TimeoutError("slow")

    resque.enqueue("Fatal")
    resque.enqueue("Picky")
    drain(resque, registry, "q")
    errors = sorted(json.loads(x)["exception"] for x in r.lrange("resque:failed", 0, -1))
    assert errors == ["KeyError", "TimeoutError"]
    assert int(r.get("resque:stat:processed")) == 1 + 6  # Picky: the first run and 5 retries


def test_policy_is_checked_when_registered():
    with pytest.raises(ValueError):
        RetryPolicy(retry_exceptions=[ValueError], fatal_exceptions=[KeyError])
    assert RetryPolicy(backoff=[0, 1, 2]).limit == 3
    assert RetryPolicy(retry_exceptions={ValueError: [1, 2, 3, 4]}).limit == 4
    assert RetryPolicy(retry_limit=-1).limit_reached(10**6) is False


def test_inline_mode_runs_once_and_raises_as_resque_retry_does(r, redis_server, registry):
    calls = []

    @pyresque.job("InlineRetry", queue="q", retry_limit=3, registry=registry)
    def inline_retry(n):
        calls.append(n)
        raise ValueError("inline")

    inline = pyresque.Resque(redis_server, registry=registry, inline=True)
    with pytest.raises(ValueError):
        inline.enqueue("InlineRetry", 1)
    assert calls == [1] and r.keys("resque:*") == []
