"""The JSON API: each view's data under ``/api/...``, read-only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from werkzeug.exceptions import BadRequest

from pyresque import browse, history
from pyresque.web import delayed, failed, overview, queues, schedule, stats, workers
from pyresque.web.params import name_param, text_param
from pyresque.web.security import state

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/overview")
def overview_api() -> Any:
    return jsonify(overview.overview_json(overview.overview_data()))


@bp.get("/queues")
def queues_api() -> Any:
    r = state().resque
    return jsonify([q.to_json() for q in browse.queue_summaries(r.redis, r.layout)])


@bp.get("/queue")
def queue_api() -> Any:
    return jsonify(queues.queue_page_data(name_param("q", required=True)).to_json())


@bp.get("/failed")
def failed_api() -> Any:
    page, ctx = failed.failed_page_data()
    return jsonify({"total": page.total, "start": page.start, "filter": ctx["filter"].to_args(),
                    "lists": [{"list": n, "count": c} for n, c in state().failed.lists()],
                    "items": [f.to_json() for f in page.items]})


@bp.get("/failed/show")
def failure_api() -> Any:
    return jsonify(failed.failure_data().to_json(full=True))


@bp.get("/workers")
def workers_api() -> Any:
    data = workers.workers_data()
    return jsonify({"paused": data["paused"], "workers": [w.to_json() for w in data["workers"]]})


@bp.get("/worker")
def worker_api() -> Any:
    return jsonify(workers.worker_data(name_param("id", required=True)).to_json())


@bp.get("/delayed")
def delayed_api() -> Any:
    return jsonify(delayed.index_json(delayed.index_data()))


@bp.get("/delayed/at")
def delayed_at_api() -> Any:
    return jsonify(delayed.at_json(delayed.at_data()))


@bp.get("/delayed/search")
def delayed_search_api() -> Any:
    return jsonify(delayed.search_json(delayed.search_data()))


@bp.get("/schedule")
def schedule_api() -> Any:
    return jsonify(schedule.schedule_json(schedule.schedule_data()))


@bp.get("/stats")
def stats_api() -> Any:
    data = stats.stats_data()
    return jsonify({"resque": data["info"], "redis": dict(data["redis_info"]),
                    "keys": {"total": data["keys"].total, "start": data["keys"].start,
                             "items": [k.to_json() for k in data["keys"].keys]}})


@bp.get("/history")
def history_api() -> Any:
    r = state().resque
    resolution = text_param("resolution") or "10s"
    if resolution not in history.RESOLUTIONS:
        raise BadRequest(f"resolution must be one of {', '.join(history.RESOLUTIONS)}")
    return jsonify([x.to_json() for x in history.rates(r.redis, r.layout, resolution)])
