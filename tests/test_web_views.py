"""The dashboard's views and actions, through Flask's test client on a real Redis."""

from __future__ import annotations

import base64
import html
import re
import socket
from typing import Any

import pytest

from pyresque import Resque, history
from pyresque.browse import ACTIVEJOB_WRAPPER
from pyresque.connection import as_name
from pyresque.web import create_app

import webseed

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Browser:
    """A test client that reads the CSRF token from the page, as a browser's form would carry it."""

    def __init__(self, resque: Resque, **kw: Any) -> None:
        self.app = create_app(resque, **kw)
        self.client = self.app.test_client()

    def get(self, path: str, **kw: Any) -> Any:
        resp = self.client.get(path, **kw)
        resp.get_data()  # buffered, so the static file it streamed from can be closed
        resp.close()
        assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
        return resp

    def text(self, path: str) -> str:
        resp = self.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.get_data(as_text=True)[:2000])
        return resp.get_data(as_text=True)

    def token(self, path: str = "/workers") -> str:
        match = TOKEN.search(self.text(path))
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        form = dict(data or {})
        form["csrf_token"] = token if token is not None else self.token()
        resp = self.client.post(path, data=form)
        assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
        return resp

    def flash(self) -> str:
        page = self.text("/")
        match = re.search(r'<p class="flash" role="status">(.*?)</p>', page, re.S)
        return match.group(1) if match else ""


@pytest.fixture
def web(resque: Resque) -> Browser:
    return Browser(resque)


def failure_rows(web: Browser, query: str = "") -> list[tuple[str, str, str]]:
    data = web.get("/api/failed" + query).get_json()
    return [(f["list"], str(f["index"]), f["digest"]) for f in data["items"]]


# Overview --------------------------------------------------------------------------------
def test_overview_shows_queues_workers_failures_and_totals_and_json_agrees(resque: Resque, web: Browser) -> None:
    webseed.seed_demo(resque)
    page = web.text("/")
    assert "default" in page and "reports" in page
    info = resque.info()
    data = web.get("/api/overview").get_json()
    assert data["pending"] == info["pending"] == 11
    assert data["processed_total"] == info["processed"] == 1620
    assert data["failed"] == info["failed"] == 3
    assert data["workers"] == info["workers"] == 3
    assert [w["id"] for w in data["working"]] == [f"{socket.gethostname()}:4242:default,mail"]
    assert {q["name"]: q["size"] for q in data["queues"]} == resque.queue_sizes()
    assert '<span class="num" data-field="pending">11</span>' in page


def test_rates_come_from_bounded_samples(resque: Resque) -> None:
    r, keys = resque.redis, resque.layout
    r.set(keys.processed_stat(), 100)
    history.sample(r, keys)
    history.sample(r, keys)  # within the period: no second sample
    assert r.llen(keys.history("10s")) == 1
    now_s, _ = r.time()
    r.delete(keys.history("10s"))
    r.lpush(keys.history("10s"), f"{now_s - 20} 100 5", f"{now_s - 10} 150 5", f"{now_s} 140 7")
    rates = history.rates(r, keys, "10s")
    assert [(x.processed_per_s, x.failed_per_s) for x in rates] == [(5.0, 0.0), (0.0, 0.2)]
    for _ in range(400):
        r.delete(keys.history_lock("10s"))
        history.sample(r, keys)
    assert r.llen(keys.history("10s")) == history.RESOLUTIONS["10s"][1]
    assert r.ttl(keys.history_lock("5m")) > 0


# Queues ---------------------------------------------------------------------------------
def test_queue_pages_show_decoded_jobs_and_activejob_real_class(resque: Resque, web: Browser) -> None:
    for i in range(45):
        resque.enqueue_to("big", "Archive", i)
    resque.enqueue_to("mail", ACTIVEJOB_WRAPPER, *webseed.activejob_args("WelcomeMailer", [{"user_id": 7}]))
    page = web.text("/queue?q=mail")
    assert "WelcomeMailer" in page and "(ActiveJob)" in page and "user_id" in page
    queues = web.text("/queues")
    assert "2026-11-23T04:00:00.000000000Z" in queues  # the oldest job's enqueued_at
    second = web.get("/api/queue?q=big&start=20&count=20").get_json()
    assert [j["args"] for j in second["jobs"]] == [[i] for i in range(20, 40)]
    assert second["size"] == 45
    assert 'start=40' in web.text("/queue?q=big&start=20")
    assert web.get("/queue?q=nosuch").status_code == 404
    assert web.get("/queue?q=big&start=abc").status_code == 400


