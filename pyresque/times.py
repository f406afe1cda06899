"""The time formats Ruby Resque writes, each in the zone Ruby uses.

Ruby and resque-web parse these with ``Time.parse``/``DateTime.parse`` and
JavaScript ``new Date``; a format they cannot read breaks pages and even
Ruby worker startup, so each one is produced here and nowhere else.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


def run_at(now_s: float | None = None) -> str:
    """``worker:<id>`` ``run_at``: UTC ISO 8601, e.g. ``2026-11-23T03:22:31Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_now(now_s)))


def started(now_s: float | None = None) -> str:
    """``worker:<id>:started``: Ruby ``Time#to_s``, local, ``2026-11-23 03:22:31 +0000``."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(_now(now_s)))


def heartbeat(server_s: int) -> str:
    """``workers:heartbeat`` value: local ISO 8601 with a numeric offset, seconds only.

    ``server_s`` comes from Redis ``TIME`` so every worker shares one clock.
    Ruby writes ``+00:00`` (never ``Z``) under UTC; so does ``isoformat``.
    """
    return datetime.fromtimestamp(int(server_s)).astimezone().isoformat(timespec="seconds")


def parse_heartbeat(value: str) -> float:
    """Seconds since the epoch for a heartbeat value (ISO 8601, offset or ``Z``)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


def failed_at(now_s: float | None = None) -> str:
    """Failure ``failed_at`` (and ``retried_at``): local ``2026/11/23 03:22:31 UTC``.

    ``%Z`` comes from the C library, as Ruby's does, so zones without an
    abbreviation print an offset such as ``+03`` in both.
    """
    return time.strftime("%Y/%m/%d %H:%M:%S %Z", time.localtime(_now(now_s)))


def retried_at_without_zone(now_s: float | None = None) -> str:
    """``retried_at`` as the redis_multi_queue backend writes it (no zone)."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(_now(now_s)))


def epoch_s(now_s: float | None = None) -> int:
    """Whole seconds since the epoch, as the procline prints them."""
    return int(_now(now_s))


def utc_iso8601_ns(moment: datetime) -> str:
    """``2026-11-23T03:24:25.123456000Z``: Ruby ``iso8601(9)`` of a time, in UTC."""
    whole_s = int(moment.replace(microsecond=0).timestamp())
    return utc_iso8601_from_ns(whole_s * 1_000_000_000 + moment.microsecond * 1000)


def utc_iso8601_from_ns(epoch_ns: int | None = None) -> str:
    """Ruby's ``Time.now.utc.iso8601(9)`` for ``epoch_ns`` (now by default), nanoseconds kept."""
    seconds, nanos = divmod(time.time_ns() if epoch_ns is None else epoch_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _now(now_s: float | None) -> float:
    return time.time() if now_s is None else now_s
