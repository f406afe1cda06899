"""ActiveJob ``wait:``/``wait_until:`` through resque-scheduler, both ways, against activejob 7.2."""

from __future__ import annotations

import json
import re
import time

from pyresque import activejob
from pyresque.scheduler.loop import Scheduler
from pyresque.worker import Worker
from schedside import ruby_scheduler
from testsupport import wait_until

LOAD = 'require File.expand_path("lib/active_jobs"); require "resque-scheduler"; '


def delayed_items(r):
    out = []
    for ts in r.zrange("resque:delayed_queue_schedule", 0, -1):
        out += [(int(ts), x.decode()) for x in r.lrange(f"resque:delayed:{ts.decode()}", 0, -1)]
    return out


def normalized(raw):
    raw = re.sub(r'"job_id":"[0-9a-f-]{36}"', '"job_id":"ID"', raw)
    return re.sub(r'"(enqueued_at|scheduled_at)":"[0-9T:.-]{29}Z"', r'"\1":"AT"', raw)


def test_python_wait_writes_what_rails_wait_writes_and_ruby_runs_it(ruby, r, resque, procs, ruby_results):
    ruby.eval(LOAD + 'ArgsReportJob.set(wait: 600).perform_later(5, "x"); nil')
    [(ruby_ts, ruby_item)] = delayed_items(r)
    r.flushall()
    before = time.time()
    info = activejob.perform_later(resque, "ArgsReportJob", 5, "x", queue="aj_ruby", wait=600)
    [(ts, item)] = delayed_items(r)
    assert normalized(item) == normalized(ruby_item)
    data = json.loads(item)["args"][0]
    assert int(before) + 600 <= ts <= int(time.time()) + 600 and abs(ts - ruby_ts) <= 5
    assert data["scheduled_at"] > data["enqueued_at"] and info.scheduled_at is not None

    # Due now: Ruby's scheduler moves it, a Ruby worker with ActiveJob runs it.
    r.flushall()
    info = activejob.perform_later(resque, "ArgsReportJob", 5, "x", queue="aj_ruby", wait=1)
    ruby_scheduler(procs, RESQUE_SCHEDULER_INTERVAL="0.2")
    wait_until(lambda: r.llen("resque:queue:aj_ruby") == 1 and not r.keys("resque:delayed:*"), 30,
               "Ruby's scheduler to move the ActiveJob job")
    ruby.run("work_activejob.rb", QUEUES="aj_ruby")
    [report] = ruby_results()
    assert report["job_id"] == info.job_id and [a["value"] for a in report["args"]] == [5, "x"]


def test_rails_wait_is_moved_by_pyresque_and_run_by_a_python_handler(ruby, r, resque, registry):
    seen = []

    @activejob.job("EchoJob", registry=registry)
    def echo(*args):
        seen.append((args, activejob.current_job()))

    ruby.eval(LOAD + 'EchoJob.set(wait: 1).perform_later(7, "y"); nil')
    due = int(r.zrange("resque:delayed_queue_schedule", 0, 0)[0])
    scheduler = Scheduler(resque)
    wait_until(lambda: scheduler.tick() is not None and r.llen("resque:queue:aj_python") == 1, 10,
               "pyresque's scheduler to move it when due")
    assert time.time() >= due
    Worker(resque, "aj_python", registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()
    [(args, job)] = seen
    assert args == (7, "y") and job.scheduled_at is not None and job.executions == 1


def test_retry_on_counts_executions_once_across_ruby_and_python(ruby, r, resque, registry, ruby_results):
    python_runs = []

    @activejob.job("RetryingJob", queue="aj_retry", registry=registry,
                   retry_on=[activejob.RetryOn(ValueError, wait=1, attempts=4, jitter=0, key="[ArgumentError]")])
    def retrying(*args):
        python_runs.append(activejob.current_job())
        raise ValueError("fails in Python")

    def python_runs_one():
        Worker(resque, "aj_retry", registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()

    def delayed_job_data():
        [(ts, item)] = delayed_items(r)
        return json.loads(item)["args"][0]

    def run_due_now():
        assert resque.enqueue_delayed_selection(lambda args: True) == 1

    info = activejob.perform_later(resque, "RetryingJob", 3, "z", queue="aj_retry")
    python_runs_one()  # execution 1 (Python)
    data = delayed_job_data()
    assert (data["job_id"], data["executions"], data["exception_executions"]) == (info.job_id, 1, {"[ArgumentError]": 1})
    assert data["scheduled_at"] > data["enqueued_at"] and r.llen("resque:failed") == 0

    run_due_now()
    ruby.run("work_activejob_retry.rb", QUEUES="aj_retry")  # execution 2 (Ruby) sees Python's counts
    [ruby_run] = ruby_results()
    assert (ruby_run["executions"], ruby_run["exception_executions"]) == (2, {"[ArgumentError]": 1})
    data = delayed_job_data()
    assert (data["job_id"], data["executions"], data["exception_executions"]) == (info.job_id, 2, {"[ArgumentError]": 2})

    run_due_now()
    python_runs_one()  # execution 3 (Python) sees Ruby's counts
    assert (python_runs[-1].executions, dict(python_runs[-1].exception_executions)) == (3, {"[ArgumentError]": 2})
    assert delayed_job_data()["exception_executions"] == {"[ArgumentError]": 3}

    run_due_now()
    ruby.run("work_activejob_retry.rb", QUEUES="aj_retry")  # execution 4 = attempts: Ruby gives up
    assert ruby_results()[-1]["executions"] == 4
    assert resque.count_all_scheduled_jobs() == 0
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["exception"] == "ArgumentError"
