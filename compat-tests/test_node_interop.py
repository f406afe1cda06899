"""pyresque and the real node-resque (9.7, from npm) share a keyspace.

Jobs both ways with exact values, failures both ways (retried from either
side), node-resque's extra payload field kept where Ruby keeps it, and the
way Ruby's (and pyresque's) pruning treats a node-resque worker that has no
heartbeat.
"""

from __future__ import annotations

import json
from typing import Any

import redis as redis_py

from nodeside import RELEASE_KEY, RESULTS_KEY, Node, stop
from pyresque import Resque
from pyresque.keys import Keys
from pyresque.registry import Registry
from pyresque.worker import Worker
from testsupport import wait_until

K = Keys()
VALUES: list[Any] = [1, "two", 3.5, {"k": [None, True], "nested": {"a": [1, 2]}}, "😀 ünï / \\ \"q\"", -0.25,
                     2**53 - 1, [], {}]


def drain(resque: Resque, registry: Registry, queues: list[str]) -> None:
    Worker(resque, queues, registry=registry, interval_s=0, fork_per_job=False, handle_signals=False,
           unknown_jobs="fail").work()


def node_results(r: redis_py.Redis) -> list[dict[str, Any]]:
    return [json.loads(x) for x in r.lrange(RESULTS_KEY, 0, -1)]


def failures(r: redis_py.Redis) -> list[dict[str, Any]]:
    return [json.loads(x) for x in r.lrange(K.failed, 0, -1)]


def test_node_enqueues_pyresque_runs_with_exact_values(node: Node, resque: Resque, registry: Registry,
                                                       r: redis_py.Redis) -> None:
    seen = []
    records = []

    def echo(*args: Any) -> None:
        seen.append(list(args))
        records.extend(r.get(k) for k in r.scan_iter(K.worker("*")) if not k.endswith(b":started"))

    registry.register(echo, name="Echo")
    payload = node.enqueue("q", "Echo", VALUES)
    assert json.loads(payload) == {"class": "Echo", "queue": "q", "args": VALUES}
    assert list(json.loads(payload)) == ["class", "queue", "args"]  # node-resque's extra field, its order
    drain(resque, registry, ["q"])
    assert seen == [VALUES]
    # While it ran, worker:<id> held the payload exactly as queued, as Ruby's does.
    [record] = records
    assert record.decode().endswith(',"payload":' + payload + "}")
    assert int(r.get(K.processed_stat())) == 1


def test_pyresque_enqueues_node_runs_with_exact_values(node: Node, resque: Resque, r: redis_py.Redis) -> None:
    resque.enqueue_to("q", "Echo", *VALUES)
    node.work("q", 1)
    assert node_results(r) == [{"class": "Echo", "args": VALUES}]
    assert r.llen(K.queue("q")) == 0 and r.scard(K.workers) == 0


