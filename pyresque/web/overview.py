"""The overview: queues, what every worker is doing, failures, totals and live rates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from pyresque import browse, history
from pyresque.web.security import state

bp = Blueprint("overview", __name__)


def overview_data() -> dict[str, Any]:
    """Everything the overview shows; sampling the counters for the rate chart on the way."""
    r = state().resque
    history.sample(r.redis, r.layout)
    # Sizes only: the overview shows no job, so it decodes none (Queues shows the oldest).
    queues = [browse.QueueSummary(name, size, None) for name, size in r.queue_sizes().items()]
    workers = browse.worker_views(r.redis, r.layout)
    count = browse.counters(r.redis, r.layout)
    return {
        "queues": queues,
        "workers": workers,
        "working": [w for w in workers if w.info.job is not None],
        "pending": sum(q.size for q in queues),
        "failed_count": state().failed.count(),
        "counters": count,
        "rates": {name: history.rates(r.redis, r.layout, name) for name in history.RESOLUTIONS},
    }


def overview_json(data: dict[str, Any]) -> dict[str, Any]:
    c = data["counters"]
    return {
        "queues": [{"name": q.name, "size": q.size} for q in data["queues"]],
        "pending": data["pending"],
        "workers": len(data["workers"]),
        "working": [w.to_json() for w in data["working"]],
        "failed": data["failed_count"],
        "processed_total": c.processed,
        "failed_total": c.failed,
        "paused": c.paused,
        "rates": {name: [x.to_json() for x in rates] for name, rates in data["rates"].items()},
    }


@bp.get("/")
def index() -> Any:
    return render_template("pyresque/overview.html", **overview_data())
