"""Recurring schedules (resque-scheduler's Schedule tab): each with its cron or
every, class, queue, arguments, last and next run, and who is master; run
one now; remove a dynamic one.

The dynamic schedules live in Redis (``persistent_schedules``). The static
schedule lives only in the scheduler process (resque-scheduler 5 keeps it out
of Redis), so the dashboard shows it when it is given the same file
(``pyresque web --schedule FILE``), as resque-web shows it when its
config loads it. Everything is read by :mod:`pyresque.scheduler.schedule`.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, render_template
from werkzeug.exceptions import BadRequest

from pyresque.errors import InvalidSchedule, ItemChanged
from pyresque.scheduler import runs
from pyresque.scheduler import schedule as sched
from pyresque.web.delayed import utc_iso
from pyresque.web.params import text_param
from pyresque.web.security import done, state

bp = Blueprint("schedule", __name__)


def schedule_data() -> dict[str, Any]:
    web = state()
    static: Any = None
    file_problem = None
    if web.schedule_file:
        try:
            static = sched.load_mapping(web.schedule_file)
        except InvalidSchedule as exc:
            file_problem = str(exc)
        if static is not None and not isinstance(static, dict):
            file_problem, static = f"{web.schedule_file} is not a mapping of names to settings", None
    now = time.time()
    found = runs.schedule_state(web.resque, static, now_s=now, lock_prefix=web.scheduler_lock_prefix)
    return {"state": found, "now": now, "schedule_file": web.schedule_file, "file_problem": file_problem}


def schedule_json(data: dict[str, Any]) -> dict[str, Any]:
    found: runs.ScheduleState = data["state"]
    return {"schedules": [dict(v.to_json(), next_run=utc_iso(v.next_run_s) if v.next_run_s is not None else None)
                          for v in found.schedules],
            "unlisted": [{"name": n, "last_enqueued_at": t} for n, t in found.unlisted.items()],
            "master": found.master, "master_ttl_s": found.master_ttl_s,
            "schedule_file": data["schedule_file"], "file_problem": data["file_problem"],
            "problems": [str(p) for p in found.problems]}


@bp.get("/schedule")
def index() -> Any:
    return render_template("pyresque/schedule.html", **schedule_data())


def _shown() -> runs.ScheduleView:
    """The schedule the form names, as long as its settings are still the ones the page showed."""
    name = text_param("name", required=True)
    sha = text_param("digest", required=True)
    for view in schedule_data()["state"].schedules:
        if view.name == name:
            if view.digest != sha:
                raise ItemChanged(f"schedule {name!r} changed since the page was shown; nothing was done: "
                                  "reload the page and look again")
            return view
    raise ItemChanged(f"there is no schedule {name!r} any more; nothing was done")


@bp.post("/schedule/enqueue-now")
def enqueue_now() -> Any:
    view = _shown()
    if view.entry is None:
        raise BadRequest(f"schedule {view.name!r} cannot run: {view.problem}")
    queue = runs.enqueue_now(state().resque, view.entry)
    return done(f"Enqueued one run of {view.name} ({view.job_class}) on queue {queue}.", "schedule.index")


@bp.post("/schedule/delete")
def delete() -> Any:
    view = _shown()
    if view.source != "dynamic":
        raise BadRequest(f"schedule {view.name!r} comes from the schedule file, not from Redis: "
                         "change the file and restart the scheduler to remove it")
    r = state().resque
    if not sched.remove_schedule(r.redis, r.layout, view.name):
        raise ItemChanged(f"schedule {view.name!r} was removed by someone else meanwhile; nothing was done")
    return done(f"Removed the dynamic schedule {view.name}; schedulers with DYNAMIC_SCHEDULE drop it on "
                "their next pass.", "schedule.index")
