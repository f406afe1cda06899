"""A worker facing a Redis that misbehaves: lost replies, hangs, restarts, outages.

Each test sets up a real redis-server of its own (tests/faultkit.py), injects
one fault, and asserts what Ruby and a user would see: the keyspace, the
process's exit and what it printed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from faultkit import Proxy, RedisServer
from pyjobs_procs import Procs, env_for, pyresque_cmd, wait_title
from pyresque import Resque
from pyresque.registry import Registry, job
from pyresque.worker import Worker
from testsupport import wait_until

HOST = socket.gethostname()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.kill_all()


@pytest.fixture
def server(tmp_path):
    s = RedisServer(tmp_path)
    s.start()
    yield s
    s.close()


# A lost reply ------------------------------------------------------------------
def test_lost_replies_to_the_reserve_call_lose_no_job_and_count_none_twice(server):
    """Redis runs next_job.lua, the reply never arrives, the worker calls again.

    Each ``Arm`` job makes the proxy swallow the reply to the very next script
    call: the one that records the Arm job and reserves the job after it.
    """
    proxy = Proxy(server.port)
    r = server.client()
    registry = Registry()
    done: list[str] = []

    @job("Rec", registry=registry)
    def rec(tag):
        done.append(tag)

    @job("Arm", registry=registry)
    def arm(tag):
        done.append(tag)
        proxy.lose_reply_to("EVALSHA")

    @job("ArmAndFail", registry=registry)
    def arm_and_fail(tag):
        done.append(tag)
        proxy.lose_reply_to("EVALSHA")
        raise RuntimeError(f"failing {tag}")

    resque = Resque(proxy.url, registry=registry)
    resque.redis.ping()  # load nothing yet; the script is loaded by the worker
    plan = ["Rec", "Arm", "Rec", "Rec", "ArmAndFail", "Rec", "Arm", "Arm", "Rec", "Arm"]
    tags = [f"{cls}-{i}" for i, cls in enumerate(plan)]
    for cls, tag in zip(plan, tags):
        resque.enqueue_to("q", cls, tag)
    Worker(resque, ["q"], interval_s=0, fork_per_job=False, registry=registry).work()

    arms = sum(1 for cls in plan if cls.startswith("Arm"))
    assert proxy.lost_replies == arms, "every armed reply was really lost"
    assert done == tags, "every job ran exactly once, in order"
    assert int(r.get("resque:stat:processed")) == len(plan)
    assert int(r.get("resque:stat:failed")) == 1
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["payload"] == {"class": "ArmAndFail", "args": ["ArmAndFail-4"]}
    assert r.llen("resque:queue:q") == 0
    assert r.keys("resque:worker:*") == [], "no job left held, and the worker unregistered"
    proxy.close()


def test_a_job_reserved_by_a_lost_reply_at_shutdown_goes_back_to_its_queue(server):
    proxy = Proxy(server.port)
    r = server.client()
    registry = Registry()
    worker: Worker | None = None

    @job("Stop", registry=registry)
    def stop(tag):
        proxy.lose_reply_to("EVALSHA")
        worker.shutdown_requested = True  # as QUIT does: finish this job, then stop

    resque = Resque(proxy.url, registry=registry)
    resque.enqueue_to("q", "Stop", "a")
    resque.enqueue_to("q", "Stop", "b")
    worker = Worker(resque, ["q"], interval_s=0, fork_per_job=False, registry=registry, handle_signals=False)
    worker.startup()
    worker.work_one_job()  # runs "a"; its outcome is recorded by the next call
    worker.teardown()      # that call's reply is lost: it had reserved "b"

    assert proxy.lost_replies == 1
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Stop","args":["b"]}'], "b is back at the head"
    assert int(r.get("resque:stat:processed")) == 1
    assert r.keys("resque:worker:*") == [] and r.smembers("resque:workers") == set()
    proxy.close()


# A hung Redis ------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_a_stop_signal_is_honoured_at_startup_while_redis_hangs(server, procs, sig):
    server.freeze()
    proc = procs.worker(server.url, "-q", "q", env=_no_hooks(server.url))
    wait_title(proc.pid, r"resque: Starting")
    wait_until(lambda: _unread_request(server.port), 10, "the worker's first command to reach the frozen server")
    t0 = time.monotonic()
    proc.send_signal(sig)
    code = proc.wait(15)
    elapsed = time.monotonic() - t0
    server.thaw()
    assert elapsed < 5, f"stopped {elapsed:.1f} s after the signal"
    assert code in (0, 1), proc.stderr.read()


def test_a_stop_signal_is_honoured_while_an_idle_worker_waits_on_a_hung_redis(server, procs):
    proc = procs.worker(server.url, "-q", "q", "-i", "0.2", "--no-fork", env=_no_hooks(server.url))
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    server.freeze()
    wait_until(lambda: _unread_request(server.port), 10, "the worker's next poll to reach the frozen server")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(15)
    elapsed = time.monotonic() - t0
    server.thaw()
    assert elapsed < 5, f"stopped {elapsed:.1f} s after the signal"
    assert code == 0, proc.stderr.read()


def _no_hooks(url: str) -> dict[str, str]:
    # The test job module's worker hooks write to Redis, and would hang on
    # the frozen server as any hook of a user's would: this is about the worker.
    return env_for(url, PYJOBS_NO_HOOKS="1")


def _unread_request(port: int) -> bool:
    """Whether a connection to the server on ``port`` holds bytes it has not
    read: a command sent to a frozen server, that the sender now waits on."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            rx_queue = int(fields[4].split(":")[1], 16)
            if local_port == port and fields[3] == "01" and rx_queue > 0:
                return True
    return False


