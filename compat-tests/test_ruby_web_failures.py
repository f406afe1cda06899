"""resque-web's failure buttons on failures written by the Python worker (issue #3).

Retry (the XHR ``GET /failed/requeue/<i>`` its Retry link sends), Remove,
Clear, Clear Retried and Retry All, pressed over HTTP on a real resque-web,
then a real Python worker runs what was requeued. The same with the
``redis_multi_queue`` backend: the Python worker runs with
``FAILURE_BACKEND=redis_multi_queue`` and resque-web is configured for it
through RESQUECONFIG (ruby-fixtures/config/web_multi_queue.rb).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from rubyside import FIXTURES
from webside import HOST, Procs, ResqueWeb, text_of

GATE = "pyresque-test:gate"


@pytest.fixture(scope="module")
def multi_web(ruby_available, redis_server):
    with ResqueWeb(redis_server, config=FIXTURES / "config" / "web_multi_queue.rb").running() as server:
        yield server


def drain(procs: Procs, queues: str, **env: str) -> int:
    """Run a Python worker until ``queues`` are empty; returns its pid.

    Classes nobody registered become failures (``--unknown-jobs fail``), as
    in Ruby: these tests look at what resque-web makes of failure records.
    """
    env.setdefault("PYRESQUE_UNKNOWN_JOBS", "fail")
    proc = procs.py(queues, interval="0", **env)
    assert proc.wait(60) == 0, procs.logs()
    return proc.pid


def records(r, key: str = "resque:failed") -> list[dict]:
    return [json.loads(x) for x in r.lrange(key, 0, -1)]


def ran(r) -> list[list]:
    return [json.loads(x)["args"] for x in r.lrange("pyresque-test:ruby-results", 0, -1)]


RETRIED_WITH_ZONE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [A-Z]{3}$")
RETRIED_NO_ZONE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$")


# Default backend ----------------------------------------------------------------
def test_retry_link_requeues_a_python_failure_and_python_runs_it(web, r, procs, resque):
    resque.enqueue_to("record", "Flaky", GATE, "once")
    resque.enqueue_to("record", "Flaky", GATE, "twice")
    pid = drain(procs, "record")
    assert [f["payload"]["args"] for f in records(r)] == [[GATE, "once"], [GATE, "twice"]]
    assert records(r)[0]["exception"] == "RuntimeError"

    # What the Retry link does: an XHR GET, answered with the retried_at text.
    retried_at = web.act("/failed/requeue/1", xhr=True)
    assert RETRIED_WITH_ZONE.match(retried_at), retried_at
    after = records(r)
    assert "retried_at" not in after[0] and after[1]["retried_at"] == retried_at
    assert list(after[1])[-1] == "retried_at"
    assert r.lrange("resque:queue:record", 0, -1) == [json.dumps({"class": "Flaky", "args": [GATE, "twice"]},
                                                                  separators=(",", ":")).encode()]
    page = web.get("/failed")
    text = text_of(page)
    shown = datetime.strptime(retried_at[:19], "%Y/%m/%d %H:%M:%S").strftime("%Y/%m/%d %H:%M:%S")
    assert f"Retried {shown} +0000" + ("" if web.post_only else " Remove") in text  # 3.2: a Remove button
    assert f'<a href="/workers/{HOST}:{pid}:record">{HOST}:{pid}</a>' in page

    r.set(GATE, "open")
    drain(procs, "record")
    assert ran(r) == [["twice"]]
    assert len(records(r)) == 2  # retrying keeps the record, as in Ruby

    # Remove the retried one, then the other, by index.
    web.act("/failed/remove/1")
    assert [f["payload"]["args"][1] for f in records(r)] == ["once"]
    web.act("/failed/remove/0")
    assert records(r) == []
    assert "Failed Jobs No jobs" in text_of(web.get("/failed"))
    assert int(r.get("resque:stat:failed")) == 2
    assert int(r.get("resque:stat:processed")) == 3


def test_retry_all_clear_retried_and_clear(web, r, procs, resque):
    for i in range(3):
        resque.enqueue_to("record", "Flaky", GATE, i)
    resque.enqueue_to("mail", "Exploder", "m")
    drain(procs, "record,mail")
    assert len(records(r)) == 4
    assert "Failed Jobs Showing 0 to 3 jobs" in text_of(web.get("/failed"))  # resque-web's wording

    page = web.post("/failed/requeue/all")
    assert "Retried" in text_of(page)
    assert all(RETRIED_WITH_ZONE.match(f.get("retried_at", "")) for f in records(r))
    assert r.llen("resque:queue:record") == 3 and r.llen("resque:queue:mail") == 1
    r.set(GATE, "open")
    drain(procs, "record,mail")
    assert sorted(a[0] for a in ran(r)) == [0, 1, 2]
    # The Exploder failed again: one new record, not retried yet.
    assert [("retried_at" in f) for f in records(r)] == [True, True, True, True, False]

    web.post("/failed/clear_retried")
    [left] = records(r)
    assert left["payload"] == {"class": "Exploder", "args": ["m"]} and "retried_at" not in left
    web.post("/failed/clear")
    assert r.exists("resque:failed") == 0
    assert "Failed Jobs No jobs" in text_of(web.get("/failed"))


# redis_multi_queue backend --------------------------------------------------------
MULTI = {"FAILURE_BACKEND": "redis_multi_queue"}


def test_multi_queue_failed_pages_show_python_failures(multi_web, r, procs, resque):
    resque.enqueue_to("record", "Flaky", GATE, "r1")
    resque.enqueue_to("record", "Exploder", "r2")
    resque.enqueue_to("mail", "Exploder", "m1")
    pid = drain(procs, "record,mail", **MULTI)
    assert r.exists("resque:failed") == 0
    assert sorted(m.decode() for m in r.smembers("resque:failed_queues")) == ["mail_failed", "record_failed"]
    assert len(records(r, "resque:record_failed")) == 2

    text = text_of(multi_web.get("/failed"))
    assert "All Failed Queues: 2 total" in text
    assert "Total Failed 3" in text
    assert "mail_failed 1 Exploder 1 record_failed 2 Exploder 1 Flaky 1" in text

    page = multi_web.get("/failed/record_failed")
    text = text_of(page)
    assert "Failed Jobs on 'record_failed'" in text and "Showing 0 to 1 jobs" in text
    assert f'<a href="/workers/{HOST}:{pid}:record,mail">{HOST}:{pid}</a> on <b class=\'queue-tag\'>record</b >' in page
    assert multi_web.retry_control("/failed/record_failed/requeue/0") in page
    assert "Class Flaky" in text and "Class Exploder" in text
    assert "Failed Jobs on 'mail_failed' with class 'Exploder' Showing 1 job" in text_of(
        multi_web.get("/failed/mail_failed?class=Exploder"))


def test_multi_queue_retry_remove_retry_all_and_clear(multi_web, r, procs, resque):
    resque.enqueue_to("record", "Flaky", GATE, "a")
    resque.enqueue_to("record", "Flaky", GATE, "b")
    resque.enqueue_to("mail", "Exploder", "m1")
    drain(procs, "record,mail", **MULTI)

    retried_at = multi_web.act("/failed/record_failed/requeue/0", xhr=True)
    assert RETRIED_NO_ZONE.match(retried_at), retried_at  # this backend writes no zone (Ruby 3.0.3)
    assert records(r, "resque:record_failed")[0]["retried_at"] == retried_at
    r.set(GATE, "open")
    drain(procs, "record", **MULTI)
    assert ran(r) == [["a"]]
    assert "Retried" in text_of(multi_web.get("/failed/record_failed"))

    multi_web.act("/failed/mail_failed/remove/0")
    assert r.llen("resque:mail_failed") == 0

    multi_web.post("/failed/record_failed/requeue/all")
    assert [f["payload"]["args"][1] for f in records(r, "resque:record_failed")] == ["a", "b"]
    assert all(RETRIED_NO_ZONE.match(f["retried_at"]) for f in records(r, "resque:record_failed"))
    drain(procs, "record", **MULTI)
    assert sorted(a[0] for a in ran(r)) == ["a", "a", "b"]

    multi_web.post("/failed/record_failed/clear")
    assert r.llen("resque:record_failed") == 0
    text = text_of(multi_web.get("/failed"))
    assert "Total Failed 0" in text

    # The page-wide buttons walk every failed queue.
    resque.enqueue_to("mail", "Exploder", "m2")
    resque.enqueue_to("record", "Exploder", "r2")
    drain(procs, "record,mail", **MULTI)
    assert "Total Failed 2" in text_of(multi_web.get("/failed"))
    multi_web.post("/failed/requeue/all")
    assert r.lrange("resque:queue:mail", 0, -1) == [b'{"class":"Exploder","args":["m2"]}']
    assert r.lrange("resque:queue:record", 0, -1) == [b'{"class":"Exploder","args":["r2"]}']
    multi_web.post("/failed/clear")
    assert r.llen("resque:mail_failed") == 0 and r.llen("resque:record_failed") == 0


# Payloads that are not jobs --------------------------------------------------------
def test_failures_for_malformed_payloads_render_and_can_be_removed(web, r, procs, resque):
    """Ruby drops such payloads; pyresque records them. resque-web must still work."""
    for raw in ('not json', '[1,2]', '{"args":[1]}', '{"class":"Recorder","args":"notalist"}',
                '{"class":"NoSuchJob","args":[1]}'):
        r.sadd("resque:queues", "record")
        r.rpush("resque:queue:record", raw)
    drain(procs, "record")
    assert r.llen("resque:failed") == 5
    for path in ("/failed", "/overview", "/stats/resque", "/failed?class=NoSuchJob"):
        web.get(path)
    text = text_of(web.get("/failed"))
    assert "Showing 0 to 4 jobs" in text
    assert "Class NoSuchJob" in text
    # The unknown class, at least, is a job Ruby can retry from the page.
    index = next(i for i, f in enumerate(records(r)) if (f.get("payload") or {}).get("class") == "NoSuchJob")
    assert RETRIED_WITH_ZONE.match(web.act(f"/failed/requeue/{index}", xhr=True))
    assert r.lrange("resque:queue:record", 0, -1) == [b'{"class":"NoSuchJob","args":[1]}']
    for i in reversed(range(5)):
        web.act(f"/failed/remove/{i}")
    assert r.llen("resque:failed") == 0


def test_an_idle_python_worker_wakes_for_a_ruby_enqueue_and_a_web_retry(web, r, procs, ruby):
    """With a 60 s interval, only the wake-up on queue changes can run these in time."""
    import time

    from testsupport import wait_until
    from webside import worker_id

    py = procs.py("record", interval="60")
    wid = worker_id(py, "record")
    wait_until(lambda: r.sismember("resque:workers", wid), 30, "the worker to register")
    t0 = time.monotonic()
    ruby.enqueue("record", "Flaky", [GATE, "w"])
    wait_until(lambda: r.llen("resque:failed") == 1, 20, "the Ruby-enqueued job to fail")
    r.set(GATE, "open")
    web.act("/failed/requeue/0", xhr=True)
    wait_until(lambda: ran(r) == [["w"]], 20, "the retried job to run")
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("pruner", ["ruby", "python"])
def test_multi_queue_dirty_exits_of_pruned_workers(multi_web, r, procs, ruby, pruner):
    """A dead worker's job lands in <queue>_failed whichever side prunes it."""
    from testsupport import wait_until
    from webside import kill_hard, worker_id

    victim = procs.ruby("record", **MULTI) if pruner == "python" else procs.py("record", **MULTI)
    wid = worker_id(victim, "record")
    wait_until(lambda: r.sismember("resque:workers", wid), 30, "the worker to register")
    ruby.eval('Resque.enqueue_to("record", "Waiter", "pyresque-test:release", "dead"); true')
    wait_until(lambda: ran(r) == [["dead"]], 30, "the job to start")
    kill_hard(victim)
    r.delete("resque:pruning_dead_workers_in_progress")
    if pruner == "ruby":
        ruby.work("record", **MULTI)
    else:
        drain(procs, "record", **MULTI)
    [record] = records(r, "resque:record_failed")
    assert (record["exception"], record["error"], record["worker"]) == ("Resque::DirtyExit", "Job still being processed", wid)
    assert r.exists("resque:failed") == 0
    text = text_of(multi_web.get("/failed/record_failed"))
    assert "Class Waiter" in text and "Exception Resque::DirtyExit" in text


