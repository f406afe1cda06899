"""Signals to a busy worker: the Python worker leaves what a Ruby worker leaves.

Each case runs once against a real Ruby ``Resque::Worker`` and once against
``python -m pyresque work``, both busy with a Waiter job, and compares what
is left in Redis: the failure record, ``stat:failed``/``stat:processed``,
and whether the worker is still registered.
"""

from __future__ import annotations

import json
import re
import signal

import pytest

from testsupport import wait_until
from webside import Procs, worker_id

RELEASE = "pyresque-test:release"


def busy_worker(side: str, r, procs: Procs, ruby, **env: str):
    proc = procs.py("record", **env) if side == "python" else procs.ruby("record", **env)
    wid = worker_id(proc, "record")
    wait_until(lambda: r.sismember("resque:workers", wid), 30, f"the {side} worker to register")
    ruby.eval(f'Resque.enqueue_to("record", "Waiter", "{RELEASE}", "{side}"); true')
    wait_until(lambda: r.llen("pyresque-test:ruby-results") == 1, 30, f"the {side} worker to start the job")
    return proc, wid


def outcome(r, wid: str) -> dict:
    failed = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    return {
        "records": [(f["exception"], f["error"], f["worker"] == wid, f["queue"], f["payload"]["class"]) for f in failed],
        "stat_failed": int(r.get("resque:stat:failed") or 0),
        "stat_processed": int(r.get("resque:stat:processed") or 0),
        "registered": bool(r.sismember("resque:workers", wid)),
        "busy": r.get(f"resque:worker:{wid}") is not None,
    }


SIGKILLED = re.compile(r"^Child process received unhandled signal pid \d+ SIGKILL \(signal 9\)$")


def normalise(result: dict) -> dict:
    result = dict(result)
    result["records"] = [
        (exc, "<child SIGKILLed>" if SIGKILLED.match(err) else err, *rest) for exc, err, *rest in result["records"]
    ]
    return result


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_quit_finishes_the_job_then_exits(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby)
    proc.send_signal(signal.SIGQUIT)
    r.set(RELEASE, "1")
    assert proc.wait(30) == 0
    assert outcome(r, wid) == {"records": [], "stat_failed": 0, "stat_processed": 1, "registered": False, "busy": False}


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_term_kills_the_child_records_a_dirty_exit_and_exits(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert normalise(outcome(r, wid)) == {
        "records": [("Resque::DirtyExit", "<child SIGKILLed>", True, "record", "Waiter")],
        "stat_failed": 0, "stat_processed": 1, "registered": False, "busy": False,
    }


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_usr1_kills_the_job_and_the_worker_carries_on(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby)
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: r.llen("resque:failed") == 1 and not r.get(f"resque:worker:{wid}"), 30, "the job to be killed")
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) == 1, 30, "the kill to be counted")
    assert normalise(outcome(r, wid)) == {
        "records": [("Resque::DirtyExit", "<child SIGKILLed>", True, "record", "Waiter")],
        "stat_failed": 0, "stat_processed": 1, "registered": True, "busy": False,
    }
    assert proc.poll() is None
    ruby.eval('Resque.enqueue_to("record", "Recorder", "after"); true')
    wait_until(lambda: r.llen("pyresque-test:ruby-results") == 2, 30, "the next job")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(30) == 0


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_term_child_raises_term_exception_in_the_job(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby, TERM_CHILD="1", RESQUE_TERM_TIMEOUT="10")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    result = outcome(r, wid)
    assert result == {
        "records": [("Resque::TermException", "SIGTERM", True, "record", "Waiter")],
        "stat_failed": 1, "stat_processed": 1, "registered": False, "busy": False,
    }


# FORK_PER_JOB=false: there is no child to kill ----------------------------------
TICKS = "pyresque-test:ticks"


def ticking_worker(side: str, r, procs: Procs, ruby, **env: str):
    env = dict({"FORK_PER_JOB": "false"}, **env)
    proc = procs.py("record", **env) if side == "python" else procs.ruby("record", script="work_hooked.rb", **env)
    wid = worker_id(proc, "record")
    wait_until(lambda: r.sismember("resque:workers", wid), 30, f"the {side} worker to register")
    ruby.eval(f'Resque.enqueue_to("record", "Ticker", "{RELEASE}", "{TICKS}", "{side}"); true')
    wait_until(lambda: int(r.get(TICKS) or 0) > 0, 30, f"the {side} worker to start the job")
    return proc, wid


