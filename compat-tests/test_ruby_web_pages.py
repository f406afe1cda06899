"""What the real resque-web shows of a Python worker (issue #3).

A module-wide ``resque-web`` (Resque 3.0.3, Sinatra on puma) reads the
test's Redis over HTTP while a real ``python -m pyresque work`` process
works. The tests read the HTML it renders: worker id, host, pid, queues,
the job's class, queue and args, started/heartbeat times, stats.
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest

from testsupport import wait_until
from webside import HOST, ResqueWeb, quote_id, stop, text_of, worker_id

RELEASE = "pyresque-test:release"


def registered(r) -> set[str]:
    return {m.decode() for m in r.smembers("resque:workers")}


@pytest.fixture
def busy_python_worker(r, procs, resque):
    """A Python worker that processed 2 jobs (1 failed) and is now inside a Waiter."""
    py = procs.py("record,mail")
    wid = worker_id(py, "record,mail")
    wait_until(lambda: wid in registered(r), 30, "the worker to register")
    resque.enqueue_to("record", "Recorder", 1)
    resque.enqueue_to("mail", "Exploder", "boom")
    wait_until(lambda: int(r.get("resque:stat:processed") or 0) == 2, 30, "two jobs to be processed")
    resque.enqueue_to("mail", "Waiter", RELEASE, "web", {"count": 7})
    wait_until(lambda: r.get(f"resque:worker:{wid}"), 30, "the worker to take the Waiter")
    try:
        yield py, wid
    finally:
        r.set(RELEASE, "1")


def test_empty_pages_render(web, r):
    assert "0 of 0 Workers Working" in text_of(web.get("/overview"))
    # No host has workers: resque-web lists hosts, with an "all workers" row of 0.
    assert "all workers 0" in text_of(web.get("/workers"))
    assert "There are no registered workers" in text_of(web.get("/workers/all"))
    assert "Failed Jobs No jobs" in text_of(web.get("/failed"))


def test_overview_and_working_show_the_python_job(web, r, busy_python_worker):
    py, wid = busy_python_worker
    job = json.loads(r.get(f"resque:worker:{wid}"))
    for path in ("/overview", "/working", "/overview.poll"):
        page = web.get(path)
        text = text_of(page)
        assert "1 of 1 Workers Working" in text, path
        assert f"{HOST}:{py.pid}" in text, path
        assert f'href="/workers/{wid}"' in page, path
        assert re.search(r'class="queue-tag" href="/queues/mail">mail</a>', page), path
        assert "<code>Waiter</code>" in page, path
        assert f'href="/working/{wid}">{job["run_at"]}</a>' in page, path
    text = text_of(web.get("/overview"))
    assert re.search(r"\bmail 0\b", text) and re.search(r"\brecord 0\b", text)

    page = web.get(f"/working/{quote_id(wid)}")
    text = text_of(page)
    assert f"{wid}'s job" in text
    assert f"{HOST}:{py.pid} mail {job['run_at']} Waiter" in text
    # Args are rendered one YAML document per argument, as for a Ruby job.
    assert "--- pyresque-test:release --- web --- count: 7" in text


def test_workers_pages_show_host_pid_queues_times_and_stats(web, r, busy_python_worker):
    py, wid = busy_python_worker
    for path in ("/workers", "/workers.poll", "/workers/all"):
        page = web.get(path)
        text = text_of(page)
        assert "1 Workers" in text, path
        assert f'<a href="/workers/{wid}">{HOST}:{py.pid}</a>' in page, path
        assert '<a class="queue-tag" href="/queues/record">record</a><a class="queue-tag" href="/queues/mail">mail</a>' in page
        assert "<code>Waiter</code>" in page, path
        assert 'class="working"' in page, path
    for path in (f"/workers/{quote_id(wid)}", f"/workers/{quote_id(wid)}.poll"):
        page = web.get(path)
        text = text_of(page)
        assert f"Worker {wid}" in text, path
        started = r.get(f"resque:worker:{wid}:started").decode()
        beat = r.hget("resque:workers:heartbeat", wid).decode()
        # Heartbeat goes through Time.parse and back: "2026-11-23 03:22:31 +0000".
        beat_shown = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.strptime(beat[:19], "%Y-%m-%dT%H:%M:%S"))
        assert beat.endswith("+00:00")
        assert f'<span class="time">{started}</span>' in page
        assert f'<span class="time">{beat_shown}</span>' in page
        assert re.search(rf"{re.escape(HOST)} {py.pid} {re.escape(started)} {re.escape(beat_shown)} record mail 2 1 Waiter", text), text
        assert 'alt="working"' in page
    # A worker of this host is listed under its host too.
    assert f"Worker {wid}" not in text_of(web.get(f"/workers/{HOST}"))
    assert "1 Workers" in text_of(web.get(f"/workers/{HOST}"))


def test_stats_pages_count_python_work(web, r, busy_python_worker):
    py, wid = busy_python_worker
    text = text_of(web.get("/stats/resque"))
    for key, value in (("environment", "development"), ("failed", 1), ("pending", 0), ("processed", 2),
                       ("queues", 2), ("workers", 1), ("working", 1)):
        assert re.search(rf"\b{key} {value}\b", text), (key, text)
    assert "resque.processed+=2" in web.get("/stats.txt")
    assert "resque.working=1" in web.get("/stats.txt")
    keys = text_of(web.get("/stats/keys"))
    for key in (f"worker:{wid} string", f"worker:{wid}:started string", "workers:heartbeat hash",
                f"stat:processed:{wid} string 1", f"stat:failed:{wid} string 1", "failed list 1"):
        assert key in keys, key
    assert "Waiter" in text_of(web.get(f"/stats/keys/{quote_id('worker:' + wid)}"))


def test_an_idle_python_worker_is_waiting(web, r, procs):
    py = procs.py("*")
    wid = worker_id(py, "*")
    wait_until(lambda: wid in registered(r), 30, "the worker to register")
    page = web.get(f"/workers/{quote_id(wid)}")
    assert "Waiting for a job..." in text_of(page) and 'alt="idle"' in page
    assert "0 of 1 Workers Working" in text_of(web.get("/overview"))
    assert stop(py) == 0
    assert "Worker doesn't exist" in text_of(web.get(f"/workers/{quote_id(wid)}"))


def test_failed_page_shows_a_python_failure(web, r, procs, resque, redis_server):
    resque.enqueue_to("mail", "Exploder", "<b>&", 3)
    py = procs.py("mail", interval="0")
    assert py.wait(60) == 0
    [raw] = r.lrange("resque:failed", 0, -1)
    record = json.loads(raw)
    page = web.get("/failed")
    text = text_of(page)
    assert "Showing 1 job" in text
    # Worker link and host:pid, queue, failed_at re-rendered as %Y/%m/%d %T %z.
    wid = record["worker"]
    assert f'<a href="/workers/{wid}">{HOST}:{py.pid}</a>' in page
    failed_at = record["failed_at"].replace(" UTC", " +0000")
    assert f"on mail at {failed_at}" in text
    assert "Class Exploder" in text
    assert 'Arguments --- "<b>&" --- 3' in text
    assert "&lt;b&gt;&amp;" in page  # escaped, as for Ruby jobs
    assert f"Exception {record['exception']}" in text and record["exception"].endswith("ArgumentError")
    assert "exploded with [&#39;&lt;b&gt;&amp;&#39;, 3]" in page
    backtrace = html.unescape(re.search(r"<pre style='display:none'>(.*?)</pre>", page, re.S).group(1))
    assert backtrace.split("\n") and "pyjobs_worker.py" in backtrace and ":in `exploder'" in backtrace
    assert web.retry_control("/failed/requeue/0") in page
    # The class filter finds it by its wire name.
    assert "Failed Jobs with class 'Exploder' Showing 1 job" in text_of(web.get("/failed?class=Exploder"))


# A nested namespace ------------------------------------------------------------------
NS = "app:ns"


@pytest.fixture(scope="module")
def ns_web(ruby_available, redis_server):
    with ResqueWeb(redis_server, namespace=NS).running() as server:
        yield server


def test_a_namespaced_python_worker_is_seen_and_pruned_in_its_namespace(ns_web, web, r, procs, redis_server):
    from pyresque import Resque
    from rubyside import Ruby
    from webside import kill_hard

    ruby = Ruby(redis_server, namespace=NS)
    client = Resque(redis_server, NS)
    py = procs.py("record", RESQUE_NAMESPACE=NS)
    wid = worker_id(py, "record")
    wait_until(lambda: r.sismember(f"{NS}:workers", wid), 30, "the worker to register in its namespace")
    client.enqueue_to("record", "Exploder", 1)
    client.enqueue_to("record", "Waiter", RELEASE, "ns")
    wait_until(lambda: b"Waiter" in (r.get(f"{NS}:worker:{wid}") or b""), 30, "the worker to take the Waiter")

    text = text_of(ns_web.get(f"/workers/{quote_id(wid)}"))
    assert re.search(rf"{re.escape(HOST)} {py.pid} .* record 1 1 Waiter", text), text
    assert "1 of 1 Workers Working" in text_of(ns_web.get("/overview"))
    assert "Class Exploder" in text_of(ns_web.get("/failed"))
    # The default namespace sees nothing of it.
    assert "0 of 0 Workers Working" in text_of(web.get("/overview"))
    assert ruby.eval("[Resque::Worker.all.map(&:to_s), Resque.info[:processed]]") == [[wid], 1]

    # Killed, it is pruned by a Ruby worker of the same namespace.
    kill_hard(py)
    r.delete(f"{NS}:pruning_dead_workers_in_progress")
    ruby.work("record")
    assert not r.sismember(f"{NS}:workers", wid)
    failed = [json.loads(x) for x in r.lrange(f"{NS}:failed", 0, -1)]
    assert [(f["exception"], f["worker"]) for f in failed][-1] == ("Resque::DirtyExit", wid)
    assert "Worker doesn't exist" in text_of(ns_web.get(f"/workers/{quote_id(wid)}"))
