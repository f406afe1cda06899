"""Dead workers are pruned by the next worker, by Ruby's rules (notes §3.5).

Ruby prunes once per worker start, under a 60 s ``pruning_dead_workers_in_progress``
lock; tests delete that lock so the worker under test gets to prune, as a
worker starting a minute later would.
"""

from __future__ import annotations

import json
import os
import signal
import socket


from pyjobs_procs import failures, started_pid, wait_title
from pyresque.worker import Worker
from testsupport import wait_until

HOST = socket.gethostname()


def test_a_worker_killed_mid_job_is_pruned_by_the_next_one_on_the_host(r, resque, procs, redis_server):
    resque.enqueue_to("q", "Block", "a")
    dead = procs.worker(redis_server, "-q", "q")
    dead_id = f"{HOST}:{dead.pid}:q"
    child = started_pid(r, "a")
    os.killpg(dead.pid, signal.SIGKILL)  # the worker and its forked child, as a crash would
    dead.wait(10)
    wait_until(lambda: not os.path.exists(f"/proc/{child}"), 10, "the child to die")
    record = json.loads(r.get(f"resque:worker:{dead_id}"))
    assert record["payload"] == {"class": "Block", "args": ["a"]}, "the job is left in worker:<id>"
    assert r.sismember("resque:workers", dead_id)

    # A live worker with the same queues must survive the prune: its title
    # matches what Ruby's (and our) prune takes for a live Resque process.
    live = procs.worker(redis_server, "-q", "q")
    live_id = f"{HOST}:{live.pid}:q"
    wait_title(live.pid, r"resque-3\.0\.0: Waiting for q")
    assert r.sismember("resque:workers", dead_id), "the live worker started within the prune lock's 60 s"

    r.delete("resque:pruning_dead_workers_in_progress")
    nxt = procs.worker(redis_server, "-q", "q", "-i", "0")
    assert nxt.wait(15) == 0, nxt.stderr.read()
    [rec] = failures(r)
    assert (rec["exception"], rec["error"]) == ("Resque::DirtyExit", "Job still being processed")
    assert rec["worker"] == dead_id and rec["queue"] == "q" and rec["backtrace"] == []
    assert rec["payload"] == {"class": "Block", "args": ["a"]}
    assert r.get("resque:stat:failed") is None, "a pruned job is not counted in stat:failed"
    assert r.smembers("resque:workers") == {live_id.encode()}
    assert not r.exists(f"resque:worker:{dead_id}", f"resque:worker:{dead_id}:started")
    assert not r.hexists("resque:workers:heartbeat", dead_id)
    live.send_signal(signal.SIGQUIT)
    assert live.wait(15) == 0


def test_other_queue_sets_and_other_hosts_are_left_alone(r, resque, registry):
    for wid in (f"{HOST}:999999:other", f"elsewhere:999999:q"):
        r.sadd("resque:workers", wid)
        r.set(f"resque:worker:{wid}:started", "2026-01-01 00:00:00 +0000")
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False).work()
    assert r.smembers("resque:workers") == {f"{HOST}:999999:other".encode(), b"elsewhere:999999:q"}
    r.delete("resque:pruning_dead_workers_in_progress")
    # A '*' worker prunes every dead worker on its host, whatever its queues.
    Worker(resque, ["*"], interval_s=0, registry=registry, fork_per_job=False).work()
    assert r.smembers("resque:workers") == {b"elsewhere:999999:q"}


def test_an_expired_heartbeat_is_pruned_whatever_its_host(r, resque, registry):
    wid = "otherhost:111:high"
    r.sadd("resque:workers", wid)
    r.set(f"resque:worker:{wid}", '{"queue":"high","run_at":"2026-01-01T00:00:00Z","payload":{"class":"Foo","args":[1]}}')
    r.set(f"resque:worker:{wid}:started", "2026-01-01 00:00:00 +0000")
    r.set(f"resque:stat:processed:{wid}", 3)
    now, _ = r.time()
    from datetime import datetime, timezone
    r.hset("resque:workers:heartbeat", wid, datetime.fromtimestamp(now - 301, timezone.utc).isoformat())
    fresh = "otherhost:222:high"
    r.sadd("resque:workers", fresh)
    r.hset("resque:workers:heartbeat", fresh, datetime.fromtimestamp(now - 200, timezone.utc).isoformat())
    worker = Worker(resque, ["low"], interval_s=0, registry=registry, fork_per_job=False)
    worker.work()
    [rec] = failures(r)
    assert rec["exception"] == "Resque::PruneDeadWorkerDirtyExit"
    assert rec["error"] == f"Worker {wid} did not gracefully exit while processing Foo"
    assert rec["worker"] == wid and rec["queue"] == "high" and rec["payload"] == {"class": "Foo", "args": [1]}
    assert r.get("resque:stat:failed") is None
    assert r.smembers("resque:workers") == {fresh.encode()}
    assert not r.exists(f"resque:worker:{wid}", f"resque:worker:{wid}:started", f"resque:stat:processed:{wid}")
    assert r.hkeys("resque:workers:heartbeat") == [fresh.encode()]
