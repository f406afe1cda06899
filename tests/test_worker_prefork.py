"""Fork per job with the child forked ahead of its job (the default).

A spare child waits on a pipe while the worker is idle, and the next one is
forked while a job runs; each job still gets a fresh child of its own. These
tests run real workers without worker hooks (a before_fork hook turns
pre-forking off, which tests/test_worker_signals.py covers).
"""

from __future__ import annotations

import os
import signal

import pytest

from pyjobs_procs import env_for, failures, started_pid, stop, wait_title
from testsupport import wait_until


def plain_env(redis_server: str, **extra: str) -> dict[str, str]:
    return env_for(redis_server, PYJOBS_NO_HOOKS="1", **extra)


def children(pid: int) -> list[int]:
    """The live job children of worker ``pid``: the spare and the child running
    a job, whether the worker forked them or its fork server did."""
    found = []
    for child in direct_children(pid):
        title = cmdline(child)
        if title == cmdline(pid):
            return []  # just forked, not yet titled: a spare or the fork server
        if b"Fork server of" in title:
            found.extend(c for c in direct_children(child) if cmdline(c) != title)
        else:
            found.append(child)
    return found


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def direct_children(pid: int) -> list[int]:
    """The live (non-zombie) children of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def registered(r) -> str:
    return wait_until(lambda: [m.decode() for m in r.smembers("resque:workers")], 10, "a registered worker")[0]


def enqueue(r, cls: str, tag: str) -> None:
    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", f'{{"class":"{cls}","args":["{tag}"]}}')


def test_an_idle_worker_keeps_one_spare_child_ready_and_every_job_gets_a_fresh_one(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    registered(r)
    [spare] = wait_until(lambda: children(proc.pid), 10, "a spare child")
    wait_title(spare, r"resque-3\.0\.0: Ready for a job")
    enqueue(r, "Block", "a")
    assert started_pid(r, "a") == spare  # the spare ran it: no fork on the pickup path
    wait_title(spare, r"resque-3\.0\.0: Processing q since \d+ \[Block\]")
    wait_title(proc.pid, rf"resque-3\.0\.0: Forked {spare} at \d+")
    # The next child is forked while this one works.
    [next_spare] = wait_until(lambda: [c for c in children(proc.pid) if c != spare], 10, "the next spare")
    r.set("t:release:a", 1)
    wait_until(lambda: not alive(spare), 10, "the first child to exit")
    enqueue(r, "Block", "b")
    assert started_pid(r, "b") == next_spare
    r.set("t:release:b", 1)
    assert stop(proc) == 0
    assert r.lrange("t:done", 0, -1) == [b"a", b"b"]
    assert int(r.get("resque:stat:processed")) == 2


def test_no_spare_is_left_behind_when_the_worker_exits_or_is_killed(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    registered(r)
    [spare] = wait_until(lambda: children(proc.pid), 10, "a spare child")
    assert stop(proc) == 0
    wait_until(lambda: not alive(spare), 10, "the spare to exit with its worker")

    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    wait_until(lambda: r.scard("resque:workers") == 1 and children(proc.pid), 10, "a second worker and spare")
    [spare] = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone: the spare sees its job pipe close
    wait_until(lambda: not alive(spare), 10, "the orphaned spare to exit")


def test_a_spare_that_died_is_replaced_and_the_job_still_runs(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    registered(r)
    [spare] = wait_until(lambda: children(proc.pid), 10, "a spare child")
    os.kill(spare, signal.SIGKILL)
    wait_until(lambda: not alive(spare), 10, "the spare to die")
    enqueue(r, "Quick", "a")
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"a"], 10, "the job to run in a fresh child")
    assert failures(r) == []
    assert stop(proc) == 0


@pytest.mark.parametrize("term_child", ["", "1"])
def test_term_reaches_the_child_running_the_job_not_the_spare(r, procs, redis_server, term_child):
    env = plain_env(redis_server, **({"TERM_CHILD": "1", "RESQUE_TERM_TIMEOUT": "5"} if term_child else {}))
    proc = procs.worker(redis_server, "-q", "q", env=env)
    wid = registered(r)
    enqueue(r, "Block", "a")
    child = started_pid(r, "a")
    assert stop(proc, signal.SIGTERM) == 0, proc.stderr.read()
    [rec] = failures(r)
    if term_child:
        assert (rec["exception"], rec["error"]) == ("Resque::TermException", "SIGTERM")
    else:
        assert rec["exception"] == "Resque::DirtyExit"
        assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert rec["worker"] == wid
    assert not children(proc.pid)


def test_usr1_kills_the_running_child_and_the_next_job_runs_in_a_spare(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    registered(r)
    enqueue(r, "Block", "a")
    enqueue(r, "Quick", "b")
    child = started_pid(r, "a")
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"b"], 10, "the next job after USR1")
    [rec] = failures(r)
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert stop(proc) == 0


def test_a_before_fork_hook_turns_preforking_off(r, procs, redis_server):
    # pyjobs_signals with its hooks: before_fork must run in the parent, with the job, before the fork.
    proc = procs.worker(redis_server, "-q", "q")
    registered(r)
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    assert children(proc.pid) == []
    enqueue(r, "Quick", "a")
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"a"], 10, "the job")
    hooks = [h.decode().split(":") for h in r.lrange("t:hooks", 0, -1)]
    before = [int(pid) for kind, pid in hooks if kind == "before_fork"]
    after = [int(pid) for kind, pid in hooks if kind == "after_fork"]
    assert before == [proc.pid] and len(after) == 1 and after[0] != proc.pid
    assert stop(proc) == 0


@pytest.mark.parametrize("prefork", [True, False], ids=["spare", "forked-for-the-job"])
def test_a_child_dies_with_its_worker_and_never_finishes_the_job(r, procs, redis_server, prefork):
    args = ("-q", "q") if prefork else ("-q", "q", "--no-prefork")
    proc = procs.worker(redis_server, *args, env=plain_env(redis_server))
    wid = registered(r)
    enqueue(r, "Block", "a")
    child = started_pid(r, "a")
    doomed = set(children(proc.pid)) | {child}  # with prefork, the next spare too
    os.kill(proc.pid, signal.SIGKILL)  # the worker alone, not its process group
    wait_until(lambda: not any(alive(c) for c in doomed), 5, "the children to die with their worker")
    r.set("t:release:a", 1)  # all an orphan would need to finish the job

    # The next worker on the host prunes the dead one: the job is a dirty exit, and only that.
    r.delete("resque:pruning_dead_workers_in_progress")
    nxt = procs.worker(redis_server, "-q", "q", "-i", "0", env=plain_env(redis_server))
    assert nxt.wait(15) == 0, nxt.stderr.read()
    [rec] = failures(r)
    assert (rec["exception"], rec["worker"]) == ("Resque::DirtyExit", wid)
    assert r.lrange("t:done", 0, -1) == []


def _all_children(pid: int) -> list[int]:
    """Every child of ``pid``, zombies included."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def run_released(r, tags: list[str]) -> list[int]:
    """Enqueue Block jobs that may finish at once; the pid each ran in, in order."""
    done = r.llen("t:done")
    for tag in tags:
        r.set(f"t:release:{tag}", 1)
        enqueue(r, "Block", tag)
    wait_until(lambda: r.llen("t:done") == done + len(tags), 20, f"{len(tags)} jobs to run")
    return [started_pid(r, tag) for tag in tags]


