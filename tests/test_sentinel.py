"""Redis Sentinel: pyresque finds the primary through Sentinel and follows a failover.

Real processes throughout: a primary, a replica and three ``redis-sentinel``
on loopback (tests/faultkit.py), real ``python -m pyresque`` commands and
workers. Outside CI the tests skip when redis-sentinel is not installed;
under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import redis as redis_py

from faultkit import LOOPBACK, SentinelCluster, sentinel_binary
from pyjobs_procs import Procs, env_for, pyresque_cmd
from pyresque import ConnectionFailed, Resque, Worker
from pyresque.connection import clone, raw_connection
from testsupport import wait_until

HOST = socket.gethostname()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def cluster():
    if sentinel_binary() is None or shutil.which("redis-server") is None:
        message = "redis-sentinel not found: apt-get install redis-sentinel (and redis-server)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    c = SentinelCluster()
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.kill_all()


def payloads(client, key: str) -> list[dict]:
    return [json.loads(x) for x in client.lrange(key, 0, -1)]


def test_the_client_enqueues_through_sentinel_onto_the_primary(cluster, registry):
    primary = cluster.client(cluster.primary_port())
    by_url = Resque(cluster.url, "myapp", registry=registry)
    by_keywords = Resque(sentinel=cluster.sentinels, service_name=cluster.service, registry=registry)
    assert by_url.enqueue_to("q", "Archive", 1)
    assert by_keywords.enqueue_to("q", "Archive", 2)
    # The namespace stays a setting of its own, as with redis:// URLs.
    assert payloads(primary, "myapp:queue:q") == [{"class": "Archive", "args": [1]}]
    assert payloads(primary, "resque:queue:q") == [{"class": "Archive", "args": [2]}]
    assert by_url.size("q") == 1 and by_keywords.queues() == ["q"]
    assert by_url.info()["servers"] == [f"{cluster.url}/myapp"]


def test_every_command_finds_the_primary_through_sentinel(cluster, tmp_path):
    performed = tmp_path / "performed.txt"
    env = env_for(cluster.url)  # REDIS_URL

    def run(*args: str) -> str:
        result = subprocess.run(pyresque_cmd(*args), env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    run("enqueue", "q", "Record", json.dumps(str(performed)), '"one"')
    run("enqueue", "q", "NoSuchJob", "--redis", cluster.url)
    assert run("queues").split() == ["q", "2"]
    assert json.loads(run("info", "--json"))["servers"] == [f"{cluster.url}/resque"]
    assert json.loads(run("peek", "q", "--json"))[0]["class"] == "Record"
    run("work", "-q", "q", "-i", "0", "--import", "pyjobs_files", "--unknown-jobs", "fail")
    assert performed.read_text() == "one\n"
    assert "NoSuchJob" in run("failed", "list")
    assert run("workers") == "(no workers)\n"
    run("check")
    primary = cluster.client(cluster.primary_port())
    assert primary.get("resque:stat:processed") == b"2" and primary.llen("resque:failed") == 1


def test_a_client_on_a_demoted_primary_gets_one_connection_error_then_reaches_the_new_one(cluster, registry):
    resque = Resque(cluster.url, registry=registry)
    assert resque.enqueue_to("q", "Archive", "before")  # a pooled connection to the old primary
    worker = Worker(Resque(cluster.url, registry=registry), ["empty"], interval_s=0, fork_per_job=False,
                    registry=registry)
    assert worker.work_one_job() == "empty"  # and the worker's
    old = cluster.primary_port()
    cluster.client(cluster.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", cluster.service)
    new = cluster.wait_failover(old)
    # Sentinel demotes the old primary some seconds later, and kills its
    # clients as it does. Demote it now without the kill, so our connection
    # is still open when it turns replica and refuses the write (READONLY).
    cluster.client(old).execute_command("REPLICAOF", LOOPBACK, str(new))
    with pytest.raises(ConnectionFailed, match=r"cannot reach Redis at redis\+sentinel://.*previous master"):
        resque.enqueue_to("q", "Archive", "refused")
    assert resque.enqueue_to("q", "Archive", "after")
    # The worker's loop retries on exactly this error, and then works on.
    with pytest.raises(redis_py.ConnectionError, match="previous master"):
        worker.work_one_job()
    assert worker.work_one_job() == "empty"
    assert payloads(cluster.client(new), "resque:queue:q") == [
        {"class": "Archive", "args": ["before"]}, {"class": "Archive", "args": ["after"]}]
    # The worker's extra connections follow the primary too.
    conn = raw_connection(resque.redis)
    try:
        conn.connect()
        assert conn.port == new
    finally:
        conn.disconnect()
    copy = clone(resque.redis)
    assert copy.execute_command("ROLE")[0] == b"master" and copy.llen("resque:queue:q") == 2
    copy.close()


def test_a_worker_keeps_working_across_a_failover(cluster, procs, tmp_path, registry):
    """Kill -9 the primary while a worker works and jobs keep arriving through Sentinel.

    Every job whose enqueue was acknowledged must end up performed (a line
    in a file, outside Redis) or a failure record, or at worst still
    queued: never lost. The worker must be registered on the new primary.
    """
    performed = tmp_path / "performed.txt"
    performed.touch()
    log = open(tmp_path / "worker.log", "wb")
    worker = procs.run(pyresque_cmd("work", "-q", "q", "--import", "pyjobs_files", "--redis", cluster.url),
                       env_for(cluster.url), stderr=log)
    log.close()
    worker_id = f"{HOST}:{worker.pid}:q"
    wait_until(lambda: cluster.client(cluster.primary_port()).sismember("resque:workers", worker_id), 15,
               "the worker to register")

    acked: list[str] = []
    stop = threading.Event()

    def enqueue_steadily() -> None:
        # A steady trickle, so jobs arrive before, during and after the failover.
        client = Resque(cluster.url, registry=registry)
        n = 0
        while not stop.is_set():
            tag = f"job-{n}"
            n += 1
            try:
                client.enqueue_to("q", "Record", str(performed), tag)
            except ConnectionFailed:
                stop.wait(0.05)  # failing over: not acknowledged, so no promise; carry on
                continue
            acked.append(tag)
            stop.wait(0.05)

    def done() -> set[str]:
        return set(performed.read_text().split())

    enqueuer = threading.Thread(target=enqueue_steadily, name="enqueuer", daemon=True)
    enqueuer.start()
    try:
        wait_until(lambda: len(done()) >= 5, 15, "the worker to perform jobs before the failover")
        old = cluster.kill_primary()
        new = cluster.wait_failover(old)
        acked_by_new = len(acked)
        wait_until(lambda: len(acked) >= acked_by_new + 10, 20, "enqueues through the new primary")
    finally:
        stop.set()
        enqueuer.join(10)
    primary = cluster.client(new)

    def failed() -> set[str]:
        return {f["payload"]["args"][1] for f in payloads(primary, "resque:failed")}

    def missing() -> list[str]:
        accounted = done() | failed()
        return [tag for tag in acked if tag not in accounted]

    try:
        wait_until(lambda: not missing(), 30, "every acknowledged job to be performed or failed")
    except AssertionError:
        pass
    queued = {p["args"][1] for p in payloads(primary, "resque:queue:q")}
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    lost = [tag for tag in missing() if tag not in queued]
    # A job whose reservation reply was lost at the kill would show up here;
    # the worker's lost-reply handling is being fixed separately.
    assert not lost, f"acknowledged jobs lost in the failover: {lost}\nworker log:\n{worker_log}"
    assert not missing(), f"the worker stopped working the queue; still queued: {missing()}\nworker log:\n{worker_log}"
    assert worker.poll() is None, worker_log
    wait_until(lambda: primary.sismember("resque:workers", worker_id), 15, "the worker registered on the new primary")

    worker.send_signal(signal.SIGQUIT)
    assert worker.wait(15) == 0, worker_log
    assert not primary.sismember("resque:workers", worker_id)
    assert Path(performed).read_text().count("\n") >= len(acked)