def test_node_payload_fails_in_pyresque_keeping_its_fields_and_node_retries_it(
        node: Node, resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    def explode(*args: Any) -> None:
        raise ValueError("python says no")

    registry.register(explode, name="Explode")
    queued = node.enqueue("q", "Explode", [1, "x"])
    drain(resque, registry, ["q"])
    [record] = failures(r)
    # As Ruby keeps it: the payload as queued, node's queue field and its order included.
    assert record["payload"] == json.loads(queued) and list(record["payload"]) == ["class", "queue", "args"]
    assert (record["exception"], record["error"], record["queue"]) == ("ValueError", "python says no", "q")
    assert list(record)[-1] == "failure_id"
    # node-resque's retry finds the record (its LREM re-encodes what it read) and enqueues it again.
    [seen_by_node] = node.failed()
    assert seen_by_node == record
    node.retry_failed(0)
    assert r.llen(K.failed) == 0
    assert json.loads(r.lindex(K.queue("q"), 0)) == {"class": "Explode", "queue": "q", "args": [1, "x"]}
    # and node-resque's worker runs it (it fails there too, with node's own record).
    node.work("q", 1)
    [node_record] = failures(r)
    assert node_record["payload"]["args"] == [1, "x"] and node_record["error"] == 'boom [1,"x"]'


def test_node_failure_is_listed_and_retried_by_pyresque(node: Node, resque: Resque, registry: Registry,
                                                        r: redis_py.Redis) -> None:
    resque.enqueue_to("q", "Explode", 7, {"deep": ["x"]})
    node.work("q", 1)
    [failure] = resque.failures.all()
    data = failure.data
    assert data is not None
    assert (data["exception"], data["worker"].count(":"), data["queue"]) == ("Error", 1, "q")
    assert data["payload"] == {"class": "Explode", "args": [7, {"deep": ["x"]}]}
    assert "GMT" in data["failed_at"]  # JavaScript's Date#toString, which pyresque reads as it is

    ran = []
    registry.register(lambda *args: ran.append(list(args)), name="Explode")
    resque.failures.requeue(0)
    assert "retried_at" in failures(r)[0]
    drain(resque, registry, ["q"])
    assert ran == [[7, {"deep": ["x"]}]]
    resque.failures.remove(0)
    assert r.llen(K.failed) == 0


def test_a_node_worker_without_heartbeat_is_pruned_while_it_runs(node: Node, r: redis_py.Redis,
                                                                 resque: Resque, registry: Registry) -> None:
    # What the README warns about: Ruby's rules (which pyresque's pruning
    # follows) drop a worker on this host that never heartbeats and whose
    # process title is not a Resque one, although it is alive and working.
    server = node.serve("q")
    try:
        nid = wait_until(lambda: next((m.decode() for m in r.smembers(K.workers)), None), 20, "node to register")
        node.enqueue("q", "Hold", [1])
        wait_until(lambda: r.exists(K.worker(nid)), 20, "node to start the job")
        drain(resque, registry, ["q"])  # a pyresque worker on the same queues starts, prunes, exits
        assert nid.encode() not in r.smembers(K.workers)
        assert not r.exists(K.worker(nid))
        [record] = failures(r)
        assert record["exception"] == "Resque::DirtyExit" and record["worker"] == nid
        assert server.poll() is None  # the node worker still runs its job
    finally:
        r.set(RELEASE_KEY, "1")
        stop(server)


def test_pyresque_failed_commands_handle_node_records(node: Node, resque: Resque, r: redis_py.Redis,
                                                      redis_server: str, capsys: Any) -> None:
    from pyresque.cli import main

    node.enqueue("q", "Explode", ["a"])
    node.enqueue("q", "Explode", ["b"])
    node.work("q", 2)
    assert main(["failed", "list", "--json", "--redis", redis_server]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(f["index"], f["payload"]["args"], f["error"], f["worker"].count(":")) for f in listed] == [
        (0, ["a"], 'boom ["a"]', 1), (1, ["b"], 'boom ["b"]', 1)]
    assert main(["failed", "show", "0", "--redis", redis_server]) == 0
    assert "GMT" in capsys.readouterr().out  # node's failed_at, shown as written
    assert main(["failed", "retry", "1", "--redis", redis_server]) == 0
    assert json.loads(r.lindex(K.queue("q"), 0)) == {"class": "Explode", "args": ["b"]}
    assert main(["failed", "clear-retried", "--redis", redis_server]) == 0
    assert main(["failed", "remove", "0", "--redis", redis_server]) == 0
    assert r.llen(K.failed) == 0


def test_a_node_delayed_job_is_found_and_removed_by_content(node, r, resque, ruby):
    """node-resque writes delayed items as class, queue, args: Ruby's
    remove_delayed (by exact bytes) never finds them; pyresque's does."""
    ts = int(r.time()[0]) + 3600
    node.enqueue_at(ts, "later", "Echo", [1, "x"])
    [item] = r.lrange(f"resque:delayed:{ts}", 0, -1)
    assert list(json.loads(item)) == ["class", "queue", "args"], "node's own key order"
    assert ruby.eval('require "resque-scheduler"; Resque.remove_delayed_in_queue("Echo", "later", 1, "x")') == 0
    assert resque.remove_delayed_in_queue("Echo", "later", 1, "x") == 1
    assert r.llen(f"resque:delayed:{ts}") == 0 and r.keys("resque:timestamps:*") == []
