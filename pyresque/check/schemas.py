"""The protocol's JSON Schemas (``protocol/schemas/``, installed as
``pyresque/schemas/``): loading them, and what a value violates."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pyresque.findings import (
    R_FIND, R_INCR, R_PRUNE, R_RETRY, R_SCHEDULER, R_WEB_FAILED, R_WEB_WORKERS, R_WORKER,
)

# Schema file names (protocol/schemas/<name>.schema.json).
JOB_PAYLOAD = "job-payload"
WORKER_ID = "worker-id"
WORKER_RECORD = "worker-record"
WORKER_STARTED = "worker-started"
HEARTBEAT = "heartbeat"
FAILURE_RECORD = "failure-record"
STAT_VALUE = "stat-value"
DELAYED_ITEM = "delayed-item"
SCHEDULE_CONFIG = "schedule-config"
SCHEDULER_LOCK = "scheduler-lock"
LAST_ENQUEUED_AT = "last-enqueued-at"
RETRY_COUNTER = "retry-counter"
RETRY_FAILURE = "retry-failure"
SCHEMA_NAMES = (
    JOB_PAYLOAD, WORKER_ID, WORKER_RECORD, WORKER_STARTED, HEARTBEAT,
    FAILURE_RECORD, STAT_VALUE, DELAYED_ITEM,
    SCHEDULE_CONFIG, SCHEDULER_LOCK, LAST_ENQUEUED_AT, RETRY_COUNTER, RETRY_FAILURE,
)
# Who a value that violates each schema breaks, and where SPEC describes it.
SCHEMA_READER = {
    JOB_PAYLOAD: (R_WORKER, "§3"),
    WORKER_ID: (R_FIND, "§4"),
    WORKER_RECORD: (R_WEB_WORKERS, "§5"),
    WORKER_STARTED: (R_WEB_WORKERS, "§5.1"),
    HEARTBEAT: (R_PRUNE, "§5.1"),
    FAILURE_RECORD: (R_WEB_FAILED, "§6.1"),
    STAT_VALUE: (R_INCR, "§8"),
    DELAYED_ITEM: (R_SCHEDULER, "§9.2"),
    SCHEDULE_CONFIG: (R_SCHEDULER, "§9.5"),
    SCHEDULER_LOCK: (R_SCHEDULER, "§9.4"),
    LAST_ENQUEUED_AT: (R_SCHEDULER, "§9.5"),
    RETRY_COUNTER: (R_RETRY, "§9.7"),
    RETRY_FAILURE: (R_RETRY, "§9.7"),
}


# Schemas ------------------------------------------------------------------------
def schema_dir() -> Any:
    """Where the schemas are: the installed ``pyresque/schemas``, else the checkout's ``protocol/schemas``.

    Returns a :class:`~pathlib.Path` (or, from a zipped install, an
    ``importlib.resources`` traversable): call ``joinpath(...).read_text()``.
    """
    package = Path(__file__).resolve().parent.parent
    marker = JOB_PAYLOAD + ".schema.json"
    for candidate in (package / "schemas", package.parent / "protocol" / "schemas"):
        if (candidate / marker).is_file():
            return candidate
    try:
        installed = resources.files("pyresque.schemas")
        if installed.joinpath(marker).is_file():
            return installed
    except (ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError("pyresque's JSON Schemas are missing: reinstall pyresque")


@functools.lru_cache(maxsize=None)
def load_schemas() -> dict[str, dict[str, Any]]:
    """Every protocol schema by name (``job-payload``, ``worker-id``...)."""
    root = schema_dir()
    return {name: json.loads(root.joinpath(f"{name}.schema.json").read_text("utf-8")) for name in SCHEMA_NAMES}


@functools.lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A Draft 2020-12 validator for one schema, resolving refs to the others locally."""
    schemas = load_schemas()
    cls = jsonschema.Draft202012Validator
    try:
        from referencing import Registry, Resource  # jsonschema >= 4.18
    except ImportError:
        store = {s["$id"]: s for s in schemas.values()}
        resolver = jsonschema.RefResolver.from_schema(schemas[name], store=store)
        return cls(schemas[name], resolver=resolver)
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return cls(schemas[name], registry=registry)


def schema_errors(name: str, instance: Any) -> list[str]:
    """Why ``instance`` violates schema ``name`` (empty when it is valid)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [_describe(e) for e in errors]


def _describe(error: Any) -> str:
    where = "".join(f"[{p!r}]" for p in error.absolute_path)
    message = error.message
    if error.validator == "pattern":
        examples = error.schema.get("examples") or []
        shown = " or ".join(repr(x) for x in examples[:2])
        message = f"{error.instance!r} is not in the required format" + (f" (e.g. {shown})" if shown else "")
    if len(message) > 200:
        message = message[:200] + "..."
    return f"{where}: {message}" if where else message
