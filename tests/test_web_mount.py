"""The dashboard mounted inside another Flask app, under a prefix, and behind a proxy's SCRIPT_NAME."""

from __future__ import annotations

import base64
import re

from flask import Flask, render_template_string

from pyresque import Resque
from pyresque.web import Auth, blueprint, create_app

import webseed

CREDS = {"Authorization": "Basic " + base64.b64encode(b"ops:pw").decode()}


def test_blueprint_mounts_under_a_prefix_without_touching_the_host_app(resque: Resque) -> None:
    webseed.seed_demo(resque)
    host = Flask("host")

    @host.get("/")
    def home() -> str:
        # The host's own templates do not see the dashboard's helpers.
        return render_template_string("home {{ u is defined }}")

    host.register_blueprint(blueprint(resque, auth=Auth("ops", "pw")), url_prefix="/admin/resque")
    client = host.test_client()
    assert client.get("/").get_data(as_text=True) == "home False"
    assert client.get("/admin/resque/").status_code == 401
    page = client.get("/admin/resque/failed", headers=CREDS).get_data(as_text=True)
    assert 'href="/admin/resque/queues"' in page and 'src="/admin/resque/static/pyresque.js"' in page
    with client.get("/admin/resque/static/pyresque.css") as resp:
        assert resp.status_code == 401
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    resp = client.post("/admin/resque/workers/pause", data={"csrf_token": token}, headers=CREDS)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/resque/workers")
    assert resque.redis.get(resque.layout.pause_all) == b"true"
    assert "set-cookie" not in {k.lower() for k in client.get("/").headers.keys()}


def test_create_app_prefix_and_a_reverse_proxy_script_name(resque: Resque) -> None:
    app = create_app(resque, prefix="/resque/")
    client = app.test_client()
    assert client.get("/").status_code == 404
    assert 'href="/resque/workers"' in client.get("/resque/").get_data(as_text=True)
    # Behind a proxy that mounts the app at /ops (SCRIPT_NAME), every link carries it.
    proxied = app.test_client()
    page = proxied.get("/resque/queues", base_url="http://localhost/ops/").get_data(as_text=True)
    assert 'href="/ops/resque/failed"' in page and 'href="/ops/resque/static/pyresque.css"' in page


def test_cookies_are_strict_httponly_and_secure_over_https(resque: Resque) -> None:
    client = create_app(resque).test_client()
    plain = client.get("/").headers.get_all("Set-Cookie")
    assert len(plain) == 1 and "HttpOnly" in plain[0] and "SameSite=Strict" in plain[0] and "Secure" not in plain[0]
    tls = create_app(resque).test_client().get("/", base_url="https://localhost/").headers.get_all("Set-Cookie")
    assert "Secure" in tls[0]