def keeps_ticking(r, proc) -> bool:
    """True once the job ran 30 more loops (~0.3 s: any signal was handled by then); False if it stopped."""
    start = int(r.get(TICKS) or 0)
    return wait_until(lambda: "yes" if int(r.get(TICKS) or 0) >= start + 30 else
                      ("no" if r.llen("resque:failed") or proc.poll() is not None else None),
                      30, "the job to tick on or stop") == "yes"


def done(r) -> list:
    return [json.loads(x)["args"] for x in r.lrange("pyresque-test:ruby-results", 0, -1)]


@pytest.mark.parametrize("side", ["ruby", "python"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_without_fork_term_lets_the_job_finish(side, sig, ruby, r, procs):
    proc, wid = ticking_worker(side, r, procs, ruby)
    proc.send_signal(sig)
    assert keeps_ticking(r, proc), "the job was interrupted"
    r.set(RELEASE, "1")
    assert proc.wait(30) == 0
    assert done(r) == [[side], [side, "done"]]
    assert outcome(r, wid) == {"records": [], "stat_failed": 0, "stat_processed": 1, "registered": False, "busy": False}


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_without_fork_usr1_does_nothing(side, ruby, r, procs):
    proc, wid = ticking_worker(side, r, procs, ruby)
    proc.send_signal(signal.SIGUSR1)
    assert keeps_ticking(r, proc), "the job was interrupted"
    r.set(RELEASE, "1")
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) == 1, 30, "the job to finish")
    assert proc.poll() is None
    assert done(r) == [[side], [side, "done"]]
    assert r.llen("resque:failed") == 0


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_without_fork_term_child_raises_term_exception_in_the_job(side, ruby, r, procs):
    proc, wid = ticking_worker(side, r, procs, ruby, TERM_CHILD="1")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert outcome(r, wid) == {
        "records": [("Resque::TermException", "SIGTERM", True, "record", "Ticker")],
        "stat_failed": 1, "stat_processed": 1, "registered": False, "busy": False,
    }


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_usr1_with_term_child_terms_the_child_and_carries_on(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby, TERM_CHILD="1", RESQUE_TERM_TIMEOUT="10")
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) == 1, 30, "the job to end")
    assert outcome(r, wid) == {
        "records": [("Resque::TermException", "SIGTERM", True, "record", "Waiter")],
        "stat_failed": 1, "stat_processed": 1, "registered": True, "busy": False,
    }
    assert proc.poll() is None
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(30) == 0


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_int_is_term(side, ruby, r, procs):
    proc, wid = busy_worker(side, r, procs, ruby)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert normalise(outcome(r, wid))["records"] == [("Resque::DirtyExit", "<child SIGKILLed>", True, "record", "Waiter")]


@pytest.mark.parametrize("side", ["ruby", "python"])
@pytest.mark.parametrize("fork", ["true", "false"])
def test_graceful_term_finishes_the_job(side, fork, ruby, r, procs):
    proc, wid = ticking_worker(side, r, procs, ruby, GRACEFUL_TERM="1", FORK_PER_JOB=fork)
    proc.send_signal(signal.SIGTERM)
    assert keeps_ticking(r, proc), "the job was interrupted"
    r.set(RELEASE, "1")
    assert proc.wait(30) == 0
    assert outcome(r, wid) == {"records": [], "stat_failed": 0, "stat_processed": 1, "registered": False, "busy": False}


@pytest.mark.parametrize("side", ["ruby", "python"])
@pytest.mark.parametrize("code", [0, 3])
def test_a_child_that_exits_without_a_signal_is_not_a_failure(side, code, ruby, r, procs):
    """Ruby fails a forked job only if its child died by a signal; exit!(n) counts as processed."""
    ruby.eval(f'Resque.enqueue_to("record", "Quitter", {code}); true')
    proc = procs.py("record", interval="0") if side == "python" else procs.ruby("record", script="work_hooked.rb", INTERVAL="0")
    assert proc.wait(60) == 0
    assert (r.llen("resque:failed"), int(r.get("resque:stat:processed") or 0)) == (0, 1)


# pause-all-workers ------------------------------------------------------------------
@pytest.mark.parametrize("side", ["ruby", "python"])
@pytest.mark.parametrize("value,paused", [(" TRUE\n", True), ("True\t", True), ("yes", False), ("1", False)])
def test_pause_all_workers_is_read_as_ruby_reads_it(side, value, paused, ruby, r, procs):
    """In drain mode a paused worker exits without taking anything."""
    r.set("resque:pause-all-workers", value)
    ruby.eval('Resque.enqueue_to("record", "Recorder", "p"); true')
    proc = procs.py("record", interval="0") if side == "python" else procs.ruby("record", INTERVAL="0")
    assert proc.wait(60) == 0
    assert r.llen("resque:queue:record") == (1 if paused else 0)
