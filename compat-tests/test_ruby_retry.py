"""resque-retry semantics for Python jobs against the real resque-retry 1.8.1.

resque-retry 1.8.1 needs resque < 3, so its Ruby side runs with
ruby-fixtures/Gemfile.retry (resque 2.7, resque-scheduler 4.11).
"""

from __future__ import annotations

import json

import pytest

import pyresque
from pyresque.check import schema_errors
from pyresque.retry import retry_identifier
from pyresque.worker import Worker
from rubyside import FIXTURES

RETRY_GEMS = {"BUNDLE_GEMFILE": str(FIXTURES / "Gemfile.retry")}
ARGS = [1, "a b", {"k": [1.5, None, True], "s": "x\"y\n"}, [2, [3]], None, 1.0e20]


@pytest.fixture(scope="module", autouse=True)
def retry_gems(ruby_available):
    """resque-retry's gems (Gemfile.retry) load, or the module skips (fails in CI)."""
    import os
    import subprocess

    probe = subprocess.run(["bundle", "exec", "ruby", "-e", 'require "resque-retry"'], cwd=FIXTURES,
                           env=dict(os.environ, **RETRY_GEMS), capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        message = ("resque-retry's gems are not installed: "
                   "`cd ruby-fixtures && BUNDLE_GEMFILE=Gemfile.retry bundle install` (dev/setup does it)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def ruby_retry_eval(ruby, code):
    return json.loads(ruby.run("eval.rb", stdin='require_relative "lib/retry_jobs"; ' + code, **RETRY_GEMS).stdout)


def test_retry_key_is_resque_retrys(ruby):
    key = ruby_retry_eval(ruby, f"RetryJob.redis_retry_key(*JSON.parse({json.dumps(json.dumps(ARGS))}))")
    assert key == "resque-retry:" + retry_identifier("RetryJob", ARGS)
    assert ruby_retry_eval(ruby, "RetryJob.redis_retry_key") == "resque-retry:" + retry_identifier("RetryJob", [])


@pytest.fixture
def retry_job(registry):
    @pyresque.job("RetryJob", queue="retry", retry_limit=3, retry_delay=1, registry=registry)
    def retry_job(*args):
        raise ValueError("python fails too")

    return retry_job


def run_due_now(resque):
    """Run the delayed retry now, as the scheduler would once it is due."""
    return resque.enqueue_delayed_selection(lambda args: True)


def test_one_attempt_counter_across_ruby_and_python_workers(ruby, r, resque, registry, retry_job, ruby_results):
    key = "resque:resque-retry:" + retry_identifier("RetryJob", ARGS)
    failure_key = "resque:failure-resque-retry:" + retry_identifier("RetryJob", ARGS)
    resque.enqueue_to("retry", "RetryJob", *ARGS)

    def python_runs_one():
        Worker(resque, "retry", registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()

    python_runs_one()  # attempt 0 fails: retried in 1 s, no failure recorded
    assert (r.get(key), r.llen("resque:failed"), resque.count_all_scheduled_jobs()) == (b"0", 0, 1)
    assert r.get("resque:stat:failed") == b"1", "a retried run still counts as failed"
    details = json.loads(r.get(failure_key))
    assert (details["exception"], details["error"], details["payload"]["class"]) == ("ValueError", "python fails too", "RetryJob")
    assert 0 < r.ttl(failure_key) <= 2

    assert run_due_now(resque) == 1
    ruby.run("work_retry.rb", QUEUES="retry", **RETRY_GEMS)  # attempt 1, in Ruby: retried again
    assert (r.get(key), r.llen("resque:failed"), resque.count_all_scheduled_jobs()) == (b"1", 0, 1)
    assert r.get("resque:stat:failed") == b"2", "Ruby counts its retried run the same way"
    ruby_details = json.loads(r.get(failure_key))
    assert (ruby_details["exception"], ruby_details["payload"]["args"]) == ("ArgumentError", ARGS)
    assert schema_errors("retry-failure", ruby_details) == [] and schema_errors("retry-failure", details) == []
    assert list(details) == list(ruby_details)  # the same fields in the same order
    assert ruby_results()[0]["args"] == ARGS

    assert run_due_now(resque) == 1
    python_runs_one()  # attempt 2
    assert (r.get(key), r.llen("resque:failed"), resque.count_all_scheduled_jobs()) == (b"2", 0, 1)

    assert run_due_now(resque) == 1
    ruby.run("work_retry.rb", QUEUES="retry", **RETRY_GEMS)  # attempt 3 = the limit: Ruby gives up
    assert not r.exists(key) and not r.exists(failure_key)
    assert resque.count_all_scheduled_jobs() == 0
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert (failure["exception"], failure["payload"]["args"]) == ("ArgumentError", ARGS)
    assert (r.get("resque:stat:failed"), r.get("resque:stat:processed")) == (b"4", b"4")


@pytest.fixture(scope="module")
def retry_web(ruby_available, redis_server):
    from webside import ResqueWeb

    with ResqueWeb(redis_server, config=FIXTURES / "config" / "web_retry.rb", env=RETRY_GEMS).running() as server:
        yield server


def test_resque_webs_retry_tab_shows_python_retries(retry_web, r, resque, registry, retry_job):
    from webside import text_of

    resque.enqueue_to("retry", "RetryJob", 7, "x")
    Worker(resque, "retry", registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()
    (ts,) = resque.delayed_queue_peek(0, 1)
    page = text_of(retry_web.get("/retry"))
    assert 'RetryJob [7, "x"] 0' in page, page[:2000]  # class, args, retry attempts
    detail = text_of(retry_web.get(f"/retry/{ts}"))
    assert 'RetryJob [7, "x"] 0 ValueError python fails too' in detail, detail[:2000]
