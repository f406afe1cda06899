"""The dashboard is safe by default: CSRF, GET never writes, read-only, auth, escaping, CSP."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pyresque import Resque
from pyresque.web import Auth, create_app
from testsupport import free_port, wait_until

import webseed
from test_web_views import Browser

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ["/queue/delete-job", "/queue/clear", "/queue/remove", "/failed/retry", "/failed/remove",
           "/failed/selected", "/failed/matching", "/failed/clear", "/failed/clear-retried",
           "/workers/prune", "/workers/pause", "/workers/resume"]
PAGES = ["/", "/queues", "/failed", "/workers", "/stats", "/metrics", "/api/overview", "/api/queues",
         "/api/failed", "/api/workers", "/api/stats", "/api/history"]
# resque-scheduler's tabs
ACTIONS += ["/delayed/enqueue-now", "/delayed/remove", "/delayed/enqueue-timestamp", "/delayed/clear",
            "/schedule/enqueue-now", "/schedule/delete"]
PAGES += ["/delayed", "/delayed/search?class=a", "/schedule", "/api/delayed", "/api/delayed/search?class=a",
          "/api/schedule"]


def snapshot(r: Any) -> dict[bytes, Any]:
    """Every key with its type and value: to prove a request changed nothing."""
    out = {}
    for key in sorted(r.scan_iter(count=1000)):
        if b"pyresque:history" in key:
            continue  # GET pages sample counters for the rate chart, and nothing else
        kind = r.type(key)
        value = {b"string": r.get, b"list": lambda k: r.lrange(k, 0, -1), b"set": r.smembers,
                 b"hash": r.hgetall, b"zset": lambda k: r.zrange(k, 0, -1, withscores=True)}[kind](key)
        out[key] = (kind, value)
    return out


def test_every_response_has_a_strict_csp_and_safe_headers(resque: Resque) -> None:
    web = Browser(resque)
    for path in PAGES + ["/static/pyresque.css", "/queue?q=nope"]:
        resp = web.get(path)
        csp = resp.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "'unsafe-inline'" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"


def test_pages_contain_no_inline_script_or_style(resque: Resque) -> None:
    webseed.seed_demo(resque)
    web = Browser(resque)
    for path in ["/", "/queues", "/failed", "/workers", "/stats", "/queue?q=default",
                 "/failed/show?list=failed&index=0"]:
        page = web.text(path)
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"<script\b[^>]*>[^<]+</script>", page), path
        assert not re.search(r"\son[a-z]+=", page), path
        assert "style=" not in page and "<style" not in page, path


def test_posts_without_a_valid_token_are_refused_and_change_nothing(resque: Resque, r: Any) -> None:
    webseed.seed_demo(resque)
    web = Browser(resque)
    row = web.get("/api/failed").get_json()["items"][0]
    job = web.get("/api/queue?q=default").get_json()["jobs"][0]
    forms = {"/failed/retry": {"list": "failed", "index": row["index"], "digest": row["digest"]},
             "/failed/remove": {"list": "failed", "index": row["index"], "digest": row["digest"]},
             "/queue/delete-job": {"q": "default", "index": 0, "digest": job["digest"]},
             "/queue/clear": {"q": "default"}, "/failed/matching": {"action": "remove"}}
    before = snapshot(r)
    other = Browser(resque)  # another browser's valid token is not this browser's
    other_token = other.token()
    for path in ACTIONS:
        data = forms.get(path, {})
        for token in (None, "", "0" * 64, other_token):
            form = dict(data)
            if token is not None:
                form["csrf_token"] = token
            resp = web.client.post(path, data=form)
            assert resp.status_code == 400, (path, token, resp.status_code)
            assert "security token" in resp.get_data(as_text=True)
    # A token with no cookie at all (a cross-site form from a fresh context) is refused too.
    fresh = create_app(resque).test_client()
    assert fresh.post("/workers/pause", data={"csrf_token": web.token()}).status_code == 400
    assert snapshot(r) == before


def test_get_never_changes_anything(resque: Resque, r: Any) -> None:
    webseed.seed_demo(resque)
    web = Browser(resque)
    before = snapshot(r)
    for path in ACTIONS:
        resp = web.get(path + "?q=default&list=failed&index=0&action=remove&csrf_token=" + web.token())
        assert resp.status_code == 405, path
    for path in PAGES:
        web.get(path)
    assert snapshot(r) == before


def test_read_only_hides_every_action_and_refuses_them_with_403(resque: Resque, r: Any) -> None:
    webseed.seed_demo(resque)
    web = Browser(resque, read_only=True)
    for path in ["/", "/queues", "/failed", "/workers", "/stats", "/queue?q=default", "/failed/show?list=failed&index=0"]:
        page = web.text(path)
        assert 'method="post"' not in page, path
        assert "read-only" in page
    token = Browser(resque).token()  # even a well-formed token
    before = snapshot(r)
    for path in ACTIONS:
        resp = web.client.post(path, data={"csrf_token": token, "q": "default"})
        assert resp.status_code == 403, path
    assert snapshot(r) == before


def test_basic_auth_is_required_for_every_request_including_static(resque: Resque) -> None:
    app = create_app(resque, auth=Auth("ops", "s3cret:with colon"))
    client = app.test_client()
    for path in PAGES + ["/static/pyresque.js", "/static/pyresque.css", "/queue?q=x"] + ACTIONS:
        resp = client.get(path) if path not in ACTIONS else client.post(path)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")

    def creds(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert client.get("/", headers=creds("ops", "wrong")).status_code == 401
    assert client.get("/", headers=creds("op", "s3cret:with colon")).status_code == 401
    assert client.get("/", headers=creds("ops", "s3cret:with colon")).status_code == 200
    with client.get("/static/pyresque.js", headers=creds("ops", "s3cret:with colon")) as ok:
        assert ok.status_code == 200 and b"use strict" in ok.get_data()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a" and dict(attrs).get("href"):
            self.hrefs.append(dict(attrs)["href"])


def _crawl(web: Browser) -> Iterator[tuple[str, str]]:
    """Every page reachable from the index pages (one level of links), with its body."""
    seen: set[str] = set()
    queue = ["/", "/queues", "/failed", "/workers", "/stats", "/delayed", "/schedule",
             "/delayed/search?class=%3C"]
    depth = {p: 0 for p in queue}
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        resp = web.get(path)
        body = resp.get_data(as_text=True)
        if resp.mimetype != "text/html":
            # Plain text and JSON are never parsed as HTML (nosniff), so they carry names as they are.
            assert resp.mimetype in ("text/plain", "application/json", "text/css", "application/javascript",
                                     "text/javascript"), (path, resp.mimetype)
            continue
        yield path, body
        if depth[path] >= 1 or not resp.mimetype == "text/html":
            continue
        parser = _Links()
        parser.feed(body)
        for href in parser.hrefs:
            if href.startswith("/") and not href.startswith("/static") and href not in depth:
                depth[href] = depth[path] + 1
                queue.append(href)


def test_hostile_names_and_messages_render_escaped_on_every_page(resque: Resque) -> None:
    webseed.seed_hostile(resque)
    web = Browser(resque)
    pages = list(_crawl(web))
    assert len(pages) > 30
    details = [p for p, _ in pages if p.startswith(("/queue?", "/worker?", "/failed/show?"))]
    assert len(details) >= 15
    for path, body in pages:
        resp = web.get(path)
        assert resp.status_code in (200, 404, 409), (path, resp.status_code)
        assert "<script>alert" not in body, path
        assert "<img src=x" not in body, path
        parser = _Links()
        parser.feed(body)
        for tag, attrs in parser.tags:
            assert tag not in ("img", "iframe", "object"), (path, tag)
            for name, value in attrs.items():
                assert not name.startswith("on"), (path, tag, name)
                if name in ("href", "src", "action"):
                    assert not (value or "").strip().lower().startswith("javascript:"), (path, value)
    # Every queue and worker, whatever its name, links to a page that shows it.
    for name in webseed.HOSTILE:
        queue_page = web.get("/api/queue", query_string={"q": name})
        assert queue_page.status_code == 200 and queue_page.get_json()["name"] == name
        wid = f"{name}:7:{name}"
        assert web.get("/api/worker", query_string={"id": wid}).get_json()["id"] == wid
    # The links themselves decode back to the exact names.
    parser = _Links()
    parser.feed(web.text("/queues"))
    queries = [parse_qs(urlsplit(h).query) for h in parser.hrefs if h.startswith("/queue?")]
    assert {n.replace(",", ";") for n in webseed.HOSTILE} <= {q["q"][0] for q in queries if "q" in q}
    # A name that is not UTF-8 travels as its bytes in q_b64, so its link opens that queue too.
    assert [base64.urlsafe_b64decode(q["q_b64"][0]) for q in queries if "q_b64" in q] == \
        [b"bad\xff\xfe<script>alert(4)</script>"]
    for href in parser.hrefs:
        if href.startswith("/queue?"):
            assert web.get(href).status_code == 200, href


def test_api_and_pages_answer_bad_input_with_a_clear_4xx(resque: Resque) -> None:
    web = Browser(resque)
    cases = {"/queue": 400, "/queue?q=x&start=-1": 400, "/queue?q=x&count=100000": 400,
             "/failed?start=x": 400, "/failed/show?list=failed&index=zz": 400, "/failed/show?list=failed&index=3": 409,
             "/worker?id=nobody": 404, "/api/queue?q=nope": 404, "/api/history?resolution=1y": 400,
             "/failed?order=sideways": 400}
    for path, code in cases.items():
        resp = web.get(path)
        assert resp.status_code == code, (path, resp.status_code)
    assert web.get("/api/queue?q=nope").get_json()["error"]
    resp = web.post("/failed/remove", {"list": "failed", "index": "abc", "digest": "x"})
    assert resp.status_code == 400 and "whole number" in resp.get_data(as_text=True)


# The command ---------------------------------------------------------------------------------------
def _env(redis_url: str, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYRESQUE_WEB_")}
    env.update(REDIS_URL=redis_url, PYTHONPATH=str(ROOT), **extra)
    return env


def _bound(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_web_refuses_a_non_loopback_address_without_auth_before_binding(redis_server: str, host: str) -> None:
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "pyresque", "web", "--host", host, "--port", str(port)],
                          env=_env(redis_server), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "without authentication" in lines[0] and "PYRESQUE_WEB_USER" in lines[0]
    assert not _bound(port)


def test_web_serves_with_waitress_under_a_prefix_and_auth_from_the_environment(r: Any, redis_server: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pyresque", "web", "--port", str(port), "--prefix", "/resque"],
                            env=_env(redis_server, PYRESQUE_WEB_USER="ops", PYRESQUE_WEB_PASSWORD="pw"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _bound(port), 30, "pyresque web to listen")
        base = f"http://127.0.0.1:{port}/resque"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(base + "/", timeout=10)
        assert denied.value.code == 401 and denied.value.headers["WWW-Authenticate"].startswith("Basic")
        denied.value.close()
        req = urllib.request.Request(base + "/queues", headers={"Authorization": "Basic " + base64.b64encode(b"ops:pw").decode()})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Server"] == "pyresque"
            assert 'href="/resque/failed"' in resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_web_rejects_a_malformed_auth_file_and_half_set_credentials(redis_server: str, tmp_path: Path) -> None:
    bad = tmp_path / "auth"
    bad.write_text("just-a-user\n")
    cases = [(["--auth-file", str(bad)], {}, "user:password"),
             (["--auth-file", str(tmp_path / "missing")], {}, "--auth-file"),
             ([], {"PYRESQUE_WEB_USER": "ops"}, "PYRESQUE_WEB_PASSWORD")]
    for args, extra, needle in cases:
        port = free_port()
        proc = subprocess.run([sys.executable, "-m", "pyresque", "web", "--host", "0.0.0.0", "--port", str(port), *args],
                              env=_env(redis_server, **extra), capture_output=True, text=True, timeout=60)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, proc.stderr)
        assert not _bound(port)


def test_auth_file_gives_the_credentials(tmp_path: Path) -> None:
    path = tmp_path / "auth"
    path.write_text("\nops:pa:ss word\n")
    auth = Auth.from_file(str(path))
    assert auth.check("ops", "pa:ss word") and not auth.check("ops", "pa")
    assert "pa:ss" not in repr(auth)


def test_redis_down_or_a_key_of_the_wrong_type_is_a_clear_message_not_a_500(resque: Resque) -> None:
    down = Browser(Resque(f"redis://127.0.0.1:{free_port()}/0"))
    for path in ["/", "/failed", "/api/overview"]:
        resp = down.client.get(path)
        assert resp.status_code == 503 and "Cannot reach Redis" in resp.get_data(as_text=True), path
    resque.redis.sadd(resque.layout.queues, "odd")
    resque.redis.set(resque.layout.queue("odd"), "not a list")
    web = Browser(resque)
    resp = web.get("/queue?q=odd")
    assert resp.status_code == 409 and "pyresque check" in resp.get_data(as_text=True)


def test_messages_after_actions_on_hostile_names_are_escaped(resque: Resque) -> None:
    webseed.seed_hostile(resque)
    web = Browser(resque)
    for name in webseed.HOSTILE[:3]:
        assert web.post("/queue/clear", {"q": name}).status_code == 303
        page = web.text("/")
        assert "Cleared queue" in page and "<script>alert" not in page and "<img src=x" not in page
    # A flash cookie forged without the secret is ignored, not shown.
    web.client.set_cookie("localhost", "pyresque_flash", "eyJ4IjoiPHNjcmlwdD4ifQ.forged", path="/")
    assert '<p class="flash"' not in web.text("/")


# resque-scheduler's tabs ---------------------------------------------------------------------
def _scheduler_pages(resque: Resque) -> list[str]:
    first = resque.delayed.delayed_queue_peek(0, 1)[0]
    return ["/delayed", f"/delayed/at?ts={first}", "/delayed/search?class=mail", "/schedule"]


def test_scheduler_pages_have_no_inline_script_and_read_only_hides_and_refuses_their_actions(
        resque: Resque, r: Any) -> None:
    webseed.seed_scheduler(resque)
    web, ro = Browser(resque), Browser(resque, read_only=True)
    for path in _scheduler_pages(resque):
        page = web.text(path)
        assert 'method="post"' in page, path
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", page) and "style=" not in page and "<style" not in page, path
        hidden = ro.text(path)
        assert 'method="post"' not in hidden and "read-only" in hidden, path
    ts = resque.delayed.delayed_queue_peek(0, 1)[0]
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    sched = web.get("/api/schedule").get_json()["schedules"][0]
    forms = {"/delayed/enqueue-now": {"ts": ts, "index": 0, "digest": job["digest"]},
             "/delayed/remove": {"ts": ts, "index": 0, "digest": job["digest"]},
             "/delayed/enqueue-timestamp": {"ts": ts}, "/delayed/clear": {},
             "/schedule/enqueue-now": {"name": sched["name"], "digest": sched["digest"]},
             "/schedule/delete": {"name": sched["name"], "digest": sched["digest"]}}
    before = snapshot(r)
    token = web.token()
    for path, form in forms.items():
        assert ro.client.post(path, data=dict(form, csrf_token=token)).status_code == 403, path
        for bad in (None, "", "0" * 64, Browser(resque).token()):
            data = dict(form) if bad is None else dict(form, csrf_token=bad)
            resp = web.client.post(path, data=data)
            assert resp.status_code == 400 and "security token" in resp.get_data(as_text=True), (path, bad)
    assert snapshot(r) == before


def test_hostile_scheduler_data_renders_escaped_and_acts_by_exact_name(resque: Resque, r: Any) -> None:
    webseed.seed_hostile_scheduler(resque)
    web = Browser(resque)
    schedule = web.text("/schedule")
    assert "&lt;script&gt;alert(12)" in schedule and "&lt;script&gt;alert(10)" in schedule
    # Every hostile name got a run-now form that reaches exactly its schedule.
    rows = {s["name"]: s for s in web.get("/api/schedule").get_json()["schedules"]}
    name = webseed.HOSTILE[1]
    assert web.post("/schedule/enqueue-now", {"name": name, "digest": rows[name]["digest"]}).status_code == 303
    assert resque.peek(name, 0, 5) == [{"class": name, "args": [name]}]
    page = web.text("/")
    assert "Enqueued one run of" in page and "<img src=x" not in page
    ts = resque.delayed.delayed_queue_peek(0, 1)[0]
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    assert web.post("/delayed/enqueue-now", {"ts": ts, "digest": job["digest"]}).status_code == 303
    assert resque.peek(webseed.HOSTILE[0], 0, 5) == [{"class": webseed.HOSTILE[0],
                                                      "args": [webseed.HOSTILE[0], {webseed.HOSTILE[0]: [webseed.HOSTILE[0]]}]}]
    assert "<script>alert" not in web.text("/")
