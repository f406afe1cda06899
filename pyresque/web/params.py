"""Reading query and form parameters: bad values are a 400 with a clear message, never a 500.

Names (queues, worker ids, failure lists) are whatever bytes Redis holds. One
that is valid UTF-8 travels as itself (``q=name``); one that is not travels
as ``<field>_b64``, the URL-safe base64 of its bytes (``q_b64=YmFk_w==``),
because neither a URL's query (decoded as UTF-8) nor an HTML form field (text)
carries such bytes. :func:`link_args` writes links and form fields that way;
:func:`name_param` reads either form back to the name pyresque uses
(:func:`pyresque.connection.as_name`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from pyresque.connection import as_name, name_bytes
from pyresque.failed_admin import FailureFilter

BYTES_SUFFIX = "_b64"

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


def name_param(name: str, *, required: bool = False, source: Any = None) -> str:
    """A name parameter, given as itself or (when not UTF-8) as ``<name>_b64``."""
    values = request.values if source is None else source
    encoded = values.get(name + BYTES_SUFFIX, "")
    if not encoded:
        return text_param(name, required=required, source=source)
    try:
        raw = base64.b64decode(encoded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BadRequest(f"{name}{BYTES_SUFFIX} must be URL-safe base64") from None
    return as_name(raw)


def link_args(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for a link or form: a text value that is not UTF-8 (a name read from
    Redis) goes as ``<key>_b64``, everything else as it is."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                out[key + BYTES_SUFFIX] = base64.urlsafe_b64encode(name_bytes(value)).decode("ascii")
                continue
        out[key] = value
    return out


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
