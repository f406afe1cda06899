"""pyresque's dashboard and the real resque-web, side by side on one keyspace (issue 9).

Ruby and Python workers run and fail jobs; both dashboards must show the
same numbers on overview, queues, failed and workers, and an action taken in
one must be seen in the other.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from testsupport import Dashboard, wait_until
from webside import Procs, text_of, worker_id


@pytest.fixture
def dashboard(ruby_available: None, r: Any, redis_server: str) -> Iterator[Dashboard]:
    with Dashboard(redis_server) as web:
        yield web


def stats_txt(web: Any) -> dict[str, int]:
    """resque-web's /stats.txt: Resque.info and every queue's size."""
    out = {}
    for line in web.get("/stats.txt").splitlines():
        name, _, value = line.replace("+=", "=").partition("=")
        out[name] = int(value)
    return out


def registered(r: Any) -> set[str]:
    return {m.decode() for m in r.smembers("resque:workers")}  # not-a-key: test data


@pytest.fixture
def shared_keyspace(ruby: Any, resque: Any, procs: Procs, r: Any) -> dict[str, str]:
    """Failures written by Ruby and by Python, jobs waiting, and one idle worker of each runtime."""
    ruby.enqueue("record", "Exploder", [1])
    ruby.enqueue("record", "Exploder", [2])
    ruby.work("record")
    resque.enqueue_to("record", "Exploder", "py")
    drained = procs.py("record", interval="0")
    assert drained.wait(60) == 0, procs.logs()
    ruby.enqueue("mail", "Mailers::Welcome", [1])
    resque.enqueue_to("record", "Recorder", 5)
    resque.enqueue_to("low", "Recorder", 6)
    rb = procs.ruby("idle_rb")
    py = procs.py("idle_py")
    ids = {"ruby": worker_id(rb, "idle_rb"), "python": worker_id(py, "idle_py")}
    wait_until(lambda: set(ids.values()) <= registered(r), 60, "both workers to register")
    return ids


def test_both_dashboards_show_the_same_numbers(web: Any, dashboard: Dashboard, shared_keyspace: dict[str, str]) -> None:
    theirs = stats_txt(web)
    ours = dashboard.get_json("/api/overview")
    assert ours["pending"] == theirs["resque.pending"] == 3
    assert ours["processed_total"] == theirs["resque.processed"] == 3
    assert ours["failed"] == theirs["resque.failed"] == 3
    assert ours["workers"] == theirs["resque.workers"] == 2
    assert len(ours["working"]) == theirs["resque.working"] == 0
    queues = {q["name"]: q["size"] for q in dashboard.get_json("/api/queues")}
    assert queues == {k[len("queues."):]: v for k, v in theirs.items() if k.startswith("queues.")}
    # Failed: the same records, the same classes and messages, in the same order.
    failed_page = text_of(web.get("/failed"))
    assert failed_page.count("exploded with") == 3
    items = dashboard.get_json("/api/failed?order=oldest")["items"]
    assert [i["error"] for i in items] == ["exploded with [1]", "exploded with [2]", "exploded with ['py']"]
    for item in items:
        assert item["error"] in failed_page and item["exception"] in failed_page
    # Workers: every worker resque-web lists, with the same hosts and queues.
    theirs_workers = text_of(web.get("/workers/all"))
    ours_workers = dashboard.get_json("/api/workers")["workers"]
    assert {w["id"] for w in ours_workers} == set(shared_keyspace.values())
    for w in ours_workers:
        assert f"{w['host']}:{w['pid']}" in theirs_workers and w["queues"][0] in theirs_workers


def test_an_action_in_one_dashboard_is_seen_in_the_other(web: Any, dashboard: Dashboard, shared_keyspace: dict[str, str], r: Any) -> None:
    # Retry a Ruby failure in pyresque's dashboard: resque-web shows it retried and the job queued.
    first = dashboard.get_json("/api/failed?order=oldest")["items"][0]
    dashboard.post("/failed/retry", {"list": first["list"], "index": first["index"], "digest": first["digest"]})
    assert stats_txt(web)["queues.record"] == 2
    assert re.search(r"Retried\s+\S+", text_of(web.get("/failed")))
    # Remove the Python failure in resque-web: pyresque's dashboard no longer lists it.
    web.act("/failed/remove/2")
    items = dashboard.get_json("/api/failed?order=oldest")["items"]
    assert [i["error"] for i in items] == ["exploded with [1]", "exploded with [2]"]
    assert items[0]["retried_at"]
    # Clear Retried in pyresque: resque-web sees one failure left.
    dashboard.post("/failed/clear-retried", {})
    assert stats_txt(web)["resque.failed"] == 1
    # Remove a queue in resque-web: gone from pyresque's queues.
    web.post("/queues/low/remove")
    assert "low" not in {q["name"] for q in dashboard.get_json("/api/queues")}
    # Clear a queue in pyresque: resque-web shows it empty.
    dashboard.post("/queue/clear", {"q": "mail"})
    assert stats_txt(web)["queues.mail"] == 0
