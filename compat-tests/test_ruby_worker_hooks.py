"""When a worker runs a job's on_failure hooks for a job that never raised.

Ruby's ``Job#fail`` runs the job class's failure hooks before it records
*any* failure, so they also run, with ``Resque::DirtyExit``, when the child
is killed by a signal, and with ``DirtyExit``/``PruneDeadWorkerDirtyExit``
in whichever worker prunes a dead one (if it knows the class). Each case
runs against a real Ruby worker (scripts/work_hooked.rb) and the Python
worker (pyjobs_worker.HookedWaiter), with the same expectations.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from testsupport import wait_until
from webside import Procs, kill_hard, worker_id

RELEASE = "pyresque-test:release"
LOCK = "resque:pruning_dead_workers_in_progress"


def start(side: str, procs: Procs, queues: str = "record", **env: str) -> subprocess.Popen:
    if side == "python":
        return procs.py(queues, **env)
    return procs.ruby(queues, script="work_hooked.rb", **env)


def busy(side: str, r, procs: Procs, ruby) -> tuple[subprocess.Popen, str]:
    proc = start(side, procs)
    wid = worker_id(proc, "record")
    wait_until(lambda: r.sismember("resque:workers", wid), 30, f"the {side} worker to register")
    ruby.eval(f'Resque.enqueue_to("record", "HookedWaiter", "{RELEASE}", "{side}"); true')
    wait_until(lambda: hook_calls(r, "HookedWaiter"), 30, f"the {side} worker to start the job")
    return proc, wid


def hook_calls(r, key: str = "on_failure") -> list[dict]:
    seen = [json.loads(x) for x in r.lrange("pyresque-test:ruby-results", 0, -1)]
    if key == "on_failure":
        return [(s["exception"], s["args"]) for s in seen if s.get("hook") == "on_failure"]
    return [s for s in seen if s["class"] == key and "hook" not in s]


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_on_failure_runs_when_the_child_is_killed(side, ruby, r, procs):
    proc, wid = busy(side, r, procs, ruby)
    proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: r.llen("resque:failed") == 1, 30, "the failure record")
    wait_until(lambda: hook_calls(r), 30, "the on_failure hook")
    assert hook_calls(r) == [("Resque::DirtyExit", [side])]


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_on_failure_runs_when_a_dead_worker_is_pruned(side, ruby, r, procs, redis_server):
    proc, wid = busy(side, r, procs, ruby)
    kill_hard(proc)
    r.delete(LOCK)
    pruner = start(side, procs, interval="0")
    assert pruner.wait(60) == 0, procs.logs()
    [record] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert (record["exception"], record["worker"]) == ("Resque::DirtyExit", wid)
    assert hook_calls(r) == [("Resque::DirtyExit", [side])]


@pytest.mark.parametrize("side", ["ruby", "python"])
def test_on_failure_runs_when_a_stale_worker_is_pruned(side, ruby, r, procs, redis_server):
    proc, wid = busy(side, r, procs, ruby)
    kill_hard(proc)
    stamp = r.time()[0] - 400
    import time

    r.hset("resque:workers:heartbeat", wid, time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(stamp)))
    r.delete(LOCK)
    pruner = start(side, procs, queues="elsewhere", interval="0")
    assert pruner.wait(60) == 0, procs.logs()
    assert hook_calls(r) == [("Resque::PruneDeadWorkerDirtyExit", [side])]
