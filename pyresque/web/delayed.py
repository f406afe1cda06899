"""Delayed jobs (resque-scheduler's Delayed tab): timestamps oldest first, one
timestamp's jobs, a search by class; run now or remove one job, run a whole
timestamp now, clear everything.

Every read and write goes through :class:`pyresque.scheduler.delayed.Delayed`.
An action on one job names it by its timestamp, position and the SHA-1 of
its bytes, so it acts on the job the user saw or reports it gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, render_template, request

from pyresque import browse
from pyresque import payload as codec
from pyresque.errors import ItemChanged
from pyresque.web.params import int_param, pages, paging, text_param
from pyresque.web.security import done, state

bp = Blueprint("delayed", __name__)

# A search reads every bucket; it stops after this many matches (the page says so).
SEARCH_LIMIT = 1000
_MAX_TS = 10**11  # year 5138: anything larger is not a unix second


@bp.app_template_filter("pyresque_utc")
def utc_iso(ts: float) -> str:
    """Unix seconds as UTC ISO 8601: ``2027-01-01T08:00:00Z``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DelayedJob:
    """One delayed item as shown: where it waits, its job, the queue it goes to."""

    ts: int
    index: int
    job: browse.JobView
    queue: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.job.to_json(), ts=self.ts, at=utc_iso(self.ts), position=self.index, queue=self.queue)


def delayed_job(ts: int, index: int, raw: bytes) -> DelayedJob:
    job = browse.describe_job(raw)
    queue = None
    if job.problem is None:
        try:
            found = codec.decode(raw).get("queue")
        except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
            found = None
        queue = found if isinstance(found, str) else None
    return DelayedJob(ts, index, job, queue)


def _ts_param(source: Any = None) -> int:
    return int_param("ts", low=0, high=_MAX_TS, source=source)


# Reading ---------------------------------------------------------------------------
def index_data() -> dict[str, Any]:
    d = state().resque.delayed
    start, count = paging()
    page = d.bucket_page(start, count)
    rows = [{"ts": b.ts, "size": b.size, "first": delayed_job(b.ts, 0, b.first) if b.first is not None else None}
            for b in page.buckets]
    return {"rows": rows, "total": page.total, "jobs": d.count_all_scheduled_jobs(), "now": time.time(),
            "paging": pages(page.total, start, count)}


def index_json(data: dict[str, Any]) -> dict[str, Any]:
    now = data["now"]
    return {"timestamps": data["total"], "jobs": data["jobs"], "start": data["paging"]["start"],
            "items": [{"ts": row["ts"], "at": utc_iso(row["ts"]), "due_in_s": round(row["ts"] - now, 3),
                       "size": row["size"], "first": row["first"].to_json() if row["first"] else None}
                      for row in data["rows"]]}


def at_data() -> dict[str, Any]:
    ts = _ts_param()
    start, count = paging()
    size, raws = state().resque.delayed.bucket_items(ts, start, count)
    return {"ts": ts, "size": size, "jobs": [delayed_job(ts, start + i, raw) for i, raw in enumerate(raws)],
            "now": time.time(), "paging": pages(size, start, count)}


def at_json(data: dict[str, Any]) -> dict[str, Any]:
    return {"ts": data["ts"], "at": utc_iso(data["ts"]), "due_in_s": round(data["ts"] - data["now"], 3),
            "size": data["size"], "start": data["paging"]["start"], "jobs": [j.to_json() for j in data["jobs"]]}


def search_data() -> dict[str, Any]:
    needle = text_param("class").strip()
    start, count = paging()
    found: list[DelayedJob] = []
    if needle:
        lowered = needle.lower()

        def matches(raw: bytes) -> bool:
            job = browse.describe_job(raw)
            return any(lowered in name.lower() for name in (job.class_name, job.job_class) if name)

        hits = state().resque.delayed.find_items(matches, SEARCH_LIMIT)
        found = [delayed_job(ts, -1, raw) for ts, raw in hits]
    return {"needle": needle, "total": len(found), "limited": len(found) >= SEARCH_LIMIT,
            "jobs": found[start:start + count], "now": time.time(), "paging": pages(len(found), start, count)}


def search_json(data: dict[str, Any]) -> dict[str, Any]:
    return {"class": data["needle"], "total": data["total"], "limited": data["limited"],
            "start": data["paging"]["start"], "jobs": [j.to_json() for j in data["jobs"]]}


@bp.get("/delayed")
def index() -> Any:
    return render_template("pyresque/delayed.html", **index_data())


@bp.get("/delayed/at")
def at() -> Any:
    return render_template("pyresque/delayed_at.html", **at_data())


@bp.get("/delayed/search")
def search() -> Any:
    return render_template("pyresque/delayed_search.html", **search_data())


# Actions ---------------------------------------------------------------------------
def _back() -> tuple[str, dict[str, Any]]:
    """Where a per-job action returns: the search it came from, else the job's timestamp."""
    if request.form.get("back") == "search":
        return "delayed.search", {"class": request.form.get("class", "")}
    return "delayed.at", {"ts": request.form.get("ts", "")}


def _located() -> tuple[int, bytes]:
    ts = _ts_param()
    sha = text_param("digest", required=True)
    raw = state().resque.delayed.locate_item(ts, sha, int_param("index", -1, low=-1))
    if raw is None:
        raise ItemChanged(f"that delayed job is no longer due at {utc_iso(ts)} (it was run, removed or changed "
                          "since the page was shown); nothing was done")
    return ts, raw


@bp.post("/delayed/enqueue-now")
def enqueue_now() -> Any:
    ts, raw = _located()
    shown = browse.describe_job(raw).job_class
    queue = state().resque.delayed.enqueue_item_now(ts, raw)
    endpoint, args = _back()
    if queue is None:
        return done(f"A before hook of {shown} cancelled it: the delayed job was removed, not enqueued.",
                    endpoint, **args)
    return done(f"Enqueued {shown} on queue {queue} (it was due at {utc_iso(ts)}).", endpoint, **args)


@bp.post("/delayed/remove")
def remove() -> Any:
    ts, raw = _located()
    if not state().resque.delayed.remove_item(ts, raw):
        raise ItemChanged("that delayed job was taken by someone else meanwhile; nothing was done")
    endpoint, args = _back()
    return done(f"Removed a delayed {browse.describe_job(raw).job_class} job due at {utc_iso(ts)}.", endpoint, **args)


@bp.post("/delayed/enqueue-timestamp")
def enqueue_timestamp() -> Any:
    ts = _ts_param()
    run = state().resque.delayed.enqueue_bucket_now(ts)
    if not (run.moved or run.cancelled or run.left):
        raise ItemChanged(f"no job is delayed to {utc_iso(ts)} any more (they were run or removed); nothing was done")
    extra = ""
    if run.cancelled:
        extra += f"; {run.cancelled} cancelled by a before hook"
    if run.left:
        extra += f"; {run.left} left in place: not jobs that can be queued (no class, no queue or not JSON)"
    return done(f"Enqueued {run.moved} jobs due at {utc_iso(ts)}{extra}.", "delayed.index")


@bp.post("/delayed/clear")
def clear() -> Any:
    d = state().resque.delayed
    n = d.count_all_scheduled_jobs()
    d.reset_delayed_queue()
    return done(f"Cleared every delayed job ({n}).", "delayed.index")
