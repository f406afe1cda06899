"""Failed jobs: filter, page, detail; retry or remove one, the selected or all matching; clear."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.exceptions import BadRequest

from pyresque.errors import ItemChanged
from pyresque.failed_admin import FailurePage, FailureView
from pyresque.web.params import failure_filter, int_param, link_args, name_param, pages, paging, text_param
from pyresque.web.security import done, state

bp = Blueprint("failed", __name__)

# index:digest:list, or index:digest~<list as URL-safe base64> for a list name that is not UTF-8.
_SELECTED = re.compile(r"\A(\d+):([0-9a-f]{40})(?::(.+)|~([A-Za-z0-9_=-]+))\Z", re.S)


def selected_value(view: FailureView) -> str:
    """What a failure's checkbox sends: which record, by position, content and list."""
    named = link_args({"list": view.list})
    if "list" in named:
        return f"{view.index}:{view.digest}:{view.list}"
    return f"{view.index}:{view.digest}~{next(iter(named.values()))}"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"selected_value": selected_value}


def failed_page_data() -> tuple[FailurePage, dict[str, Any]]:
    start, count = paging()
    only = name_param("list") or None
    order = text_param("order") or "newest"
    if order not in ("newest", "oldest"):
        raise BadRequest("order must be newest or oldest")
    flt = failure_filter()
    page = state().failed.page(start, count, only=only, flt=flt, newest_first=order == "newest")
    return page, {"only": only, "order": order, "filter": flt, "paging": pages(page.total, start, count)}


@bp.get("/failed")
def index() -> Any:
    page, ctx = failed_page_data()
    return render_template("pyresque/failed.html", page=page, lists=state().failed.lists(), **ctx)


def failure_data() -> FailureView:
    return state().failed.get(name_param("list", required=True), int_param("index"))


@bp.get("/failed/show")
def show() -> Any:
    view = failure_data()
    expected = text_param("digest")
    moved = bool(expected) and expected != view.digest
    return render_template("pyresque/failure.html", f=view, moved=moved)


def _back(**extra: Any) -> dict[str, Any]:
    """Where to go after an action: the failed list with the filter the form carried."""
    args: dict[str, Any] = failure_filter(request.form).to_args()
    only = name_param("list", source=request.form)
    if only:
        args["list"] = only
    args.update(extra)
    return args


@bp.post("/failed/retry")
def retry() -> Any:
    name, index, sha = name_param("list", required=True), int_param("index"), text_param("digest", required=True)
    view = state().failed.retry(name, index, sha)
    queue = view.field("queue")
    return done(f"Retried failure {view.index} ({view.job.job_class}) on queue {queue}.", "failed.index", **_back())


@bp.post("/failed/remove")
def remove() -> Any:
    name, index, sha = name_param("list", required=True), int_param("index"), text_param("digest", required=True)
    state().failed.remove(name, index, sha)
    return done(f"Removed failure {index}.", "failed.index", **_back())


@bp.post("/failed/selected")
def selected() -> Any:
    action = text_param("action", required=True)
    if action not in ("retry", "remove"):
        raise BadRequest("action must be retry or remove")
    picks = []
    for value in request.form.getlist("selected"):
        match = _SELECTED.match(value)
        if not match:
            raise BadRequest("a selected failure is malformed; nothing was done")
        name = match.group(3) if match.group(3) is not None else name_param("list", source={"list_b64": match.group(4)})
        picks.append((name, int(match.group(1)), match.group(2)))
    if not picks:
        raise BadRequest("select at least one failure first; nothing was done")
    admin = state().failed
    ok, gone = 0, 0
    # Retry oldest first, so jobs go back in the order they failed; remove highest
    # index first, so removing one never shifts the next one we look at.
    for name, index, sha in sorted(picks, key=lambda p: p[1], reverse=action == "remove"):
        try:
            if action == "retry":
                admin.retry(name, index, sha)
            else:
                admin.remove(name, index, sha)
            ok += 1
        except ItemChanged:  # counted and reported; the rest still runs
            gone += 1
    verb = "Retried" if action == "retry" else "Removed"
    extra = f"; {gone} had changed or gone and were left alone" if gone else ""
    return done(f"{verb} {ok} selected failures{extra}.", "failed.index", **_back())


@bp.post("/failed/matching")
def matching() -> Any:
    action = text_param("action", required=True)
    if action not in ("retry", "remove"):
        raise BadRequest("action must be retry or remove")
    flt = failure_filter(request.form)
    only = name_param("list", source=request.form) or None
    admin = state().failed
    n = admin.retry_matching(flt, only) if action == "retry" else admin.remove_matching(flt, only)
    verb = "Retried" if action == "retry" else "Removed"
    return done(f"{verb} {n} failures matching the filter.", "failed.index", **_back())


@bp.post("/failed/clear")
def clear() -> Any:
    only = name_param("list", source=request.form) or None
    n = state().failed.clear(only)
    return done(f"Cleared {n} failures.", "failed.index")


@bp.post("/failed/clear-retried")
def clear_retried() -> Any:
    only = name_param("list", source=request.form) or None
    n = state().failed.clear_retried(only)
    return done(f"Removed {n} retried failures.", "failed.index", **_back())
