"""The dashboard: a Flask app factory and a blueprint over pyresque's library.

    from pyresque.web import create_app
    app = create_app(Resque("redis://localhost:6379/0"))        # any WSGI server

    from pyresque.web import blueprint                           # inside your own Flask app
    app.register_blueprint(blueprint(resque, auth=Auth("ops", "secret")), url_prefix="/resque")

One blueprint per area (overview, queues, failed, workers, delayed, schedule,
stats, api, metrics) under a parent blueprint that holds the settings and the security
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
              secret_key: str | bytes | None = None, name: str = "pyresque", schedule_file: str | None = None,
              scheduler_lock_prefix: str = "") -> Blueprint:
    """The dashboard as a blueprint, to register under any ``url_prefix``.

    ``auth`` makes HTTP basic auth required for every request to it (static
    files included). ``secret_key`` signs CSRF tokens and messages; without
    it a random key is made per process, so processes behind one load
    balancer (several gunicorn workers) must be given the same key.
    ``schedule_file`` is the YAML schedule the scheduler runs: the Schedule
    page shows its entries beside the dynamic ones in Redis (resque-scheduler
    keeps a static schedule in the scheduler process only).
    ``scheduler_lock_prefix`` is the scheduler's ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``.
    """
    from pyresque.web import api, delayed, failed, metrics, overview, queues, schedule, stats, workers

    state = WebState(
        resque=resque if resque is not None else Resque(),
        read_only=read_only,
        auth=auth,
        secret=(secret_key.encode() if isinstance(secret_key, str) else secret_key) or secrets.token_bytes(32),
        schedule_file=schedule_file,
        scheduler_lock_prefix=scheduler_lock_prefix,
    )
    bp = Blueprint(name, __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")
    install(bp, state)
    for child in (overview.bp, queues.bp, failed.bp, workers.bp, delayed.bp, schedule.bp, stats.bp, api.bp, metrics.bp):
        bp.register_blueprint(child)
    return bp


def create_app(resque: Resque | None = None, *, read_only: bool = False, auth: Auth | None = None,
               prefix: str = "", secret_key: str | bytes | None = None, schedule_file: str | None = None,
               scheduler_lock_prefix: str = "") -> Flask:
    """A Flask app serving the dashboard at ``prefix`` (``""`` for ``/``); the rest as :func:`blueprint`."""
    app = Flask(__name__, static_folder=None)  # static files only through the blueprint, behind its auth
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    app.register_blueprint(blueprint(resque, read_only=read_only, auth=auth, secret_key=secret_key,
                                     schedule_file=schedule_file, scheduler_lock_prefix=scheduler_lock_prefix),
                           url_prefix=prefix or None)
    return app
