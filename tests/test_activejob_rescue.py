"""Rails' retry_on/discard_on for Python ActiveJob handlers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pyresque import activejob
from pyresque.activejob import DiscardOn, RetryOn
from pyresque.worker import Worker


def drain(resque, registry, queue):
    Worker(resque, queue, registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()


def delayed_data(resque):
    items = [i for ts in resque.delayed_queue_peek(0, 100) for i in resque.delayed_timestamp_peek(ts, 0, 100)]
    return [i["args"][0] for i in items]


def test_retry_until_attempts_then_fail(r, resque, registry):
    runs = []

    @activejob.job("FlakyJob", queue="aj", registry=registry, retry_on=[RetryOn(TimeoutError, wait=0, attempts=3)])
    def flaky():
        runs.append(activejob.current_job().executions)
        raise TimeoutError("slow")

    activejob.perform_later(resque, "FlakyJob")
    drain(resque, registry, "aj")  # wait 0: Rails enqueues at once (scheduled_at = now)
    assert runs == [1, 2, 3]
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["exception"] == "TimeoutError"
    assert failure["payload"]["args"][0]["exception_executions"] == {"[TimeoutError]": 2}


def test_discard_on_ends_the_job_without_a_failure(r, resque, registry):
    @activejob.job("GoneJob", queue="aj", registry=registry, discard_on=[KeyError], retry_on=[LookupError])
    def gone():
        raise KeyError("deleted")

    activejob.perform_later(resque, "GoneJob")
    drain(resque, registry, "aj")
    assert r.llen("resque:failed") == 0 and resque.count_all_scheduled_jobs() == 0
    assert int(r.get("resque:stat:processed")) == 1


def test_a_later_rule_wins_and_waits_are_rails(r, resque, registry):
    @activejob.job("LaterJob", queue="aj", registry=registry,
                   discard_on=[DiscardOn(ValueError)],
                   retry_on=[RetryOn(ValueError, wait=timedelta(minutes=5), jitter=0, queue="slow", priority=3)])
    def later():
        raise ValueError("x")

    activejob.perform_later(resque, "LaterJob")
    drain(resque, registry, "aj")
    assert resque.count_all_scheduled_jobs() == 0  # discard_on, declared last, won

    @activejob.job("RetryJob2", queue="aj", registry=registry,
                   retry_on=[RetryOn(ValueError, wait=timedelta(minutes=5), jitter=0, queue="slow", priority=3)])
    def retry2():
        raise ValueError("x")

    activejob.perform_later(resque, "RetryJob2")
    drain(resque, registry, "aj")
    [data] = delayed_data(resque)
    assert (data["queue_name"], data["priority"], data["executions"]) == ("slow", 3, 1)
    assert resque.scheduled_at("ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper", data) == []  # queued on "slow"
    assert RetryOn(ValueError, wait="polynomially_longer", jitter=0).delay_s(2) == 18.0
    assert RetryOn(ValueError, wait=lambda n: n * 10).delay_s(3) == 30.0
    with pytest.raises(ValueError):
        RetryOn(ValueError, attempts=0)
    with pytest.raises(TypeError):
        RetryOn("ValueError")


def test_wait_until_and_set_wait_write_scheduled_at(r, resque):
    from datetime import datetime, timezone

    when = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    info = activejob.perform_later(resque, "ReportJob", 1, wait_until=when)
    assert info.scheduled_at == when
    [data] = delayed_data(resque)
    assert data["scheduled_at"] == "2030-01-02T03:04:05.123456000Z"
    assert resque.delayed_queue_peek(0, 1) == [int(when.timestamp())]
    job = activejob.RailsJob("ReportJob", queue="reports").set(wait=timedelta(minutes=5))
    later = job.perform_later(resque, 2)
    assert timedelta(minutes=4) < later.scheduled_at - later.enqueued_at <= timedelta(minutes=5)
    assert resque.delayed_queue_schedule_size() == 2