# Timeouts -------------------------------------------------------------------------
def test_a_python_job_past_its_timeout_shows_on_the_failed_page(web, r, procs, resque):
    resque.enqueue_to("record", "Waiter", "pyresque-test:never-released", "late")
    drain(procs, "record", PYRESQUE_JOB_TIMEOUT="0.5")
    [record] = records(r)
    assert (record["exception"], record["error"]) == ("pyresque.JobTimeout", "Job exceeded its 0.5s timeout")
    # Where the job was when it was stopped (innermost first; the job may
    # have been inside redis-py's socket read at that instant).
    assert any("pyjobs_worker.py" in line for line in record["backtrace"]), record["backtrace"]
    assert int(r.get("resque:stat:failed")) == 1
    for path in ("/overview", "/stats/resque", "/failed?class=Waiter"):
        web.get(path)
    text = text_of(web.get("/failed"))
    assert "Class Waiter" in text and "Exception pyresque.JobTimeout" in text
    assert "Error Job exceeded its 0.5s timeout" in text
    assert "pyjobs_worker.py" in text
    web.post("/failed/clear")


# Records that keep the payload as queued ---------------------------------------------
KEPT = [
    b'{"class":"Exploder","args":[1e400,"reads as infinity"]}',
    b'{"class":"Exploder","args":[' + b"[" * 98 + b"]" * 98 + b"]}",   # at Ruby's limit: the record is one deeper
    b'{"class":"Recorder","args":["caf\xe9"]}',                            # Latin-1, not UTF-8
]


