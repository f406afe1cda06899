"""How a job is named to people: in logs, the CLI and the dashboard.

A plain job is its wire class. An ActiveJob job is always the wrapper class
on the wire; people know it by the Rails job class inside (``job_class``)
and its ``job_id``, so those are what is shown.
"""

from __future__ import annotations

from typing import Any

from pyresque.activejob.jobs import WRAPPER_CLASS


def job_name(class_name: Any, args: Any) -> tuple[str | None, str | None]:
    """``(class to show, job id or None)`` for a payload's class and args."""
    if class_name == WRAPPER_CLASS and isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict):
        data = args[0]
        inner, job_id = data.get("job_class"), data.get("job_id")
        if isinstance(inner, str) and inner:
            return inner, job_id if isinstance(job_id, str) else None
    return (class_name if isinstance(class_name, str) else None), None
