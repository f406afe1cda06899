"""Stats: Resque.info, Redis INFO and the namespace's keys (found with SCAN, never KEYS)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from pyresque import browse
from pyresque.web.params import int_param, pages
from pyresque.web.security import state

bp = Blueprint("stats", __name__)


def stats_data() -> dict[str, Any]:
    r = state().resque
    start = int_param("start", 0)
    count = int_param("count", 50, low=1, high=1000)
    keys = browse.key_page(r.redis, r.layout, start, count)
    return {"info": r.info(), "redis_info": browse.redis_info(r.redis),
            "keys": keys, "paging": pages(keys.total, start, count)}


@bp.get("/stats")
def index() -> Any:
    return render_template("pyresque/stats.html", **stats_data())
