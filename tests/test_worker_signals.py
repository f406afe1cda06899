"""Signals, process titles and pausing with real ``pyresque work`` processes.

Each test starts a worker with ``--import pyjobs_signals`` (jobs that report
to ``t:*`` lists and block until a release key is set), signals it as an
operator would, and checks Redis and /proc afterwards. Ruby semantics:
resque-protocol-notes.md §6.3 (signals), §6.4 (titles), §6.5 (hooks).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time

import pytest

from pyjobs_procs import env_for, failures, started_pid, stop, title, wait_title
from testsupport import wait_until

HOST = socket.gethostname()
EPOCH = r"\d{9,11}"


def enqueue(resque, queue, cls, *args):
    resque.enqueue_to(queue, cls, *args)


def done(r):
    return [x.decode() for x in r.lrange("t:done", 0, -1)]


def hooks(r):
    return [x.decode().split(":")[0] for x in r.lrange("t:hooks", 0, -1)]


def stat(r, name):
    v = r.get(f"resque:stat:{name}")
    return int(v) if v is not None else 0


def wait_registered(r, proc, queues="q"):
    wid = f"{HOST}:{proc.pid}:{queues}"
    wait_until(lambda: r.sismember("resque:workers", wid), 10, f"worker {wid} to register")
    return wid


def assert_gone(r, wid):
    assert not r.sismember("resque:workers", wid)
    assert not r.exists(f"resque:worker:{wid}", f"resque:worker:{wid}:started",
                        f"resque:stat:processed:{wid}", f"resque:stat:failed:{wid}")
    assert not r.hexists("resque:workers:heartbeat", wid)


def test_quit_finishes_the_current_job_then_exits_cleanly(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    enqueue(resque, "q", "Quick", "b")
    proc = procs.worker(redis_server, "-q", "q")
    wid = wait_registered(r, proc)
    started_pid(r, "a")
    proc.send_signal(signal.SIGQUIT)
    wait_until(lambda: "shutdown" in hooks(r), 10, "the shutdown hook")
    assert proc.poll() is None, "QUIT must let the job finish"
    r.set("t:release:a", 1)
    assert proc.wait(15) == 0, proc.stderr.read()
    assert done(r) == ["a"]
    assert r.llen("resque:queue:q") == 1, "no new job is taken after QUIT"
    assert stat(r, "processed") == 1 and stat(r, "failed") == 0
    assert r.llen("resque:failed") == 0
    assert_gone(r, wid)
    assert hooks(r)[-1] == "worker_exit"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_term_and_int_kill_the_child_and_record_a_dirty_exit(r, resque, procs, redis_server, sig):
    enqueue(resque, "q", "Block", "a")
    enqueue(resque, "q", "Quick", "b")
    proc = procs.worker(redis_server, "-q", "q")
    wid = wait_registered(r, proc)
    child = started_pid(r, "a")
    assert child != proc.pid
    assert stop(proc, sig) == 0, proc.stderr.read()
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert rec["payload"] == {"class": "Block", "args": ["a"]}
    assert rec["worker"] == wid and rec["queue"] == "q" and rec["backtrace"] == []
    assert stat(r, "failed") == 0, "Ruby does not count a killed child in stat:failed"
    assert stat(r, "processed") == 1
    assert done(r) == [] and r.llen("resque:queue:q") == 1
    assert_gone(r, wid)
    assert "shutdown" in hooks(r)


def test_term_child_sends_term_and_the_job_fails_with_term_exception(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, TERM_CHILD="1"))
    wait_registered(r, proc)
    started_pid(r, "a")
    assert stop(proc, signal.SIGTERM) == 0, proc.stderr.read()
    [rec] = failures(r)
    assert (rec["exception"], rec["error"]) == ("Resque::TermException", "SIGTERM")
    assert stat(r, "failed") == 1 and stat(r, "processed") == 1


def test_term_child_escalates_to_kill_after_resque_term_timeout(r, resque, procs, redis_server):
    enqueue(resque, "q", "IgnoreTerm", "a")
    proc = procs.worker(redis_server, "-q", "q",
                        env=env_for(redis_server, TERM_CHILD="1", RESQUE_TERM_TIMEOUT="0.5"))
    wait_registered(r, proc)
    child = started_pid(r, "a")
    t0 = time.monotonic()
    assert stop(proc, signal.SIGTERM) == 0, proc.stderr.read()
    assert time.monotonic() - t0 < 4, "RESQUE_TERM_TIMEOUT=0.5 must not wait the 4 s default"
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert stat(r, "failed") == 0


def test_graceful_term_makes_term_behave_like_quit(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    enqueue(resque, "q", "Quick", "b")
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, GRACEFUL_TERM="1"))
    wait_registered(r, proc)
    started_pid(r, "a")
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "shutdown" in hooks(r), 10, "the shutdown hook")
    assert proc.poll() is None
    r.set("t:release:a", 1)
    assert proc.wait(15) == 0
    assert done(r) == ["a"] and r.llen("resque:failed") == 0 and r.llen("resque:queue:q") == 1


def test_usr1_kills_the_child_and_the_worker_goes_on(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    enqueue(resque, "q", "Quick", "b")
    proc = procs.worker(redis_server, "-q", "q")
    wid = wait_registered(r, proc)
    child = started_pid(r, "a")
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: done(r) == ["b"], 10, "the next job to run after USR1")
    assert proc.poll() is None
    [rec] = failures(r)
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert r.sismember("resque:workers", wid)
    assert "shutdown" not in hooks(r)
    assert stop(proc) == 0
    assert stat(r, "processed") == 2 and stat(r, "failed") == 0


def test_usr2_pauses_and_cont_resumes(r, resque, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q")
    wait_registered(r, proc)
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    proc.send_signal(signal.SIGUSR2)
    wait_title(proc.pid, r"resque-3\.0\.0: Paused")
    wait_until(lambda: "before_pause" in hooks(r), 10, "before_pause")
    enqueue(resque, "q", "Quick", "b")
    # Give a working worker every chance to take it: it is woken by the push.
    wait_until(lambda: r.llen("resque:queue:q") == 1 and title(proc.pid).endswith("Paused"), 2, "still paused")
    assert done(r) == []
    proc.send_signal(signal.SIGCONT)
    wait_until(lambda: done(r) == ["b"], 5, "the job to run after CONT")
    assert hooks(r).count("after_pause") == 1
    assert stop(proc) == 0


@pytest.mark.parametrize("value", ["true", " TRUE "])
def test_pause_all_workers_key_pauses_and_deleting_it_resumes(r, resque, procs, redis_server, value):
    proc = procs.worker(redis_server, "-q", "q")
    wait_registered(r, proc)
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    r.set("resque:pause-all-workers", value)
    wait_title(proc.pid, r"resque-3\.0\.0: Paused", timeout_s=2)
    enqueue(resque, "q", "Quick", "b")
    assert r.llen("resque:queue:q") == 1
    r.delete("resque:pause-all-workers")
    t0 = time.monotonic()
    wait_until(lambda: done(r) == ["b"], 5, "the job to run once the key is gone")
    assert time.monotonic() - t0 < 1.0, "deleting pause-all-workers should wake the worker at once"
    assert stop(proc) == 0


def test_no_fork_term_with_term_child_interrupts_the_job_with_term_exception(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    proc = procs.worker(redis_server, "-q", "q", "--no-fork", env=env_for(redis_server, TERM_CHILD="1"))
    wid = wait_registered(r, proc)
    assert started_pid(r, "a") == proc.pid
    assert stop(proc, signal.SIGTERM) == 0, proc.stderr.read()
    [rec] = failures(r)
    assert (rec["exception"], rec["error"], rec["worker"]) == ("Resque::TermException", "SIGTERM", wid)
    assert stat(r, "failed") == 1 and stat(r, "processed") == 1
    assert_gone(r, wid)


def test_no_fork_term_without_term_child_lets_the_job_finish_then_exits(r, resque, procs, redis_server):
    # Ruby: shutdown! only kills a child, and there is none, so the job runs to its end.
    enqueue(resque, "q", "Block", "a")
    enqueue(resque, "q", "Block", "never")
    proc = procs.worker(redis_server, "-q", "q", "--no-fork")
    wid = wait_registered(r, proc)
    assert started_pid(r, "a") == proc.pid
    proc.send_signal(signal.SIGTERM)
    r.set("t:release:a", 1)
    assert proc.wait(15) == 0, proc.stderr.read()
    assert failures(r) == [] and stat(r, "processed") == 1 and stat(r, "failed") == 0
    assert r.llen("resque:queue:q") == 1  # the next job was never taken
    assert_gone(r, wid)


def test_process_titles_while_waiting_forked_and_processing(r, resque, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, RESQUE_PROCLINE_PREFIX="app: "))
    wait_registered(r, proc)
    wait_title(proc.pid, r"app: resque-3\.0\.0: Waiting for q")
    before = int(time.time())
    enqueue(resque, "q", "Block", "a")
    child = started_pid(r, "a")
    m = wait_title(proc.pid, rf"app: resque-3\.0\.0: Forked (\d+) at ({EPOCH})")
    assert int(m.group(1)) == child and before - 1 <= int(m.group(2)) <= time.time() + 1
    m = wait_title(child, rf"app: resque-3\.0\.0: Processing q since ({EPOCH}) \[Block\]")
    assert before - 1 <= int(m.group(1)) <= time.time() + 1
    r.set("t:release:a", 1)
    wait_title(proc.pid, r"app: resque-3\.0\.0: Waiting for q")
    assert stop(proc) == 0


def test_no_fork_title_while_processing(r, resque, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", "--no-fork")
    wait_registered(r, proc)
    enqueue(resque, "q", "Block", "a")
    started_pid(r, "a")
    wait_title(proc.pid, rf"resque-3\.0\.0: Processing q since {EPOCH} \[Block\]")
    r.set("t:release:a", 1)
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    assert stop(proc) == 0


def test_state_while_a_forked_job_runs(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    proc = procs.worker(redis_server, "-q", "q,*,!skipped")
    wid = wait_registered(r, proc, "q,*")
    started_pid(r, "a")
    record = r.get(f"resque:worker:{wid}").decode()
    assert re.fullmatch(r'\{"queue":"q","run_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",'
                        r'"payload":\{"class":"Block","args":\["a"\]\}\}', record), record
    assert json.loads(r.get(f"resque:stat:processed:{wid}") or b"0") == 0
    r.set("t:release:a", 1)
    wait_until(lambda: r.get(f"resque:stat:processed:{wid}") == b"1", 10, "per-worker processed")
    assert not r.exists(f"resque:worker:{wid}")
    assert stop(proc) == 0
    assert_gone(r, wid)


def test_hooks_in_fork_mode_run_in_the_right_process(r, resque, procs, redis_server):
    enqueue(resque, "q", "Quick", "a")
    proc = procs.worker(redis_server, "-q", "q", "-i", "0")
    assert proc.wait(15) == 0, proc.stderr.read()
    entries = [x.decode().split(":") for x in r.lrange("t:hooks", 0, -1)]
    kinds = [k for k, _ in entries]
    assert kinds == ["before_first_fork", "before_fork", "after_fork", "queue_empty", "worker_exit"]
    pids = dict(entries)
    assert int(pids["before_fork"]) == proc.pid and int(pids["worker_exit"]) == proc.pid
    assert int(pids["after_fork"]) != proc.pid, "after_fork runs in the child"


def test_no_fork_mode_runs_no_fork_hooks(r, resque, procs, redis_server):
    enqueue(resque, "q", "Quick", "a")
    proc = procs.worker(redis_server, "-q", "q", "-i", "0", "--no-fork")
    assert proc.wait(15) == 0, proc.stderr.read()
    assert hooks(r) == ["before_first_fork", "queue_empty", "worker_exit"]
    assert done(r) == ["a"]


def test_no_fork_quit_runs_the_shutdown_hook_at_once_and_finishes_the_job(r, resque, procs, redis_server):
    enqueue(resque, "q", "Block", "a")
    proc = procs.worker(redis_server, "-q", "q", "--no-fork")
    wait_registered(r, proc)
    started_pid(r, "a")
    proc.send_signal(signal.SIGQUIT)
    # Ruby runs the shutdown hook from the trap, while the job still runs.
    wait_until(lambda: "shutdown" in hooks(r), 10, "the shutdown hook")
    assert done(r) == []
    r.set("t:release:a", 1)
    assert proc.wait(15) == 0, proc.stderr.read()
    assert done(r) == ["a"] and r.llen("resque:failed") == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_an_idle_worker_exits_promptly_on_any_stop_signal(r, procs, redis_server, sig, mode):
    proc = procs.worker(redis_server, "-q", "q", mode)
    wid = wait_registered(r, proc)
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    t0 = time.monotonic()
    assert stop(proc, sig) == 0, proc.stderr.read()
    assert time.monotonic() - t0 < 2.0
    assert_gone(r, wid)
    assert hooks(r)[-2:] == ["shutdown", "worker_exit"]
