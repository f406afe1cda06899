"""An idle worker starts a job at once, not at its next poll (notes §6.1).

Functional checks that the wake-up works (a job pushed by a raw RPUSH, as
Ruby pushes it, starts well within the 5 s default interval), not benchmarks.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis as redis_py

from pyjobs_procs import env_for, wait_title
from pyresque import wakeup
from pyresque.worker import Worker
from testsupport import wait_until


def done(r):
    return [x.decode() for x in r.lrange("t:done", 0, -1)]


def test_a_raw_rpush_wakes_an_idle_worker_at_once(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    for tag in ("a", "b"):
        t0 = time.monotonic()
        # What Ruby's Resque.push does, byte for byte.
        r.sadd("resque:queues", "q")
        r.rpush("resque:queue:q", f'{{"class":"Quick","args":["{tag}"]}}')
        wait_until(lambda: tag in done(r), 5, f"job {tag}")
        assert time.monotonic() - t0 < 1.0
        wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


def test_a_new_queue_matching_star_is_noticed_at_once(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "*")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for ?")  # no queues yet
    t0 = time.monotonic()
    r.sadd("resque:queues", "brand-new")
    r.rpush("resque:queue:brand-new", '{"class":"Quick","args":["n"]}')
    wait_until(lambda: done(r) == ["n"], 5, "the job on the new queue")
    assert time.monotonic() - t0 < 1.0
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for brand-new")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


def test_without_tracking_the_worker_still_works_by_polling(r, resque, registry, monkeypatch):
    class NoTracking(wakeup.QueueWatcher):
        def _connect(self):
            raise redis_py.ResponseError("unknown command 'CLIENT TRACKING'")

    monkeypatch.setattr("pyresque.worker.QueueWatcher", NoTracking)
    ran = []
    registry.register(lambda tag: ran.append(tag), name="Note")
    worker = Worker(resque, ["q"], interval_s=0.2, registry=registry, fork_per_job=False)
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: r.sismember("resque:workers", worker.id), 10, "registration")
        # The watcher is made just after registering.
        wait_until(lambda: worker._watcher is not None, 10, "the watcher")
        assert not worker._watcher.tracking
        resque.enqueue_to("q", "Note", "p")
        wait_until(lambda: ran == ["p"], 5, "the job, found by polling")
    finally:
        worker.shutdown_requested = True
        thread.join(10)
    assert not thread.is_alive()
    assert r.smembers("resque:workers") == set()


def _clients(r, flag):
    return [c for c in r.client_list() if flag in c.get("flags", "")]


@pytest.mark.parametrize("flag", ["t", "P"], ids=["tracking-connection", "subscriber"])
def test_a_dropped_notification_connection_does_not_slow_pickup(r, procs, redis_server, flag):
    """Redis' idle ``timeout``, a proxy or CLIENT KILL can close either of the
    watcher's connections; the next job must still start at once."""
    proc = procs.worker(redis_server, "-q", "q")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    [victim] = wait_until(lambda: _clients(r, flag), 5, f"the worker's {flag!r} connection")
    r.client_kill_filter(_id=victim["id"])
    # The watcher reconnects (a new connection with the flag appears)...
    wait_until(lambda: [c for c in _clients(r, flag) if c["id"] != victim["id"]], 5, "a new connection")
    t0 = time.monotonic()
    r.rpush("resque:queue:q", '{"class":"Quick","args":["k"]}')
    # ...and a push right after is still noticed at once.
    wait_until(lambda: done(r) == ["k"], 6, "the job")
    assert time.monotonic() - t0 < 1.0
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own, which the test may stop and restart."""
    import shutil
    import subprocess

    from testsupport import free_port

    port = free_port()
    cmd = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", str(tmp_path), "--loglevel", "warning"]
    servers = []

    def start():
        servers.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
        client = redis_py.Redis(port=port)
        wait_until(lambda: _pings(client), 10, "the private redis-server")
        return client

    def stop():
        servers[-1].terminate()
        servers[-1].wait(10)

    yield f"redis://127.0.0.1:{port}/0", start, stop
    for server in servers:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def _pings(client):
    try:
        return client.ping()
    except redis_py.ConnectionError:
        return False


def test_after_a_redis_restart_the_worker_polls_then_is_woken_again(procs, private_redis):
    url, start, stop = private_redis
    r = start()
    proc = procs.worker(url, "-q", "q")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    stop()
    r = start()
    # The first job is found by the worker's retry after its interval (5 s, as Ruby)...
    r.rpush("resque:queue:q", '{"class":"Quick","args":["first"]}')
    wait_until(lambda: done(r) == ["first"], 15, "the first job after the restart")
    # ...and then notifications are back: the next push is noticed at once.
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    wait_until(lambda: _clients(r, "t"), 5, "tracking to be turned back on")
    t0 = time.monotonic()
    r.rpush("resque:queue:q", '{"class":"Quick","args":["second"]}')
    wait_until(lambda: done(r) == ["first", "second"], 10, "the second job")
    assert time.monotonic() - t0 < 1.0
    assert proc.poll() is None
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    r.close()


def started(r):
    return [x.decode().rpartition(":")[0] for x in r.lrange("t:started", 0, -1)]


@pytest.mark.parametrize("mode", [[], ["--no-fork"]], ids=["fork", "no-fork"])
def test_a_star_worker_leaves_out_empty_queues_yet_keeps_priority_order(r, procs, redis_server, mode):
    # 30 queues, jobs in the last only: the worker soon reserves from that one
    # alone. A job pushed meanwhile to an earlier queue must still be next.
    names = [f"p{i:02d}" for i in range(30)]
    r.sadd("resque:queues", *names)
    for tag in ("a", "b", "c"):
        r.rpush("resque:queue:p29", f'{{"class":"Block","args":["{tag}"]}}')
    proc = procs.worker(redis_server, "-q", "*", *mode, env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wait_until(lambda: started(r) == ["a"], 10, "job a")
    r.set("t:release:a", 1)
    wait_until(lambda: started(r) == ["a", "b"], 10, "job b, after every queue was seen empty")
    r.rpush("resque:queue:p03", '{"class":"Block","args":["urgent"]}')  # as Ruby pushes it
    r.set("t:release:b", 1)
    wait_until(lambda: len(started(r)) == 3, 10, "the next job")
    assert started(r) == ["a", "b", "urgent"]
    for tag in ("urgent", "c"):
        r.set(f"t:release:{tag}", 1)
    wait_until(lambda: done(r) == ["a", "b", "urgent", "c"], 10, "every job")
    # Emptied by the worker, written again by anyone: picked up at once.
    r.rpush("resque:queue:p00", '{"class":"Quick","args":["late"]}')
    wait_until(lambda: done(r)[-1:] == ["late"], 5, "a job on a queue seen empty")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0


def test_the_written_keys_a_watcher_remembers_are_bounded(r, redis_server):
    # The scheduler waits on a watcher and never asks for changes(): what it
    # hears must not pile up. Past the bound it remembers "anything changed".
    from pyresque.client import Resque

    resque = Resque(redis_server)
    watcher = wakeup.QueueWatcher(resque.redis, resque.layout, None)
    assert watcher.start()
    assert watcher.changes() == (True, set())  # nothing was watched before start
    r.rpush("resque:queue:a", "x")
    wait_until(lambda: watcher.wait(0.05), 5, "the notification")
    assert watcher.changes() == (False, {b"resque:queue:a"})
    pipe = r.pipeline(transaction=False)
    for i in range(wakeup._MAX_CHANGED + 10):
        pipe.rpush(f"resque:queue:q{i}", "x")
    pipe.execute()
    wait_until(lambda: watcher.wait(0.05) and len(watcher._changed) == 0 and watcher._all_changed, 10,
               "the watcher to give up remembering keys")
    assert watcher.changes()[0] is True
    watcher.close()


@pytest.mark.parametrize("mode", [[], ["--no-fork"]], ids=["fork", "no-fork"])
def test_a_star_worker_works_a_queue_whose_name_is_not_utf8(r, procs, redis_server, mode):
    # The name's bytes reach the queue's key unchanged, the title and logs
    # show U+FFFD, and a write to it after it was seen empty still wakes the worker.
    r.sadd("resque:queues", b"bad\xff", "good")
    r.rpush(b"resque:queue:bad\xff", '{"class":"Quick","args":["in bad"]}')
    r.rpush("resque:queue:good", '{"class":"Quick","args":["in good"]}')
    proc = procs.worker(redis_server, "-q", "*", *mode)
    wait_until(lambda: sorted(done(r)) == ["in bad", "in good"], 10, "both queues' jobs")
    wait_title(proc.pid, "resque-3\\.0\\.0: Waiting for bad\ufffd,good")
    r.rpush(b"resque:queue:bad\xff", '{"class":"Quick","args":["later"]}')
    wait_until(lambda: done(r)[-1:] == ["later"], 5, "a job on the bad-named queue seen empty")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