def test_records_that_keep_the_queued_payload_show_and_retry(web, r, procs, resque, ruby):
    """A payload that does not survive being written again is kept in
    raw_payload (bytes that are not UTF-8 in raw_payload_base64) with a null
    payload. Ruby and resque-web read every such record and show it (with
    no class); resque-web's Retry refuses it with an error and pushes
    nothing, and `pyresque failed retry` pushes the exact bytes back."""
    r.sadd("resque:queues", "record")
    r.rpush("resque:queue:record", *KEPT)
    resque.enqueue_to("record", "ChainedExploder", "x")
    drain(procs, "record")
    recs = records(r)
    assert [f["exception"] for f in recs] == ["pyjobs_worker.ArgumentError"] * 2 + [
        "pyresque.MalformedPayload", "pyjobs_worker.ArgumentError"]
    assert all(f["payload"] is None for f in recs[:3])

    # Ruby reads each record, and the exact bytes out of it.
    seen = ruby.eval("""
        require "base64"
        Resque::Failure.all(0, 10).map do |f|
          kept = f["raw_payload_base64"] ? Base64.strict_decode64(f["raw_payload_base64"]) : f["raw_payload"].to_s
          [f["payload"], kept.unpack1("H*"), f["backtrace"]]
        end
    """)
    assert [s[0] for s in seen[:3]] == [None, None, None]
    assert [bytes.fromhex(s[1]) for s in seen[:3]] == KEPT
    # A chained exception: resque-web lists the backtrace lines, the cause's among them.
    chain = seen[3][2]
    assert chain[0].endswith(":in `chained_exploder'")
    assert "Caused by KeyError: \"missing ('x',)\"" in chain

    page = text_of(web.get("/failed"))
    assert "Showing 0 to 3 jobs" in page
    assert "Class nil Arguments nil" in page
    assert "chained_exploder' Caused by KeyError: \"missing ('x',)\" /" in page

    # resque-web's Retry: Ruby stamps retried_at, then fails on the null
    # payload (NoMethodError, HTTP 500) before pushing anything.
    for i in range(3):
        with pytest.raises(AssertionError, match=f"/failed/requeue/{i}: HTTP 500"):
            web.act(f"/failed/requeue/{i}", xhr=True)
    assert r.llen("resque:queue:record") == 0
    assert all(RETRIED_WITH_ZONE.match(f["retried_at"]) for f in records(r)[:3])
    assert "Showing 0 to 3 jobs" in text_of(web.get("/failed"))

    # pyresque's retry pushes the bytes as queued.
    for i in range(3):
        resque.failures.requeue(i)
    assert r.lrange("resque:queue:record", 0, -1) == KEPT


def test_why_such_payloads_are_not_shown_resque_web_retry_would_break_the_failed_tab(web, r, ruby):
    """Ruby reads 1e400 as Infinity and writes it back as a bare word. A
    record showing such a payload is turned by resque-web's Retry into one
    Ruby itself cannot parse, and a queued job nobody can parse."""
    r.rpush("resque:failed", json.dumps({
        "failed_at": "2026/11/23 03:22:31 UTC", "payload": {"class": "Exploder", "args": []},
        "exception": "RuntimeError", "error": "boom", "backtrace": [], "worker": f"{HOST}:1:record", "queue": "record",
    }, separators=(",", ":")).replace('"args":[]', '"args":[1e400]'))
    assert "Class Exploder" in text_of(web.get("/failed"))  # shown, as Ruby's Infinity
    with pytest.raises(AssertionError, match="HTTP 500"):
        web.act("/failed/requeue/0", xhr=True)
    assert r.lrange("resque:queue:record", 0, -1) == [b'{"class":"Exploder","args":[Infinity]}']
    assert b'"args":[Infinity]' in r.lindex("resque:failed", 0)
    with pytest.raises(AssertionError, match="HTTP 500"):
        web.get("/failed")
