"""The dashboard: a Flask app factory and a blueprint over pyresque's library.

    from pyresque.web import create_app
    app = create_app(Resque("redis://localhost:6379/0"))        # any WSGI server

    from pyresque.web import blueprint                           # inside your own Flask app
    app.register_blueprint(blueprint(resque, auth=Auth("ops", "secret")), url_prefix="/resque")

One blueprint per area (overview, queues, failed, workers, stats, api,
metrics) under a parent blueprint that holds the settings and the security
rules (:mod:`pyresque.web.security`). Views ask the library (``browse``,
``failed_admin``, ``control``, ``history``, ``metrics``) and never build a key
or call Redis themselves.
"""

from __future__ import annotations

import secrets
from flask import Blueprint, Flask

from pyresque.client import Resque
from pyresque.web.security import Auth, WebState, install

__all__ = ["Auth", "blueprint", "create_app"]


def blueprint(resque: Resque | None = None, *, read_only: bool = False, auth: Auth | None = None,
              secret_key: str | bytes | None = None, name: str = "pyresque") -> Blueprint:
    """The dashboard as a blueprint, to register under any ``url_prefix``.

    ``auth`` makes HTTP basic auth required for every request to it (static
    files included). ``secret_key`` signs CSRF tokens and messages; without
    it a random key is made per process, so processes behind one load
    balancer (several gunicorn workers) must be given the same key.
    """
    from pyresque.web import api, failed, metrics, overview, queues, stats, workers

    state = WebState(
        resque=resque if resque is not None else Resque(),
        read_only=read_only,
        auth=auth,
        secret=(secret_key.encode() if isinstance(secret_key, str) else secret_key) or secrets.token_bytes(32),
    )
    bp = Blueprint(name, __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")
    install(bp, state)
    for child in (overview.bp, queues.bp, failed.bp, workers.bp, stats.bp, api.bp, metrics.bp):
        bp.register_blueprint(child)
    return bp


def create_app(resque: Resque | None = None, *, read_only: bool = False, auth: Auth | None = None,
               prefix: str = "", secret_key: str | bytes | None = None) -> Flask:
    """A Flask app serving the dashboard at ``prefix`` (``""`` for ``/``)."""
    app = Flask(__name__, static_folder=None)  # static files only through the blueprint, behind its auth
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    app.register_blueprint(blueprint(resque, read_only=read_only, auth=auth, secret_key=secret_key),
                           url_prefix=prefix or None)
    return app
