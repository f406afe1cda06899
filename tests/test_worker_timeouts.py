"""Job timeouts: a job that runs too long fails with ``pyresque.JobTimeout``.

Real ``pyresque work`` processes run the jobs of tests/pyjobs_timeouts.py,
which get stuck on purpose, in fork and in-process mode; each test checks
the failure record resque-web would show, ``stat:failed``, where the job's
``on_failure`` hooks ran, and that the worker went on to the next job. The
precedence and thread rules are checked on a worker draining in this
process.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from pyjobs_procs import env_for, failures, started_pid, stop
from pyresque import JobTimeout, Worker, timeouts
from pyresque.errors import WorkerError
from testsupport import wait_until

STUCK_IN = "in `stuck_here'"


def worker(procs, redis_server, *args, **env):
    """A worker on queue ``q`` with the timeout jobs, its child forked ahead of each job."""
    env = env_for(redis_server, PYJOBS_NO_HOOKS="1", **env)
    return procs.worker(redis_server, "--import", "pyjobs_timeouts", "-q", "q", *args, env=env)


def registered(r, proc):
    return wait_until(lambda: [w.decode() for w in r.smembers("resque:workers") if f":{proc.pid}:" in w.decode()],
                      10, "the worker to register")[0]


def listed(r, key):
    return [x.decode() for x in r.lrange(key, 0, -1)]


def stat(r, name):
    return int(r.get(f"resque:stat:{name}") or 0)


def run_stuck_job_then_quick(r, resque, cls, *args):
    """Enqueue a stuck job and a quick one; the pid that ran the first, once the second is done."""
    resque.enqueue_to("q", cls, "a", *args)
    resque.enqueue_to("q", "Quick", "b")
    pid = started_pid(r, "a")
    wait_until(lambda: listed(r, "t:done") == ["b"], 15, "the next job to run")
    return pid


def test_a_forked_job_past_its_own_timeout_fails_where_it_was_stuck(r, resque, procs, redis_server):
    proc = worker(procs, redis_server)
    wid = registered(r, proc)
    child = run_stuck_job_then_quick(r, resque, "Sleepy")
    [rec] = failures(r)
    assert (rec["exception"], rec["error"]) == ("pyresque.JobTimeout", "Job exceeded its 0.5s timeout")
    assert (rec["payload"], rec["worker"], rec["queue"]) == ({"class": "Sleepy", "args": ["a"]}, wid, "q")
    assert STUCK_IN in rec["backtrace"][0], rec["backtrace"]
    assert listed(r, "t:on_failure") == [f"Sleepy:pyresque.JobTimeout:{child}"]  # in the child
    assert child != proc.pid
    assert stop(proc) == 0, proc.stderr.read()  # records the last job's stats
    assert stat(r, "failed") == 1 and stat(r, "processed") == 2


@pytest.mark.parametrize("how", ["flag", "env"])
def test_in_process_the_workers_timeout_interrupts_the_job(r, resque, procs, redis_server, how):
    if how == "flag":
        proc = worker(procs, redis_server, "--no-fork", "--job-timeout", "0.5")
    else:
        proc = worker(procs, redis_server, "--no-fork", PYRESQUE_JOB_TIMEOUT="0.5")
    registered(r, proc)
    pid = run_stuck_job_then_quick(r, resque, "Slow")
    assert pid == proc.pid
    [rec] = failures(r)
    assert (rec["exception"], rec["error"]) == ("pyresque.JobTimeout", "Job exceeded its 0.5s timeout")
    assert STUCK_IN in rec["backtrace"][0], rec["backtrace"]
    assert listed(r, "t:on_failure") == [f"Slow:pyresque.JobTimeout:{proc.pid}"]
    assert stop(proc) == 0, proc.stderr.read()  # records the last job's stats
    assert stat(r, "failed") == 1 and stat(r, "processed") == 2


def test_a_forked_job_that_ignores_term_and_its_timeout_is_killed_and_recorded_by_its_worker(
        r, resque, procs, redis_server):
    proc = worker(procs, redis_server, RESQUE_TERM_TIMEOUT="0.5")
    wid = registered(r, proc)
    child = run_stuck_job_then_quick(r, resque, "Stubborn", "ignore-term")
    assert listed(r, "t:caught") == ["a"], "the job swallowed its JobTimeout"
    [rec] = failures(r)
    assert rec["exception"] == "pyresque.JobTimeout"
    assert rec["error"] == f"Job exceeded its 0.5s timeout; the worker stopped its child pid {child} (SIGKILL)"
    assert rec["backtrace"] == [] and rec["worker"] == wid
    assert listed(r, "t:on_failure") == [f"Stubborn:pyresque.JobTimeout:{proc.pid}"]  # run by the worker
    assert stop(proc) == 0, proc.stderr.read()
    assert stat(r, "failed") == 1 and stat(r, "processed") == 2
    assert listed(r, "t:done") == ["b"]


def test_a_forked_job_that_swallows_its_timeout_fails_on_its_workers_term(r, resque, procs, redis_server):
    # A second of grace after the SIGTERM for the child to report, even on a busy machine.
    proc = worker(procs, redis_server, RESQUE_TERM_TIMEOUT="1")
    registered(r, proc)
    child = run_stuck_job_then_quick(r, resque, "Stubborn", "catch-once")
    assert listed(r, "t:caught") == ["a"]
    [rec] = failures(r)
    # The worker's SIGTERM raised JobTimeout again, inside the job.
    assert (rec["exception"], rec["error"]) == ("pyresque.JobTimeout", "Job exceeded its 0.5s timeout")
    assert STUCK_IN in rec["backtrace"][0], rec["backtrace"]
    assert listed(r, "t:on_failure") == [f"Stubborn:pyresque.JobTimeout:{child}"]
    assert stop(proc) == 0, proc.stderr.read()
    assert stat(r, "failed") == 1


# A worker draining in this process ------------------------------------------------
def register_sleeper(registry, r, name, run_s, timeout=None):
    def perform():
        time.sleep(run_s)
        r.rpush("t:done", name)

    registry.register(perform, name=name, timeout_s=timeout)


def test_the_jobs_own_timeout_wins_over_the_workers(r, resque, registry):
    register_sleeper(registry, r, "Patient", 0.5, timeout=5)
    register_sleeper(registry, r, "Default", 5)
    register_sleeper(registry, r, "Hasty", 5, timeout=0.2)
    for name in ("Patient", "Default"):
        resque.enqueue_to("q", name)
    Worker(resque, ["q"], registry=registry, interval_s=0, fork_per_job=False, job_timeout_s=0.3).work()
    assert listed(r, "t:done") == ["Patient"]
    assert [(f["payload"]["class"], f["error"]) for f in failures(r)] == [("Default", "Job exceeded its 0.3s timeout")]

    r.delete("resque:failed")
    resque.enqueue_to("q", "Hasty")
    Worker(resque, ["q"], registry=registry, interval_s=0, fork_per_job=False, job_timeout_s=30).work()
    assert [(f["payload"]["class"], f["error"]) for f in failures(r)] == [("Hasty", "Job exceeded its 0.2s timeout")]


def test_without_fork_outside_the_main_thread_timeouts_are_not_enforced_and_it_says_so(
        r, resque, registry, caplog, monkeypatch):
    monkeypatch.setattr(timeouts, "_warned_off_main_thread", False)
    register_sleeper(registry, r, "Overrun", 0.3, timeout=0.05)
    resque.enqueue_to("q", "Overrun")
    worker = Worker(resque, ["q"], registry=registry, interval_s=0, fork_per_job=False)
    with caplog.at_level(logging.WARNING, logger="pyresque.timeouts"):
        thread = threading.Thread(target=worker.work)
        thread.start()
        thread.join(30)
    assert listed(r, "t:done") == ["Overrun"] and failures(r) == []
    assert "not enforced" in caplog.text


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "5"])
def test_a_worker_refuses_a_timeout_that_is_not_a_positive_number(resque, value):
    with pytest.raises(WorkerError, match="job_timeout_s must be a positive number of seconds"):
        Worker(resque, ["q"], job_timeout_s=value)


def test_job_timeout_reads_like_its_record():
    assert str(JobTimeout(2)) == "Job exceeded its 2s timeout"
    assert str(JobTimeout(0.25, "more")) == "Job exceeded its 0.25s timeout; more"
