"""``pyresque check``: find values in a live keyspace that break the protocol.

:func:`check` walks one namespace with ``SCAN`` (never ``KEYS``) and only
reads: it looks at each key's Redis type, at queued payloads (the first and
last :data:`SAMPLE` of long lists), worker records and ids, ``started``
values, heartbeats (unparsable, or stale by Redis ``TIME``), failure records
in ``failed`` and every ``<q>_failed`` list, stats and resque-scheduler's
keys, and reports each violation as a :class:`Problem`.

Errors are values that break a reader (a Ruby worker that exits, a resque-web
page that returns 500, an ``INCRBY`` that fails); warnings are states that
work but will surprise someone (a stale heartbeat a starting Ruby worker will
prune, a queue missing from ``queues`` that ``*`` workers never see).

Values are judged against the JSON Schemas in ``protocol/schemas/``
(installed as ``pyresque/schemas/``), the same ones the test suite holds
both pyresque and real Ruby Resque to.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import jsonschema
import redis as redis_py

from pyresque import times
from pyresque.keys import Keys

ERROR = "error"
WARNING = "warning"

# How many items to read from each end of a long list.
SAMPLE = 100
# Ruby prunes a worker whose heartbeat is older than this (Resque.prune_interval).
STALE_HEARTBEAT_S = 300
# A heartbeat this far in the future means a writer uses its own clock, not Redis TIME.
FUTURE_HEARTBEAT_S = 60
# Ruby's JSON parser refuses documents nested deeper than this.
MAX_NESTING = 100
_INT64 = (-(2**63), 2**63 - 1)

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

# The Redis type each kind of key (pyresque.keys.KeyKind.kind) must have.
_EXPECTED_TYPE = {
    "queues": "set",
    "queue": "list",
    "workers": "set",
    "worker": "string",
    "worker_started": "string",
    "heartbeat": "hash",
    "prune_lock": "string",
    "pause_all": "string",
    "stat": "string",
    "failed": "list",
    "failed_queues": "set",
    "failed_list": "list",
    "delayed_schedule": "zset",
    "delayed": "list",
    "timestamps": "set",
    "persistent_schedules": "hash",
    "schedules_changed": "set",
    "last_enqueued_at": "hash",
    "scheduler_lock": "string",
    "retry": "string",
    "retry_failure": "string",
}


@dataclass(frozen=True)
class Problem:
    """One violation: ``severity`` is :data:`ERROR` or :data:`WARNING`; ``key`` is the full Redis key."""

    severity: str
    key: str
    message: str


# Schemas ------------------------------------------------------------------------
def schema_dir() -> Any:
    """Where the schemas are: the installed ``pyresque/schemas``, else the checkout's ``protocol/schemas``.

    Returns a :class:`~pathlib.Path` (or, from a zipped install, an
    ``importlib.resources`` traversable): call ``joinpath(...).read_text()``.
    """
    here = Path(__file__).resolve().parent
    marker = JOB_PAYLOAD + ".schema.json"
    for candidate in (here / "schemas", here.parent / "protocol" / "schemas"):
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


# The walk -----------------------------------------------------------------------
def check(client: redis_py.Redis, keys: Keys, sample: int = SAMPLE) -> list[Problem]:
    """Every protocol violation in the namespace of ``keys``, errors first. Read-only."""
    return _Checker(client, keys, sample).run()


class _Checker:
    def __init__(self, client: redis_py.Redis, keys: Keys, sample: int) -> None:
        self.r = client
        self.keys = keys
        self.sample = max(1, sample)
        self.problems: list[Problem] = []

    def error(self, key: str, message: str) -> None:
        self.problems.append(Problem(ERROR, key, message))

    def warn(self, key: str, message: str) -> None:
        self.problems.append(Problem(WARNING, key, message))

    def run(self) -> list[Problem]:
        found = self.scan_types()
        seconds, _ = self.r.time()
        self.now = int(seconds)
        self.registered = set(self.members(self.keys.workers)) if found.get(self.keys.workers) == "set" else set()
        self.known_queues = set(self.members(self.keys.queues)) if found.get(self.keys.queues) == "set" else set()
        failed_queues = set(self.members(self.keys.failed_queues)) if found.get(self.keys.failed_queues) == "set" else set()
        failure_lists = {self.keys.failed} | {self.keys.failed_list(n) for n in failed_queues}

        handlers: dict[str, Callable[[str, str], None]] = {
            "queues": self.check_queues_set,
            "queue": self.check_queue,
            "workers": self.check_workers_set,
            "worker": self.check_worker_record,
            "worker_started": self.check_started,
            "heartbeat": self.check_heartbeats,
            "prune_lock": self.check_prune_lock,
            "pause_all": self.check_pause,
            "stat": self.check_stat,
            "failed": lambda key, arg: self.check_failures(key),
            "failed_queues": self.check_failed_queues,
            "failed_list": lambda key, arg: self.check_failures(key) if key in failure_lists else None,
            "delayed_schedule": self.check_schedule,
            "delayed": self.check_delayed,
            "timestamps": self.check_timestamps,
            "persistent_schedules": self.check_persistent_schedules,
            "schedules_changed": lambda key, arg: None,
            "last_enqueued_at": self.check_last_enqueued_at,
            "scheduler_lock": self.check_scheduler_lock,
            "retry": self.check_retry_counter,
            "retry_failure": lambda key, arg: self.json_against(RETRY_FAILURE, key, "the details", self.r.get(key)),
        }
        for key in sorted(found):
            kind = self.keys.parse(key)
            if kind is None or kind.kind not in _EXPECTED_TYPE:
                continue
            if kind.kind == "failed_list" and key not in failure_lists:
                continue  # a key that merely ends in _failed, not a failure list
            actual = found[key]
            expected = _EXPECTED_TYPE[kind.kind]
            if actual != expected:
                self.error(key, f"is a Redis {actual}, but Resque keeps a {expected} here")
                continue
            handlers[kind.kind](key, kind.arg)
        self.check_heartbeat_presence(found)
        order = {ERROR: 0, WARNING: 1}
        return sorted(self.problems, key=lambda p: (order.get(p.severity, 2), p.key, p.message))

    # Helpers ---------------------------------------------------------------
    def scan_types(self) -> dict[str, str]:
        names = [_text(k) for k in self.r.scan_iter(match=self.keys.all_pattern(), count=1000)]
        names = sorted({n for n in names if n is not None})
        types: dict[str, str] = {}
        for start in range(0, len(names), 1000):
            chunk = names[start : start + 1000]
            pipe = self.r.pipeline(transaction=False)
            for name in chunk:
                pipe.type(name)
            for name, kind in zip(chunk, pipe.execute()):
                kind_text = _text(kind) or "none"
                if kind_text != "none":  # expired between SCAN and TYPE
                    types[name] = kind_text
        return types

    def members(self, key: str) -> list[str]:
        return [t for t in (_text(m) for m in self.r.sscan_iter(key, count=1000)) if t is not None]

    def sampled(self, key: str) -> list[tuple[int, bytes]]:
        """(index, item) for the whole list, or its first and last ``sample`` items."""
        length = int(self.r.llen(key))
        if length <= 2 * self.sample:
            return list(enumerate(self.r.lrange(key, 0, -1)))
        head = self.r.lrange(key, 0, self.sample - 1)
        tail = self.r.lrange(key, -self.sample, -1)
        first_tail = length - len(tail)
        return list(enumerate(head)) + [(first_tail + i, v) for i, v in enumerate(tail)]

    def decoded(self, key: str, where: str, raw: Any) -> tuple[bool, Any]:
        """(ok, value): ``raw`` parsed as Ruby's JSON parser would, or an error reported."""
        text = _strict_text(raw)
        if text is None:
            self.error(key, f"{where} is not valid UTF-8")
            return False, None
        try:
            value = json.loads(text, parse_constant=_no_constant, parse_int=_big_int)
        except (ValueError, RecursionError) as exc:
            self.error(key, f"{where} is not valid JSON ({exc}): {_short(text)}")
            return False, None
        depth = _depth(value)
        if depth > MAX_NESTING:
            self.error(key, f"{where} is nested {depth} levels deep; Ruby's JSON parser refuses more than {MAX_NESTING}")
            return False, None
        return True, value

    def json_against(self, schema: str, key: str, where: str, raw: Any) -> None:
        """Parse ``raw`` as Ruby would, then check it against ``schema``; report either failure."""
        ok, value = self.decoded(key, where, raw)
        if ok:
            self.against(schema, key, where, value)

    def against(self, schema: str, key: str, where: str, value: Any) -> bool:
        errors = schema_errors(schema, value)
        for message in errors:
            self.error(key, f"{where} violates {schema}: {message}")
        return not errors

    def check_worker_id(self, key: str, where: str, wid: str) -> bool:
        if not self.against(WORKER_ID, key, where, wid):
            return False
        queues = wid.split(":", 2)[2]
        if ":" in queues:
            self.warn(key, f"{where} {wid!r} has ':' in its queues; resque-web and Ruby's pruning split on every ':'")
        return True

    # Queues ------------------------------------------------------------------
    def check_queues_set(self, key: str, arg: str) -> None:
        for name in sorted(self.known_queues):
            if not name:
                self.error(key, "has an empty queue name")
            elif "," in name:
                self.error(key, f"queue name {name!r} contains ',', which splits worker ids into two queues")
            elif ":" in name:
                self.warn(key, f"queue name {name!r} contains ':'; resque-web and Ruby's pruning misread worker ids for it")

    def check_queue(self, key: str, queue: str) -> None:
        if queue not in self.known_queues:
            self.warn(key, f"queue {queue!r} is not in the queues set, so '*' workers and resque-web do not see it")
        for index, raw in self.sampled(key):
            self.json_against(JOB_PAYLOAD, key, f"item {index}", raw)

    # Workers -----------------------------------------------------------------
    def check_workers_set(self, key: str, arg: str) -> None:
        for wid in sorted(self.registered):
            self.check_worker_id(key, "member", wid)

    def worker_value(self, key: str, wid: str) -> Any:
        """The value of one of ``wid``'s keys, warning when the worker is not registered."""
        if wid not in self.registered:
            self.warn(key, f"worker {wid!r} is not in the workers set; its record is left over")
        return self.r.get(key)

    def check_worker_record(self, key: str, wid: str) -> None:
        raw = self.worker_value(key, wid)
        if raw is not None:
            self.json_against(WORKER_RECORD, key, "value", raw)

    def check_started(self, key: str, wid: str) -> None:
        raw = self.worker_value(key, wid)
        if raw is None:
            return
        text = _strict_text(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8")
        else:
            self.against(WORKER_STARTED, key, "value", text)

    def check_heartbeats(self, key: str, arg: str) -> None:
        for field, raw in sorted(((_text(f) or "", v) for f, v in self.r.hscan_iter(key, count=1000)), key=lambda fv: fv[0]):
            self.check_worker_id(key, "field", field)
            text = _strict_text(raw)
            if text is None:
                self.error(key, f"heartbeat of {field!r} is not valid UTF-8")
                continue
            if not self.against(HEARTBEAT, key, f"heartbeat of {field!r}", text):
                continue
            try:
                beat = times.parse_heartbeat(text)
            except ValueError as exc:
                self.error(key, f"heartbeat of {field!r} cannot be parsed: {exc}")
                continue
            age = self.now - beat
            if age > STALE_HEARTBEAT_S:
                self.warn(key, f"heartbeat of {field!r} is {int(age)}s old (by Redis TIME); "
                               f"the next Ruby worker to start will prune it as dead")
            elif age < -FUTURE_HEARTBEAT_S:
                self.warn(key, f"heartbeat of {field!r} is {int(-age)}s in the future; "
                               "its writer is not using Redis TIME")

    def check_heartbeat_presence(self, found: dict[str, str]) -> None:
        for wid in sorted(self.registered):
            started = self.keys.worker_started(wid)
            if started not in found:
                self.warn(self.keys.workers, f"worker {wid!r} has no {self.keys.strip(started)!r} value")

    def check_prune_lock(self, key: str, arg: str) -> None:
        if int(self.r.ttl(key)) == -1:
            self.error(key, "has no expiry; Ruby sets it with a 60s TTL and no worker will prune dead workers while it exists")

    def check_pause(self, key: str, arg: str) -> None:
        value = _text(self.r.get(key)) or ""
        if value.strip().lower() == "true":
            self.warn(key, "is 'true': every Ruby and Python worker is paused")

    # Stats -------------------------------------------------------------------
    def check_stat(self, key: str, arg: str) -> None:
        raw = self.r.get(key)
        if raw is None:
            return
        text = _strict_text(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8")
            return
        if not self.against(STAT_VALUE, key, "value", text):
            return
        if not _INT64[0] <= int(text) <= _INT64[1]:
            self.error(key, f"value {text} is outside Redis's 64-bit integer range, so INCRBY fails")

    # Failures ----------------------------------------------------------------
    def check_failed_queues(self, key: str, arg: str) -> None:
        for name in sorted(self.members(key)):
            if name == Keys.queue_of_failed_queue(name):
                self.warn(key, f"member {name!r} does not end in '_failed' as Ruby's failure list names do")

    def check_failures(self, key: str) -> None:
        for index, raw in self.sampled(key):
            self.json_against(FAILURE_RECORD, key, f"record {index}", raw)

    # resque-scheduler -------------------------------------------------------
    def check_schedule(self, key: str, arg: str) -> None:
        length = int(self.r.zcard(key))
        ranges = [(0, -1)] if length <= 2 * self.sample else [(0, self.sample - 1), (-self.sample, -1)]
        for start, stop in ranges:
            for member, score in self.r.zrange(key, start, stop, withscores=True):
                text = _text(member) or ""
                if not text.isdigit() or float(text) != score:
                    self.error(key, f"member {text!r} (score {score}) is not a unix timestamp equal to its score")

    def check_delayed(self, key: str, ts: str) -> None:
        if self.r.zscore(self.keys.delayed_schedule, ts) is None:
            self.error(key, f"{ts} is not in the schedule (zset): no scheduler will ever move these jobs")
        for index, raw in self.sampled(key):
            ok, item = self.decoded(key, f"item {index}", raw)
            if ok and self.against(DELAYED_ITEM, key, f"item {index}", item) and item.get("queue") is None:
                self.warn(key, f"item {index} has no queue: Ruby's scheduler drops it unless it can load "
                               f"{item.get('class')!r} (pyresque's records a failure)")

    def check_timestamps(self, key: str, encoded: str) -> None:
        self.json_against(DELAYED_ITEM, key, "the item in the key name", encoded)
        for member in sorted(self.members(key)):
            parsed = self.keys.parse(self.keys.prefix + member)
            if parsed is None or parsed.kind != "delayed":
                self.error(key, f"member {member!r} does not name a delayed list (un-namespaced, a unix timestamp)")


    def check_persistent_schedules(self, key: str, arg: str) -> None:
        from pyresque.scheduler.schedule import parse_entry

        for name, raw in sorted(self.r.hscan_iter(key, count=1000)):
            where = f"schedule {_text(name)!r}"
            ok, config = self.decoded(key, where, raw)  # Ruby's scheduler dies on one it cannot decode
            if not ok or not self.against(SCHEDULE_CONFIG, key, where, config):
                continue
            for problem in parse_entry(_text(name) or "", config)[1]:
                self.warn(key, f"{where}: {problem.message} (Ruby logs and skips it)" if problem.fatal
                          else f"{where}: {problem.message}")

    def check_last_enqueued_at(self, key: str, arg: str) -> None:
        for name, value in sorted(self.r.hscan_iter(key, count=1000)):
            text = _text(value) or ""
            if schema_errors(LAST_ENQUEUED_AT, text):
                self.warn(key, f"{_text(name)!r}: {text!r} is not Ruby's Time#to_s (2026-01-15 16:28:07 -0500)")

    def check_scheduler_lock(self, key: str, arg: str) -> None:
        value = _text(self.r.get(key)) or ""
        if schema_errors(SCHEDULER_LOCK, value):
            self.error(key, f"{value!r} is not <hostname>:<pid>: no scheduler will ever renew or release it")
        if int(self.r.ttl(key)) == -1:
            self.error(key, "has no TTL: if its holder died, no scheduler becomes master until it is deleted")

    def check_retry_counter(self, key: str, arg: str) -> None:
        value = _text(self.r.get(key)) or ""
        if schema_errors(RETRY_COUNTER, value):
            self.error(key, f"{value!r} is not an integer: resque-retry's INCR fails on it")



# Output -------------------------------------------------------------------------
def format_problems(problems: Iterable[Problem]) -> str:
    """Problems one per line (``ERROR   key: message``), then a count line."""
    problems = list(problems)
    if not problems:
        return "No problems found."
    lines = [f"{p.severity.upper():<8}{p.key}: {p.message}" for p in problems]
    errors = sum(1 for p in problems if p.severity == ERROR)
    warnings = len(problems) - errors
    lines.append(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}.")
    return "\n".join(lines)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _strict_text(value: Any) -> str | None:
    """The value as text, or None when its bytes are not UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)


def _big_int(digits: str) -> int:
    # Ruby reads integers of any length; int(str) stops at 4300 digits.
    return int(Decimal(digits))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """Nesting depth as Ruby's parser counts it: each array or object is one level."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


__all__ = [
    "ERROR", "WARNING", "Problem", "check", "format_problems", "load_schemas",
    "schema_dir", "schema_errors", "validator",
]
