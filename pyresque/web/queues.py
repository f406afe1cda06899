"""Queues: sizes and oldest jobs; one queue's jobs page by page; delete, clear, remove."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from werkzeug.exceptions import NotFound

from pyresque import browse, listitems
from pyresque.web.params import int_param, name_param, pages, paging, text_param
from pyresque.web.security import done, state

bp = Blueprint("queues", __name__)


def queue_page_data(name: str) -> browse.QueuePage:
    r = state().resque
    start, count = paging()
    page = browse.queue_page(r.redis, r.layout, name, start, count)
    if not page.known and page.size == 0:
        raise NotFound(f"There is no queue named {name!r}.")
    return page


@bp.get("/queues")
def index() -> Any:
    r = state().resque
    return render_template("pyresque/queues.html", queues=browse.queue_summaries(r.redis, r.layout))


@bp.get("/queue")
def show() -> Any:
    name = name_param("q", required=True)
    page = queue_page_data(name)
    start, count = paging()
    return render_template("pyresque/queue.html", page=page, paging=pages(page.size, start, count))


@bp.post("/queue/delete-job")
def delete_job() -> Any:
    r = state().resque
    name = name_param("q", required=True)
    index = int_param("index")
    sha = text_param("digest", required=True)
    found = listitems.remove(r.redis, r.layout.queue(name), index, sha, f"job {index} of queue {name!r}")
    return done(f"Deleted job {found.index} from queue {name}.", "queues.show", q=name)


@bp.post("/queue/clear")
def clear() -> Any:
    r = state().resque
    name = name_param("q", required=True)
    n = listitems.clear_queue(r.redis, r.layout, name)
    return done(f"Cleared queue {name}: {n} jobs deleted.", "queues.show", q=name)


@bp.post("/queue/remove")
def remove() -> Any:
    r = state().resque
    name = name_param("q", required=True)
    listitems.remove_queue_if_empty(r.redis, r.layout, name)
    return done(f"Removed the empty queue {name}.", "queues.index")