def test_children_come_from_the_fork_server_so_the_worker_itself_never_forks_per_job(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    wid = registered(r)
    [spare] = wait_until(lambda: children(proc.pid), 10, "a spare child")
    [server] = direct_children(proc.pid)
    assert cmdline(server).startswith(f"resque-3.0.0: Fork server of {wid}".encode())
    assert parent_of(spare) == server
    pids = run_released(r, ["a", "b", "c"])
    assert len(set(pids)) == 3 and pids[0] == spare  # a fresh child per job, all the server's
    assert direct_children(proc.pid) == [server]
    assert stop(proc) == 0
    wait_until(lambda: not alive(server), 10, "the fork server to exit with its worker")
    assert int(r.get("resque:stat:processed")) == 3


def test_jobs_per_child_reuses_a_child_for_n_jobs_and_runs_after_fork_once_per_child(r, procs, redis_server):
    # With its hooks: before_fork makes the worker fork each child itself when a job comes.
    proc = procs.worker(redis_server, "-q", "q", "--jobs-per-child", "3")
    registered(r)
    pids = run_released(r, [f"j{i}" for i in range(7)])
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5] != pids[6]
    assert stop(proc) == 0
    hooks = [h.decode().split(":") for h in r.lrange("t:hooks", 0, -1)]
    assert sorted(int(pid) for kind, pid in hooks if kind == "after_fork") == sorted({*pids})
    assert [int(pid) for kind, pid in hooks if kind == "before_fork"] == [proc.pid] * 3
    assert int(r.get("resque:stat:processed")) == 7


