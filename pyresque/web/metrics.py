"""``/metrics`` in Prometheus' text format (names in :mod:`pyresque.metrics`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from pyresque import history, metrics
from pyresque.web.security import state

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def index() -> Any:
    r = state().resque
    history.sample(r.redis, r.layout)
    text = metrics.render(metrics.collect(r.redis, r.layout, r.failure_backend))
    return Response(text, mimetype="text/plain", content_type="text/plain; version=0.0.4; charset=utf-8")
