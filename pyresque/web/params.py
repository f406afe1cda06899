"""Reading query and form parameters: bad values are a 400 with a clear message, never a 500."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from pyresque.failed_admin import FailureFilter

PER_PAGE = 20
MAX_PER_PAGE = 500


def int_param(name: str, default: int | None = None, *, low: int = 0, high: int = 10**12,
              source: Any = None) -> int:
    values = request.values if source is None else source
    text = values.get(name)
    if text is None or text == "":
        if default is None:
            raise BadRequest(f"{name} is required")
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def text_param(name: str, *, required: bool = False, source: Any = None) -> str:
    values = request.values if source is None else source
    text = values.get(name, "")
    if required and not text:
        raise BadRequest(f"{name} is required")
    return text


def paging() -> tuple[int, int]:
    return int_param("start", 0), int_param("count", PER_PAGE, low=1, high=MAX_PER_PAGE)


def failure_filter(source: Any = None) -> FailureFilter:
    values = request.values if source is None else source
    retried = values.get("retried", "")
    if retried not in ("", "yes", "no"):
        raise BadRequest("retried must be yes or no")
    return FailureFilter(queue=values.get("queue", ""), job_class=values.get("class", ""),
                         exception=values.get("exception", ""), text=values.get("q", ""),
                         retried=None if retried == "" else retried == "yes")


def pages(total: int, start: int, count: int) -> dict[str, Any]:
    """What the pager macro shows: the window and the neighbouring starts."""
    return {"total": total, "start": start, "count": count,
            "end": min(total, start + count),
            "prev": max(0, start - count) if start > 0 else None,
            "next": start + count if start + count < total else None,
            "last": ((total - 1) // count) * count if total > count else None}