# A restart ----------------------------------------------------------------------
@pytest.mark.parametrize("appendonly", [False, True], ids=["no-persistence", "aof"])
def test_after_a_redis_restart_the_worker_is_registered_again_within_seconds(tmp_path, procs, appendonly):
    server = RedisServer(tmp_path, appendonly=appendonly)
    r = server.start()
    try:
        proc = procs.worker(server.url, "-q", "q", "--no-fork", env=_no_hooks(server.url))
        wid = f"{HOST}:{proc.pid}:q"
        wait_until(lambda: r.sismember("resque:workers", wid), 10, "the worker to register")
        r = server.restart()
        t0 = time.monotonic()
        wait_until(lambda: r.sismember("resque:workers", wid) and r.hexists("resque:workers:heartbeat", wid)
                   and r.exists(f"resque:worker:{wid}:started"), 10, "the worker to be registered again")
        assert time.monotonic() - t0 < 5
        r.rpush("resque:queue:q", '{"class":"Quick","args":["after"]}')
        wait_until(lambda: r.lrange("t:done", 0, -1) == [b"after"], 10, "a job after the restart")
        assert proc.poll() is None
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(15) == 0
        assert r.smembers("resque:workers") == set()
    finally:
        server.close()


def test_an_outage_is_logged_once_each_way_and_work_resumes_at_once(server, procs):
    proc = procs.worker(server.url, "-q", "q")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    server.stop()
    lines: list[str] = []
    os.set_blocking(proc.stderr.fileno(), False)

    def read() -> str:
        chunk = proc.stderr.read()
        if chunk:
            lines.extend(chunk.decode().splitlines())
        return "\n".join(lines)

    wait_until(lambda: "lost Redis" in read(), 15, "the outage to be logged")
    time.sleep(3)  # the outage lasts: the scenario itself, not a wait for a condition
    r = server.start()
    t0 = time.monotonic()
    r.rpush("resque:queue:q", '{"class":"Quick","args":["back"]}')
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"back"], 10, "the first job after the outage")
    assert time.monotonic() - t0 < 3, "work resumes within the backoff cap, not a polling interval"
    wait_until(lambda: "Redis is back" in read(), 10, "the end of the outage to be logged")
    text = read()
    assert text.count("lost Redis") == 1 and text.count("Redis is back") == 1, text
    assert "Traceback" not in text, text
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


# Dead workers -------------------------------------------------------------------
def test_a_live_worker_prunes_a_dead_worker_of_any_host_within_expiry_plus_one_interval(r, procs, redis_server):
    dead = "some-other-pod:1:q"
    r.sadd("resque:workers", dead)
    r.set(f"resque:worker:{dead}", '{"queue":"q","run_at":"2026-01-01T00:00:00Z","payload":{"class":"Foo","args":[7]}}')
    now, _ = r.time()
    r.hset("resque:workers:heartbeat", dead, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
    proc = procs.worker(redis_server, "-q", "q", "--heartbeat-interval", "1", "--prune-interval", "3")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    t0 = time.monotonic()
    wait_until(lambda: r.llen("resque:failed"), 10, "the dead worker's job to become a failure")
    assert time.monotonic() - t0 < 3 + 1 + 1.5
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["exception"] == "Resque::PruneDeadWorkerDirtyExit"
    assert failure["payload"] == {"class": "Foo", "args": [7]} and failure["worker"] == dead
    assert not r.sismember("resque:workers", dead)
    assert proc.poll() is None, "the pruning worker is the live one, still running"
    assert r.sismember("resque:workers", f"{HOST}:{proc.pid}:q")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


def test_a_dead_process_with_this_workers_id_is_recorded_before_the_worker_registers(r, resque, registry):
    """A container restarted as PID 1 gets the id of the worker that died in it."""
    wid = f"{HOST}:{os.getpid()}:q"
    r.sadd("resque:workers", wid)
    r.set(f"resque:worker:{wid}", '{"queue":"q","run_at":"2026-01-01T00:00:00Z","payload":{"class":"Old","args":[1]}}')
    r.set(f"resque:stat:processed:{wid}", 41)
    ran = []
    job("New", registry=registry)(lambda: ran.append(1))
    resque.enqueue_to("q", "New")
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False).work()
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert (failure["exception"], failure["payload"]) == ("Resque::DirtyExit", {"class": "Old", "args": [1]})
    assert ran == [1]
    assert int(r.get("resque:stat:processed")) == 1


# Bad settings ------------------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["-i", "-1"], "interval must be 0 or more seconds"),
    (["--min-interval", "-2"], "min interval must be 0 or more seconds"),
    (["--heartbeat-interval", "0"], "heartbeat interval must be more than 0 seconds"),
    (["--prune-interval", "30"], "prune interval (30.0 s) must be longer than the heartbeat interval"),
])
def test_bad_settings_are_refused_with_one_line(redis_server, flags, message):
    import subprocess

    out = subprocess.run(pyresque_cmd("work", "-q", "q", *flags), env=env_for(redis_server),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
