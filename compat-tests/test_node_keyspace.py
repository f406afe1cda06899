"""`pyresque check` on a keyspace the real node-resque wrote, and resque-web on a mixed one.

The check must report exactly node-resque's real deviations, each with its
consequence, and raise no false alarm (no error at all: Ruby reads every
value node-resque writes). resque-web must render every page of a keyspace
that pyresque, node-resque and Ruby workers share.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import redis as redis_py

from nodeside import RELEASE_KEY, Node, stop
from pyresque.check import ERROR, NOTE, WARNING, check, format_problems, format_report
from pyresque.keys import Keys
from testsupport import wait_until
from webside import quote_id, text_of

K = Keys()
HOST = socket.gethostname()


def registered(r: redis_py.Redis) -> set[str]:
    return {m.decode() for m in r.smembers(K.workers)}


def node_keyspace(node: Node, r: redis_py.Redis):
    """What a node-resque app leaves: failures, stats, a delayed job, a queued job, a busy worker.

    Returns the running worker process and its id.
    """
    for n in range(3):
        node.enqueue("done", "Explode", [n])
    node.enqueue("done", "Shrug", [])  # throws a string: no exception, no error, a null backtrace
    node.work("done", 4)
    node.enqueue_at(int(r.time()[0]) + 3600, "later", "Echo", [1])
    node.enqueue("later", "Echo", ["waiting"])
    server = node.serve("work")
    nid = wait_until(lambda: next(iter(registered(r)), None), 20, "the node worker to register")
    node.enqueue("work", "Echo", ["first"])
    wait_until(lambda: r.get(K.processed_stat(nid.rsplit(":", 1)[0])), 20, "the node worker's first job")
    # 2**60 and "/" are what Lua cjson, which writes node's worker:<id>, cannot copy.
    node.enqueue("work", "Hold", [2**60, "a/b"])
    wait_until(lambda: r.exists(K.worker(nid)), 20, "the node worker to take the Hold job")
    return server, nid


def test_check_reports_exactly_node_resques_deviations(node: Node, r: redis_py.Redis) -> None:
    server, nid = node_keyspace(node, r)
    try:
        problems = check(r, K)
    finally:
        r.set(RELEASE_KEY, "1")
        stop(server)
    name = nid.rsplit(":", 1)[0]  # node-resque's own name for itself, host:pid
    delayed = [k.decode() for k in r.scan_iter(K.prefix + "delayed:*")]
    assert len(delayed) == 1
    expected = [
        (WARNING, "failed", "record 0 failed_at"), (WARNING, "failed", "record 0 worker"),
        (WARNING, "failed", "record 1 failed_at"), (WARNING, "failed", "record 1 worker"),
        (WARNING, "failed", "record 2 failed_at"), (WARNING, "failed", "record 2 worker"),
        (WARNING, "failed", "record 3 failed_at"), (WARNING, "failed", "record 3 worker"),
        (WARNING, "failed", "record 3 has no exception, error, backtrace (null)"),
        (WARNING, "stat:processed", "less than stat:failed"),
        (WARNING, f"stat:processed:{name}", "a dead worker leaves it behind"),
        (WARNING, f"worker:{nid}", "run_at"),
        (WARNING, f"worker:{nid}", "re-encoded lossily"),
        (NOTE, f"worker:{nid}", "'worker'"),
        (WARNING, f"worker:{nid}:started", "epoch seconds"),
        (WARNING, "workers", "has no heartbeat"),
        (NOTE, f"worker:ping:{name}", "node-resque's liveness key"),
        (WARNING, K.strip(delayed[0]), "remove_delayed"),
        (WARNING, 'timestamps:{"class":"Echo","queue":"later","args":[1]}', "remove_delayed"),
        (WARNING, "queue:later", "'queue' (node-resque's)"),
    ]
    report = format_problems(problems)
    assert not [p for p in problems if p.severity == ERROR], report
    unmatched = list(problems)
    for severity, bare, fragment in expected:
        hits = [p for p in unmatched if p.key == K.prefix + bare and fragment in p.message and p.severity == severity]
        assert len(hits) == 1, f"{severity} {bare} {fragment!r}:\n{report}"
        unmatched.remove(hits[0])
    assert unmatched == [], report
    for p in problems:
        assert p.section and (p.severity == NOTE or p.reader != "none"), p
    # The README's sample report is this report, abridged.
    real = {_shape(row) for row in format_report(problems, "resque").splitlines() if row.startswith("| ")}
    shown = README_SAMPLE.search((ROOT / "README.md").read_text())
    assert shown, "the README's sample report is missing"
    rows = [row for row in shown.group(1).splitlines() if row.startswith("| ")]
    assert len(rows) > 5 and [row for row in rows if _shape(row) not in real] == [], report
    counts = shown.group(1).split("0 errors, ", 1)[1].split(".", 1)[0]
    assert format_report(problems, "resque").count(f"0 errors, {counts}.") == 1, counts


README_SAMPLE = re.compile(r"\$ pyresque check --report\n(.*?)```", re.S)
ROOT = Path(__file__).resolve().parent.parent


def _shape(row: str) -> str:
    """A report row with what differs between runs (host, pids, times, timestamps) taken out."""
    row = row.replace(HOST, "HOST")
    row = re.sub(r"'[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{4} [^']*'", "'DATE'", row)
    return re.sub(r"\d+", "N", row)


def test_resque_web_renders_a_keyspace_of_pyresque_node_and_ruby(node: Node, ruby, web, procs, resque,
                                                                 r: redis_py.Redis) -> None:
    server, nid = node_keyspace(node, r)
    try:
        # A Ruby failure and a Python one beside node's; a busy Python and an idle Ruby worker.
        ruby.enqueue("record", "Exploder", [1])
        ruby.work("record")
        resque.enqueue_to("record", "Exploder", 2)
        py = procs.py("record")
        wait_until(lambda: r.llen(K.failed) == 6, 30, "the Python failure")
        resque.enqueue_to("record", "Waiter", "pyresque-test:py-release", "busy")
        py_id = f"{HOST}:{py.pid}:record"
        wait_until(lambda: r.exists(K.worker(py_id)), 30, "the Python worker to take Waiter")
        rb = procs.ruby("idle")
        rb_id = f"{HOST}:{rb.pid}:idle"
        wait_until(lambda: rb_id in registered(r), 60, "the Ruby worker to register")
        assert {nid, py_id, rb_id} <= registered(r)

        overview = text_of(web.get("/overview"))
        assert "2 of 3 Workers Working" in overview, overview
        for path in ("/workers", "/workers/all", f"/workers/{HOST}", "/working", "/failed", "/failed?start=0",
                     "/queues/later", "/queues/work", "/queues/record", "/stats/resque", "/stats/redis",
                     "/stats/keys", "/stats.txt", f"/stats/keys/{quote_id('worker:' + nid)}",
                     f"/stats/keys/{quote_id('worker:ping:' + nid.rsplit(':', 1)[0])}"):
            web.get(path)
        for wid in (nid, py_id, rb_id):
            assert wid in text_of(web.get(f"/workers/{quote_id(wid)}"))
            web.get(f"/working/{quote_id(wid)}")
        failed = text_of(web.get("/failed"))
        assert "Showing 0 to 5 jobs" in failed and "boom [0]" in failed and "exploded with [2]" in failed, failed
        # Ruby's own view of the same workers and failures.
        seen = ruby.eval("[Resque::Worker.all.map(&:to_s).sort, Resque::Failure.all(0, 6).map { |f| f['queue'] }]")
        assert seen == [sorted([nid, py_id, rb_id]), ["done", "done", "done", "done", "record", "record"]]
    finally:
        r.set(RELEASE_KEY, "1")
        r.set("pyresque-test:py-release", "1")
        stop(server)


def test_a_node_multiworker_is_a_warning_that_resque_web_renders(node: Node, web, r: redis_py.Redis) -> None:
    # node-resque's MultiWorker names its workers host:pid+N: not a pid Ruby's
    # pruning can find, yet nothing Ruby reads breaks on it.
    server = node.serve("multi", "serve-multi")
    try:
        mid = wait_until(lambda: next(iter(registered(r)), None), 20, "the MultiWorker's worker to register")
        assert mid.startswith(f"{HOST}:{server.pid}+1:"), mid
        node.enqueue("multi", "Shrug", [])
        wait_until(lambda: r.llen(K.failed) == 1, 20, "the MultiWorker's failure")
        problems = check(r, K)
        report = format_problems(problems)
        assert not [p for p in problems if p.severity == ERROR], report
        pid_warnings = [p for p in problems if "MultiWorker writes pid+N" in p.message]
        assert [(p.severity, p.key) for p in pid_warnings] == [(WARNING, K.workers)], report
        assert [p for p in problems if p.key == K.failed and "has no exception, error, backtrace (null)" in p.message]
        for path in ("/overview", "/workers", "/working", f"/workers/{quote_id(mid)}", f"/working/{quote_id(mid)}",
                     "/failed"):
            web.get(path)  # raises unless 200
        assert mid in text_of(web.get(f"/workers/{quote_id(mid)}"))
    finally:
        stop(server)
