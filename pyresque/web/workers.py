"""Workers: every registered worker, stale ones marked and prunable; pause and resume all."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.exceptions import NotFound

from pyresque import browse, control
from pyresque.heartbeat import PRUNE_AFTER_S
from pyresque.web.params import name_param
from pyresque.web.security import done, state

bp = Blueprint("workers", __name__)


def workers_data() -> dict[str, Any]:
    r = state().resque
    views = browse.worker_views(r.redis, r.layout)
    return {"workers": views, "stale": [w for w in views if w.stale], "paused": r.all_paused(),
            "prune_after_s": PRUNE_AFTER_S}


@bp.get("/workers")
def index() -> Any:
    return render_template("pyresque/workers.html", **workers_data())


def worker_data(wid: str) -> browse.WorkerView:
    for view in workers_data()["workers"]:
        if view.info.id == wid:
            return view
    raise NotFound(f"There is no registered worker {wid!r}.")


@bp.get("/worker")
def show() -> Any:
    return render_template("pyresque/worker.html", w=worker_data(name_param("id", required=True)))


@bp.post("/workers/prune")
def prune() -> Any:
    r = state().resque
    only = name_param("id", source=request.form) or None
    removed = control.prune_stale(r.redis, r.layout, r.failure_backend, only=only)
    if only and not removed:
        return done(f"Worker {only} is not stale (or is gone); nothing was pruned.", "workers.index")
    return done(f"Pruned {len(removed)} stale workers.", "workers.index")


@bp.post("/workers/pause")
def pause() -> Any:
    r = state().resque
    r.pause_all()
    return done("Paused all workers: they finish their current job and take no new ones.", "workers.index")


@bp.post("/workers/resume")
def resume() -> Any:
    r = state().resque
    r.resume_all()
    return done("Resumed all workers.", "workers.index")