def test_jobs_per_child_with_spares(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", "--jobs-per-child", "2", env=plain_env(redis_server))
    registered(r)
    pids = run_released(r, [f"j{i}" for i in range(5)])
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    r.set("t:release:boom", 1)
    enqueue(r, "Boom", "x")  # a failure in a reused child is recorded as any other
    wait_until(lambda: failures(r), 10, "the failure record")
    assert failures(r)[0]["exception"] == "ValueError"
    assert stop(proc) == 0


@pytest.mark.parametrize("args, env, message", [
    (["--jobs-per-child", "0"], {}, "'0' is not a whole number of at least 1"),
    (["--jobs-per-child", "two"], {}, "'two' is not a whole number of at least 1"),
    ([], {"PYRESQUE_JOBS_PER_CHILD": "-1"}, "PYRESQUE_JOBS_PER_CHILD='-1' is not a whole number of at least 1"),
    (["--no-fork", "--jobs-per-child", "2"], {}, "jobs per child is for forked jobs"),
])
def test_a_bad_jobs_per_child_is_refused(r, procs, redis_server, args, env, message):
    proc = procs.worker(redis_server, "-q", "q", *args, env=plain_env(redis_server, **env))
    assert proc.wait(15) == 2
    assert message in proc.stderr.read().decode()
    assert r.scard("resque:workers") == 0


def test_a_killed_fork_server_costs_only_the_job_it_was_running(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    wid = registered(r)
    wait_until(lambda: children(proc.pid), 10, "a spare child")
    [server] = direct_children(proc.pid)
    enqueue(r, "Block", "a")
    child = started_pid(r, "a")
    os.kill(server, signal.SIGKILL)  # its children die with it
    [rec] = wait_until(lambda: failures(r), 10, "the running job's failure record")
    assert (rec["exception"], rec["worker"]) == ("Resque::DirtyExit", wid)
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    # The worker goes on, with a new fork server; so it does when one dies while it is idle.
    assert run_released(r, ["b"]) and proc.poll() is None
    [server] = wait_until(lambda: children(proc.pid) and [c for c in direct_children(proc.pid)
                                                          if b"Fork server of" in cmdline(c)], 10, "a new server and spare")
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: server not in direct_children(proc.pid), 10, "the dead server to be gone")
    r.set("t:release:c", 1)
    enqueue(r, "Block", "c")
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"b", b"c"], 10, "the next job after the server died")
    assert len(failures(r)) == 1
    assert stop(proc) == 0
    assert int(r.get("resque:stat:processed")) == 3  # Ruby counts a dirty exit as processed too


def test_a_spare_rehearses_with_the_last_job_but_never_runs_it(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=plain_env(redis_server))
    registered(r)
    pids = run_released(r, ["a", "b"])
    # The spare that will take the next job has rehearsed with "b" by now.
    wait_until(lambda: [c for c in children(proc.pid) if c not in pids and
                        cmdline(c).startswith(b"resque-3.0.0: Ready for a job")], 10, "the next spare to be ready")
    assert r.lrange("t:started", 0, -1) == [f"a:{pids[0]}".encode(), f"b:{pids[1]}".encode()]
    assert r.lrange("t:done", 0, -1) == [b"a", b"b"]
    big = "x" * 20_000  # too big to rehearse with: the next spare does without
    assert run_released(r, ["c", big])
    assert r.lrange("t:done", 0, -1) == [b"a", b"b", b"c", big.encode()]
    assert stop(proc) == 0
    assert int(r.get("resque:stat:processed")) == 4 and failures(r) == []


def test_after_a_burst_the_worker_tracks_the_child_that_really_runs_the_job(r, procs, redis_server):
    # A burst has two spares on their way; going idle lets the newer one go
    # before its pid was ever asked. The next job must still be watched in
    # the child that runs it (the fork server answers in request order).
    # A short interval: the idle loop looks at the spare it let go at once.
    proc = procs.worker(redis_server, "-q", "q", "-i", "0.1", env=plain_env(redis_server))
    registered(r)
    run_released(r, ["a", "b", "c", "d"])
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    [server] = [c for c in direct_children(proc.pid) if b"Fork server of" in cmdline(c)]
    # Idle again: one spare stays; the other is let go, exits and is reaped.
    wait_until(lambda: len(_all_children(server)) == 1, 10, "one spare left, the other reaped")
    enqueue(r, "Block", "e")
    child = started_pid(r, "e")
    wait_title(proc.pid, rf"resque-3\.0\.0: Forked {child} at \d+")
    r.set("t:release:e", 1)
    wait_until(lambda: r.lrange("t:done", 0, -1)[-1:] == [b"e"], 10, "job e")
    assert stop(proc) == 0
    assert b"without reporting" not in proc.stderr.read()
    assert int(r.get("resque:stat:processed")) == 5 and failures(r) == []
