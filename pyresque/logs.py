"""How the worker's log lines look: text or one JSON object per line.

The library only logs through :mod:`logging` (loggers under ``pyresque``)
and never configures it, so an application embedding pyresque keeps its own
configuration. :func:`configure` is for the command line: a level, a
format (``text`` or ``json``) and an optional log file.

Job lines carry their facts as ``extra`` fields (``queue``, ``class``,
``job_id``, ``duration_ms``, ``outcome``), which the JSON format emits as
keys, next to ``time``, ``level``, ``pid``, ``worker`` and ``message``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FORMATS = ("text", "json")
JOB_FIELDS = ("queue", "class", "job_id", "duration_ms", "outcome")
_TEXT = "%(asctime)s %(levelname)s [%(process)d] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``worker`` is set once the worker id is known."""

    def __init__(self, worker: str | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "pid": record.process,
            "worker": getattr(record, "worker", None) or self.worker,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in JOB_FIELDS:
            value = getattr(record, "job_" + key if key != "job_id" else key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(level: int, fmt: str = "text", logfile: str | None = None) -> logging.Formatter:
    """Send pyresque's records (and the root logger's) to stderr or ``logfile``."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    # A name that is not UTF-8 (a queue's, say) is logged escaped, as on stderr, not lost to an encoding error.
    handler: logging.Handler = (logging.FileHandler(logfile, errors="backslashreplace") if logfile
                                else logging.StreamHandler(sys.stderr))
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return formatter


def job_extra(queue: str, class_name: str | None, job_id: str | None, duration_ms: float, outcome: str) -> dict[str, Any]:
    """The ``extra`` of a job's log line (``class`` is a reserved-free name here)."""
    return {"job_queue": queue, "job_class": class_name, "job_id": job_id,
            "job_duration_ms": round(duration_ms, 3), "job_outcome": outcome}