def test_delete_job_acts_on_the_job_shown_even_after_the_queue_moved(resque: Resque, web: Browser) -> None:
    for i in range(3):
        resque.enqueue_to("q", "Job", i)
    job = web.get("/api/queue?q=q").get_json()["jobs"][1]  # Job(1) at position 1
    resque.reserve("q")  # a worker takes Job(0): Job(1) is now at position 0
    resp = web.post("/queue/delete-job", {"q": "q", "index": 1, "digest": job["digest"]})
    assert resp.status_code == 303
    assert [j["args"] for j in resque.peek("q", 0, 10)] == [[2]]
    again = web.post("/queue/delete-job", {"q": "q", "index": 0, "digest": job["digest"]})
    assert again.status_code == 409 and "no longer there" in again.get_data(as_text=True)
    assert resque.size("q") == 1


def test_clear_and_remove_queue(resque: Resque, web: Browser) -> None:
    resque.enqueue_to("full", "Job", 1)
    refused = web.post("/queue/remove", {"q": "full"})
    assert refused.status_code == 409 and resque.size("full") == 1 and "full" in resque.queues()
    assert web.post("/queue/clear", {"q": "full"}).status_code == 303
    assert resque.size("full") == 0 and "full" in resque.queues()
    assert web.post("/queue/remove", {"q": "full"}).status_code == 303
    assert "full" not in resque.queues()
    assert "Removed the empty queue full" in web.flash()


# Names that are not UTF-8 ------------------------------------------------------------------
def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the first form on ``page`` posting to ``action``, as a browser sends them."""
    form = re.search(r'<form method="post" action="' + re.escape(action) + r'".*?</form>', page, re.S)
    assert form, f"no form for {action}"
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
            if k != "csrf_token"}


def links(page: str, prefix: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page) if html.unescape(h).startswith(prefix)]


def test_a_queue_whose_name_is_not_utf8_opens_shows_its_jobs_and_clears(resque: Resque, web: Browser) -> None:
    raw = b"imports-\xff\xfe<b>x</b>"
    key = resque.layout.queue_prefix.encode() + raw  # made by another client, straight in Redis
    resque.redis.sadd(resque.layout.queues, raw)
    resque.redis.rpush(key, b'{"class":"Import","args":[1]}', b'{"class":"Import","args":["<i>2</i>"]}')
    lookalike = "imports-\ufffd\ufffd<b>x</b>"  # what its name shows as: another queue, left alone
    resque.enqueue_to(lookalike, "Other", 0)

    href, = [h for h in links(web.text("/queues"), "/queue?") if "q_b64=" in h]
    assert base64.urlsafe_b64decode(href.split("q_b64=", 1)[1]) == raw
    page = web.text(href)
    assert "imports-\ufffd\ufffd&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "<i>" not in page
    assert page.count("Import") == 2 and "Other" not in page
    data = web.get(href.replace("/queue?", "/api/queue?")).get_json()
    assert data["size"] == 2 and [j["args"] for j in data["jobs"]] == [[1], ["<i>2</i>"]]

    delete = form_fields(page, "/queue/delete-job")
    assert "q" not in delete and base64.urlsafe_b64decode(delete["q_b64"]) == raw
    assert web.post("/queue/delete-job", delete).status_code == 303
    assert resque.redis.lrange(key, 0, -1) == [b'{"class":"Import","args":["<i>2</i>"]}']
    resp = web.post("/queue/clear", form_fields(web.text(href), "/queue/clear"))
    assert resp.status_code == 303 and "q_b64=" in resp.headers["Location"]
    assert resque.redis.llen(key) == 0 and resque.redis.sismember(resque.layout.queues, raw)
    assert "Cleared queue imports-\ufffd\ufffd&lt;b&gt;x&lt;/b&gt;: 1 jobs deleted." in web.flash()
    assert web.post("/queue/remove", form_fields(web.text(href), "/queue/remove")).status_code == 303
    assert not resque.redis.sismember(resque.layout.queues, raw)
    assert resque.size(lookalike) == 1  # the queue it looks like was never touched
    assert web.get("/queue?q_b64=***").status_code == 400


def test_through_a_strict_client_such_a_name_is_refused_never_another_queue(r: Any, redis_server: str) -> None:
    import redis as redis_py

    resque = Resque(redis_py.Redis.from_url(redis_server))  # made elsewhere: encodes strictly
    resque.redis.sadd(resque.layout.queues, b"bad\xff")
    resque.enqueue_to("bad\ufffd", "Other", 1)  # the queue its name shows as
    web = Browser(resque)
    # Listed as before, by the text it shows as; that link is the other queue's, as it says.
    assert [h for h in links(web.text("/queues"), "/queue?") if "q_b64=" in h] == []
    b64 = base64.urlsafe_b64encode(b"bad\xff").decode()
    resp = web.get(f"/queue?q_b64={b64}")
    assert resp.status_code == 400 and "encoding_errors=&#39;surrogateescape&#39;" in resp.get_data(as_text=True)
    assert web.post("/queue/clear", {"q_b64": b64}).status_code == 400
    assert resque.size("bad\ufffd") == 1


def test_a_worker_whose_id_is_not_utf8_opens_and_is_pruned(resque: Resque, web: Browser) -> None:
    raw = b"host\xff:77:imports"
    webseed.add_worker(resque, as_name(raw), heartbeat_age_s=400)
    href, = links(web.text("/workers"), "/worker?")
    page = web.text(href)
    assert "host\ufffd:77:imports" in page and "stale" in page
    assert web.post("/workers/prune", form_fields(page, "/workers/prune")).status_code == 303
    assert resque.redis.smembers(resque.layout.workers) == set()


def test_a_failure_list_whose_name_is_not_utf8_opens_and_acts(r: Any, redis_server: str) -> None:
    resque = Resque(redis_server, failure_backend="redis_multi_queue")
    webseed.add_failure(resque, "ok", "A", [1])
    webseed.add_failure(resque, as_name(b"bad\xff"), "B", [2])
    assert resque.redis.smembers(resque.layout.failed_queues) == {b"ok_failed", b"bad\xff_failed"}
    web = Browser(resque)
    href, = [h for h in links(web.text("/failed"), "/failed?") if "list_b64=" in h]
    page = web.text(href)
    assert "bad\ufffd_failed" in page and page.count('name="selected"') == 1
    show, = links(page, "/failed/show?")
    assert "B" in web.text(show)
    remove = form_fields(page, "/failed/remove")
    assert web.post("/failed/remove", remove).status_code == 303
    assert resque.redis.llen(resque.layout.failed_list(as_name(b"bad\xff_failed"))) == 0
    assert resque.failures.count("ok_failed") == 1


# Failed -----------------------------------------------------------------------------------
def seed_failures(resque: Resque) -> None:
    webseed.add_failure(resque, "a", "Archive", [1], "Errno::ENOENT", "No such file /data/1")
    webseed.add_failure(resque, "b", "Mailer", [2], "Net::SMTPError", "535 Authentication FAILED")
    webseed.add_failure(resque, "a", ACTIVEJOB_WRAPPER, webseed.activejob_args("WelcomeJob", [3]),
                        "ActiveJob::DeserializationError", "record gone")
    webseed.add_failure(resque, "a", "Archive", [4], "Errno::ENOENT", "No such file /data/4")


def test_failed_filters_by_queue_class_exception_and_message(resque: Resque, web: Browser) -> None:
    seed_failures(resque)

    def args(query: str) -> list[Any]:
        return [f["args"] for f in web.get("/api/failed" + query).get_json()["items"]]

    assert args("") == [[4], [3], [2], [1]]  # newest first
    assert args("?order=oldest") == [[1], [2], [3], [4]]
    assert args("?queue=a") == [[4], [3], [1]]
    assert args("?class=Archive") == [[4], [1]]
    assert args("?class=WelcomeJob") == [[3]]  # ActiveJob's real class
    assert args("?exception=Net::SMTPError") == [[2]]
    assert args("?q=authentication%20failed") == [[2]]  # case-insensitive message search
    assert args("?queue=a&q=data/4") == [[4]]
    page = web.text("/failed?class=Archive")
    assert "Failed jobs (2 matching, of 4)" in page
    assert web.get("/failed?retried=maybe").status_code == 400


def test_failure_detail_shows_backtrace_payload_and_raw(resque: Resque, web: Browser) -> None:
    webseed.add_failure(resque, "a", "Archive", [1], "Errno::ENOENT", "gone", backtrace=["app/a.rb:3:in `x'"])
    resque.redis.rpush(resque.layout.failed, "this is not json")
    page = web.text("/failed/show?list=failed&index=0")
    assert "app/a.rb:3:in `x&#39;" in page and "Errno::ENOENT" in page
    raw = web.text("/failed/show?list=failed&index=1")
    assert "not valid JSON" in raw and "this is not json" in raw
    assert web.get("/failed/show?list=failed&index=9").status_code == 409
    assert web.get("/failed/show?list=nope&index=0").status_code == 409


def test_retry_one_queues_the_job_and_stamps_the_record(resque: Resque, web: Browser) -> None:
    seed_failures(resque)
    (name, index, digest), = failure_rows(web, "?exception=Net::SMTPError")
    resp = web.post("/failed/retry", {"list": name, "index": index, "digest": digest, "exception": "Net::SMTPError"})
    assert resp.status_code == 303 and "exception=Net%3A%3ASMTPError" in resp.headers["Location"]
    assert [j["class"] for j in resque.peek("b", 0, 5)] == ["Mailer"]
    assert resque.failures.get(1).data["retried_at"]
    # The record changed (retried_at): the same token of identity no longer matches.
    assert web.post("/failed/retry", {"list": name, "index": index, "digest": digest}).status_code == 409
    assert resque.size("b") == 1


def test_actions_find_a_failure_that_moved_and_never_hit_a_neighbour(resque: Resque, web: Browser) -> None:
    seed_failures(resque)
    rows = dict(zip([4, 3, 2, 1], failure_rows(web)))  # newest first
    resque.failures.remove(0)  # someone else removes Archive(1): every index shifts down
    name, index, digest = rows[2]
    assert web.post("/failed/remove", {"list": name, "index": index, "digest": digest}).status_code == 303
    remaining = [f.data["payload"]["args"] for f in resque.failures.each()]
    assert [a if not isinstance(a[0], dict) else ["aj"] for a in remaining] == [["aj"], [4]]


def test_selected_and_matching_bulk_actions(resque: Resque, web: Browser) -> None:
    seed_failures(resque)
    picks = [f"{i}:{d}:{n}" for n, i, d in failure_rows(web, "?class=Archive")]
    resp = web.client.post("/failed/selected", data={"csrf_token": web.token(), "action": "retry", "selected": picks})
    assert resp.status_code == 303
    assert [j["args"] for j in resque.peek("a", 0, 5)] == [[1], [4]]
    assert web.post("/failed/matching", {"action": "remove", "exception": "Errno::ENOENT"}).status_code == 303
    assert resque.failures.count() == 2
    assert web.post("/failed/matching", {"action": "retry", "queue": "b"}).status_code == 303
    assert resque.size("b") == 1
    assert web.post("/failed/clear-retried").status_code == 303
    assert [f.data["queue"] for f in resque.failures.each()] == ["a"]
    assert web.post("/failed/selected", {"action": "remove"}).status_code == 400
    assert web.post("/failed/selected", {"action": "remove", "selected": "junk"}).status_code == 400
    assert web.post("/failed/clear").status_code == 303
    assert resque.failures.count() == 0


def test_multi_queue_failure_backend(r: Any, redis_server: str) -> None:
    resque = Resque(redis_server, failure_backend="redis_multi_queue")
    webseed.add_failure(resque, "a", "A", [1])
    webseed.add_failure(resque, "b", "B", [2])
    web = Browser(resque)
    data = web.get("/api/failed").get_json()
    assert {(x["list"], x["count"]) for x in data["lists"]} == {("a_failed", 1), ("b_failed", 1)}
    assert [i["class"] for i in data["items"]] == ["B", "A"]
    assert [i["class"] for i in web.get("/api/failed?list=b_failed").get_json()["items"]] == ["B"]
    (name, index, digest), = failure_rows(web, "?list=a_failed")
    assert web.post("/failed/retry", {"list": name, "index": index, "digest": digest}).status_code == 303
    assert resque.size("a") == 1
    assert "retried_at" in resque.failures.get(0, "a_failed").data


# Workers ------------------------------------------------------------------------------------
def test_workers_stale_marked_and_pruned_with_a_failure_for_their_job(resque: Resque, web: Browser) -> None:
    webseed.add_worker(resque, "live:1:q")
    webseed.add_worker(resque, "dead:2:q", heartbeat_age_s=400, job={"queue": "q", "class": "Slow", "args": [1]})
    data = {w["id"]: w for w in web.get("/api/workers").get_json()["workers"]}
    assert data["dead:2:q"]["stale"] and not data["live:1:q"]["stale"]
    assert data["dead:2:q"]["job"]["payload"]["job_class"] == "Slow"
    assert "stale" in web.text("/workers")
    assert web.post("/workers/prune", {"id": "live:1:q"}).status_code == 303
    assert {w.id for w in resque.workers()} == {"live:1:q", "dead:2:q"}
    assert web.post("/workers/prune").status_code == 303
    assert [w.id for w in resque.workers()] == ["live:1:q"]
    (record,) = [f.data for f in resque.failures.each()]
    assert record["exception"] == "Resque::PruneDeadWorkerDirtyExit" and record["payload"]["class"] == "Slow"


def test_pause_and_resume_all_workers(resque: Resque, web: Browser) -> None:
    assert web.post("/workers/pause").status_code == 303
    assert resque.redis.get(resque.layout.pause_all) == b"true"
    assert "All workers are paused" in web.text("/workers")
    assert web.get("/api/workers").get_json()["paused"] is True
    assert web.post("/workers/resume").status_code == 303
    assert resque.redis.get(resque.layout.pause_all) is None


# Stats and metrics -----------------------------------------------------------------------------
def test_stats_lists_namespace_keys_with_type_and_size(resque: Resque, web: Browser) -> None:
    webseed.seed_demo(resque)
    data = web.get("/api/stats").get_json()
    keys = {k["key"]: k for k in data["keys"]["items"]}
    assert keys["queue:default"]["type"] == "list" and keys["queue:default"]["size"] == 7
    assert keys["queues"]["type"] == "set" and keys["queues"]["size"] == 4
    assert data["resque"]["pending"] == 11 and "redis_version" in data["redis"]
    page = web.text("/stats")
    assert "queue:default" in page and "redis_version" in page


def test_metrics_in_prometheus_text_format(resque: Resque, web: Browser) -> None:
    webseed.seed_demo(resque)
    resque.enqueue_to('we"ird\\q\n', "X")
    resp = web.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = resp.get_data(as_text=True)
    lines = set(text.splitlines())
    assert 'resque_queue_jobs{queue="default"} 7' in lines
    assert 'resque_queue_jobs{queue="we\\"ird\\\\q\\n"} 1' in lines
    assert "resque_jobs_processed_total 1620" in lines
    assert "resque_jobs_failed_total 3" in lines
    assert {l for l in lines if l.startswith("resque_workers{")} == {
        'resque_workers{state="working"} 1', 'resque_workers{state="idle"} 2', 'resque_workers{state="paused"} 0'}
    assert "resque_workers_stale 1" in lines
    assert 'resque_failed_jobs{list="failed"} 3' in lines
    assert "resque_paused 0" in lines and "resque_delayed_jobs 0" in lines
    assert any(l.startswith('resque_queue_oldest_job_age_seconds{queue="mail"} ') for l in lines)
    assert "# TYPE resque_jobs_processed_total counter" in lines


def test_the_message_after_an_action_on_a_very_long_name_still_arrives(resque: Resque, web: Browser) -> None:
    name = "q" * 5000
    resque.enqueue_to(name, "Job", 1)
    assert web.post("/queue/clear", {"q": name}).status_code == 303
    message = web.flash()
    assert message.startswith("Cleared queue qqq") and message.endswith("…") and len(message) < 600
    assert resque.size(name) == 0


def test_retry_all_matching_thousands_in_batches_keeps_order_and_skips_what_moved(resque: Resque, web: Browser) -> None:
    for i in range(1200):
        webseed.add_failure(resque, "bulk", "Bulk" if i % 2 else "Other", [i])
    resque.redis.rpush(resque.layout.failed, '{"payload":null,"queue":"bulk","exception":"X","error":"no job"}')
    assert web.post("/failed/matching", {"action": "retry", "class": "Bulk"}).status_code == 303
    assert "Retried 600 failures" in web.flash()
    assert [j["args"][0] for j in resque.peek("bulk", 0, 1000)] == list(range(1, 1200, 2))
    retried = [f.data for f in resque.failures.each() if f.data and f.data.get("retried_at")]
    assert len(retried) == 600 and all(d["payload"]["class"] == "Bulk" for d in retried)
    # Retry all (no filter): the one record with no job is left alone, the rest go back.
    assert web.post("/failed/matching", {"action": "retry"}).status_code == 303
    assert resque.size("bulk") == 600 + 1200


def test_retry_pushes_back_the_exact_bytes_a_record_kept(resque: Resque, web: Browser) -> None:
    from pyresque import failure as failure_mod

    queued = b'{"class":"Odd","args":["\xff\xfe"]}'  # not UTF-8: kept as raw_payload_base64
    data = failure_mod.record(None, "pyresque.MalformedPayload", "not UTF-8", [], "h:1:q", "q", raw_payload=queued)
    pipe = resque.redis.pipeline()
    resque.failure_backend.save(pipe, data)
    pipe.execute()
    (name, index, digest), = failure_rows(web)
    assert web.post("/failed/retry", {"list": name, "index": index, "digest": digest}).status_code == 303
    assert resque.redis.lrange(resque.layout.queue("q"), 0, -1) == [queued]
    assert "not valid JSON" not in web.text("/failed/show?list=failed&index=0")
