"""``pyresque check``: find values in a live keyspace that break the protocol.

:func:`check` walks one namespace with ``SCAN`` (never ``KEYS``) and only
reads: it looks at each key's Redis type, at queued payloads (the first and
last :data:`SAMPLE` of long lists), worker records and ids, ``started``
values, heartbeats (unparsable, or stale by Redis ``TIME``), failure records
in ``failed`` and every ``<q>_failed`` list, stats and resque-scheduler's
keys, and reports each violation as a :class:`Problem`.

Severities (protocol/SPEC.md §11): an *error* is a value that makes Ruby
Resque, resque-web or resque-scheduler raise, lose or misread data (a Ruby
worker that exits, a resque-web page that returns 500, an ``INCRBY`` that
fails); a *warning* is a deviation Ruby tolerates but that breaks a
documented guarantee (byte-exact matching, pruning, stats); a *note* is
extra data Ruby ignores (node-resque's ``worker:ping:*`` keys and payload
``queue`` field, say). Every finding names the Ruby reader it affects (or
``none``) and the SPEC section it is about.

Neighbours are recognised, never taken for something else: node-resque's
ping keys and extra fields, resque-scheduler's and resque-retry's keys and
pyresque's own ``pyresque:*`` keys.

Values are judged against the JSON Schemas in ``protocol/schemas/``
(installed as ``pyresque/schemas/``), the same ones the test suite holds
both pyresque and real Ruby Resque to.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import jsonschema
import redis as redis_py

from pyresque import times
from pyresque import workers as worker_records
from pyresque.findings import (  # the finding names are re-exported: check's public API
    ERROR, NOTE, R_DEQUEUE, R_FIND, R_INCR, R_NONE, R_PAUSE, R_PRUNE, R_QUEUES, R_REMOVE_DELAYED, R_SCHEDULER,
    R_RETRY, R_STATS, R_WEB_FAILED, R_WEB_WORKERS, R_WORKER, SEVERITIES, WARNING, Problem, format_problems,
    format_report, report_data,
)
from pyresque.keys import STAT_FAILED, STAT_PROCESSED, KeyKind, Keys

# Extra payload fields other implementations write, and who writes them.
KNOWN_EXTRA_FIELDS = {
    "queue": "node-resque", "id": "php-resque", "prefix": "php-resque", "queue_time": "php-resque",
    "enqueue_timestamp": "pyres", "vars": "jesque",
}
# JavaScript's Date#toString(), as node-resque writes failed_at and run_at.
_JS_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2} \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT[+-]\d{4}( \([^()\n]*\))?"
)
_EPOCH = re.compile(r"\d{9,11}")
# Times Ruby's DateTime.parse reads although Resque never writes them: a
# date (year first) with an optional time and zone. Anything else that
# misses Resque's format is taken as unreadable (compat-tests/test_check_proofs.py).
_READABLE_DATE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?( ?(Z|[A-Za-z]{1,6}|[+-]\d{2}:?(\d{2})?))?")
# node-resque names a worker host:pid, and a MultiWorker's workers host:pid+N.
_HOST_PID = re.compile(r"[^:\n]+:\d+(\+\d+)?")
# Numbers only a lossy encoder writes (Lua cjson's %.14g): an exponent
# without a '.', or 14 significant digits in exponent form. Ruby's Float#to_s
# always writes a '.', and integers in full.
_CJSON_NUMBER = re.compile(r"(?<![\w.\"])-?(\d+e[+-]?\d+|\d\.\d{13}e[+-]\d+)(?![\w.])")
_PID_PART = re.compile(r"([^:\s]+):([^:\s]+):(.+)", re.S)


def _odd_pid(wid: str) -> str | None:
    """The pid part of ``wid`` when it is not digits but the id is otherwise well formed."""
    parts = _PID_PART.fullmatch(wid)
    if parts is None or parts.group(2).isdigit() or schema_errors(WORKER_ID, _with_pid(wid, "1")):
        return None
    return parts.group(2)


def _with_pid(wid: str, pid: str) -> str:
    host, _, rest = wid.partition(":")
    return f"{host}:{pid}:{rest.partition(':')[2]}" if rest.count(":") else f"{host}:{pid}"


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
# What the value of each kind of key means, for findings about its type.
_TYPE_READER = {
    "queues": R_QUEUES, "queue": R_WORKER, "workers": R_FIND, "worker": R_WEB_WORKERS,
    "worker_started": R_WEB_WORKERS, "heartbeat": R_PRUNE, "prune_lock": R_PRUNE, "pause_all": R_PAUSE,
    "stat": R_INCR, "failed": R_WEB_FAILED, "failed_queues": R_WEB_FAILED, "failed_list": R_WEB_FAILED,
    "delayed_schedule": R_SCHEDULER, "delayed": R_SCHEDULER, "timestamps": R_SCHEDULER,
    "persistent_schedules": R_SCHEDULER, "schedules_changed": R_SCHEDULER, "last_enqueued_at": R_SCHEDULER,
    "scheduler_lock": R_SCHEDULER, "retry": R_RETRY, "retry_failure": R_RETRY,
}

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
# Who a value that violates each schema breaks, and where SPEC describes it.
_SCHEMA_READER = {
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

    def add(self, severity: str, key: str, message: str, reader: str, section: str) -> None:
        self.problems.append(Problem(severity, key, message, reader, section))

    def error(self, key: str, message: str, reader: str, section: str) -> None:
        self.add(ERROR, key, message, reader, section)

    def warn(self, key: str, message: str, reader: str, section: str) -> None:
        self.add(WARNING, key, message, reader, section)

    def note(self, key: str, message: str, reader: str = R_NONE, section: str = "") -> None:
        self.add(NOTE, key, message, reader, section)

    def run(self) -> list[Problem]:
        found = self.scan_types()
        seconds, _ = self.r.time()
        self.now = int(seconds)
        self.odd_pids_seen: set[str] = set()
        self.node_stats_seen = False  # per-worker stats under host:pid: node-resque writes here
        self.registered = set(self.members(self.keys.workers)) if found.get(self.keys.workers) == "set" else set()
        self.known_queues = set(self.members(self.keys.queues)) if found.get(self.keys.queues) == "set" else set()
        failed_queues = set(self.members(self.keys.failed_queues)) if found.get(self.keys.failed_queues) == "set" else set()
        failure_lists = {self.keys.failed} | {self.keys.failed_list(n) for n in failed_queues}
        self.beating: set[str] = set()
        if found.get(self.keys.heartbeat) == "hash":
            self.beating = {t for t in (_text(f) for f, _ in self.r.hscan_iter(self.keys.heartbeat, count=1000))
                            if t is not None}

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
        neighbours: dict[str, list[str]] = {"node_leader_lock": [], "job_lock": []}
        for key in sorted(found):
            kind = self.keys.parse(key)
            if kind is not None and kind.kind == "node_ping":
                if "ping:" + kind.arg not in self.registered:
                    self.check_node_ping(key, kind.arg, found[key])
                    continue
                kind = KeyKind("worker", "ping:" + kind.arg)  # a worker on a host named "ping"
            if kind is not None and kind.kind in ("node_leader_lock", "job_lock"):
                neighbours[kind.kind].append(key)
                continue
            if kind is None or kind.kind not in _EXPECTED_TYPE:
                continue
            if kind.kind == "failed_list" and key not in failure_lists:
                continue  # a key that merely ends in _failed, not a failure list
            actual = found[key]
            expected = _EXPECTED_TYPE[kind.kind]
            if actual != expected:
                self.error(key, f"is a Redis {actual}, but Resque keeps a {expected} here", _TYPE_READER[kind.kind], "§2")
                continue
            handlers[kind.kind](key, kind.arg)
        self.check_registered_workers(found)
        self.check_stat_totals(found)
        self.name_neighbours(neighbours)
        order = {ERROR: 0, WARNING: 1, NOTE: 2}
        return sorted(self.problems, key=lambda p: (order.get(p.severity, 3), p.key, p.message))

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

    def decoded(self, key: str, where: str, raw: Any, schema: str) -> tuple[bool, Any]:
        """(ok, value): ``raw`` parsed as Ruby's JSON parser would, or an error reported."""
        reader, section = _SCHEMA_READER[schema]
        text = _strict_text(raw)
        if text is None:
            self.error(key, f"{where} is not valid UTF-8", reader, section)
            return False, None
        try:
            value = json.loads(text, parse_constant=_no_constant, parse_int=_big_int)
        except (ValueError, RecursionError) as exc:
            self.error(key, f"{where} is not valid JSON ({exc}): {_short(text)}", reader, section)
            return False, None
        depth = _depth(value)
        if depth > MAX_NESTING:
            self.error(key, f"{where} is nested {depth} levels deep; Ruby's JSON parser refuses more than {MAX_NESTING}",
                       reader, section)
            return False, None
        return True, value

    def json_against(self, schema: str, key: str, where: str, raw: Any) -> Any:
        """Parse ``raw`` as Ruby would, then check it against ``schema``; the value, or None."""
        ok, value = self.decoded(key, where, raw, schema)
        if ok:
            self.against(schema, key, where, value)
            return value
        return None

    def against(self, schema: str, key: str, where: str, value: Any) -> bool:
        reader, section = _SCHEMA_READER[schema]
        errors = schema_errors(schema, value)
        for message in errors:
            self.error(key, f"{where} violates {schema}: {message}", reader, section)
        return not errors

    def check_worker_id(self, key: str, where: str, wid: str) -> bool:
        pid = _odd_pid(wid)
        if pid is not None:
            if wid not in self.odd_pids_seen:
                self.odd_pids_seen.add(wid)
                self.warn(key, f"{where} {wid!r} has {pid!r} where Ruby writes a process id (node-resque's "
                               "MultiWorker writes pid+N): resque-web shows it, but Ruby's and pyresque's pruning "
                               "never find that pid running, so a worker starting on host "
                               f"{wid.split(':', 1)[0]!r} with the same queues or '*' prunes it while it runs",
                          R_PRUNE, "§4")
            wid = _with_pid(wid, "1")
        if not self.against(WORKER_ID, key, where, wid):
            return False
        queues = wid.split(":", 2)[2]
        if ":" in queues:
            self.warn(key, f"{where} {wid!r} has ':' in its queues; resque-web and Ruby's pruning split on every ':'",
                      R_WEB_WORKERS, "§4")
        return True

    # Queues ------------------------------------------------------------------
    def check_queues_set(self, key: str, arg: str) -> None:
        for name in sorted(self.known_queues):
            if not name:
                self.error(key, "has an empty queue name", R_QUEUES, "§2")
            elif "," in name:
                self.error(key, f"queue name {name!r} contains ',', which splits worker ids into two queues", R_FIND, "§4")
            elif ":" in name:
                self.warn(key, f"queue name {name!r} contains ':'; resque-web and Ruby's pruning misread worker ids for it",
                          R_WEB_WORKERS, "§4")

    def check_queue(self, key: str, queue: str) -> None:
        if queue not in self.known_queues:
            self.warn(key, f"queue {queue!r} is not in the queues set, so '*' workers and resque-web do not see it",
                      R_QUEUES, "§2")
        extras: dict[str, int] = {}
        for index, raw in self.sampled(key):
            value = self.json_against(JOB_PAYLOAD, key, f"item {index}", raw)
            if isinstance(value, dict):
                for name in value:
                    if name not in ("class", "args"):
                        extras[name] = extras.get(name, 0) + 1
        if extras:
            self.note_extra_fields(key, "sampled item(s)", extras,
                                   "Ruby ignores them when running the job; Resque.dequeue(Class, *args) compares "
                                   "{class,args} bytes and so does not match these items (Resque.dequeue(Class) does)",
                                   R_DEQUEUE, "§3", WARNING)

    def note_extra_fields(self, key: str, what: str, extras: dict[str, int], consequence: str, reader: str,
                          section: str, severity: str = NOTE) -> None:
        named = ", ".join(
            f"{name!r} ({KNOWN_EXTRA_FIELDS[name]}'s)" if name in KNOWN_EXTRA_FIELDS else repr(name)
            for name in sorted(extras)
        )
        count = max(extras.values())
        self.add(severity, key, f"fields Ruby does not write ({named}) in {count} {what}; {consequence}", reader, section)

    # Workers -----------------------------------------------------------------
    def check_workers_set(self, key: str, arg: str) -> None:
        for wid in sorted(self.registered):
            self.check_worker_id(key, "member", wid)

    def worker_value(self, key: str, wid: str) -> Any:
        """The value of one of ``wid``'s keys, warning when the worker is not registered."""
        if wid not in self.registered:
            self.warn(key, f"worker {wid!r} is not in the workers set; its record is left over",
                      R_WEB_WORKERS, "§5")
        return self.r.get(key)

    def check_worker_record(self, key: str, wid: str) -> None:
        raw = self.worker_value(key, wid)
        if raw is None:
            return
        ok, value = self.decoded(key, "value", raw, WORKER_RECORD)
        if not ok:
            return
        if isinstance(value, dict):
            run_at = value.get("run_at")
            probe = {"queue": "q", "run_at": run_at, "payload": {"class": "A", "args": []}}
            if schema_errors(WORKER_RECORD, probe):
                # resque-web prints it with to_s (a browser relatizes it); no Ruby code parses it.
                form = ("JavaScript's Date#toString form" if isinstance(run_at, str) and _JS_DATE.fullmatch(run_at)
                        else "another format" if isinstance(run_at, str) else "not a string")
                self.warn(key, f"run_at {run_at!r} ({form}) is not Ruby's UTC ISO 8601 (2026-11-23T03:22:31Z): "
                               "resque-web shows it as text, tools that parse Resque's format do not",
                          R_WEB_WORKERS, "§5.1")
                value = {**value, "run_at": "2000-01-01T00:00:00Z"}
            extras = {n: 1 for n in value if n not in ("queue", "run_at", "payload")}
            if extras:
                self.note_extra_fields(key, "record", extras, "Ruby ignores them", R_NONE, "§5")
            self.check_reencoded(key, _strict_text(raw) or "")
        self.against(WORKER_RECORD, key, "value", value)

    def check_reencoded(self, key: str, text: str) -> None:
        """A payload that went through a lossy JSON encoder (Lua cjson) on its way into worker:<id>."""
        signs = []
        strings = _JSON_STRING.findall(text)
        if any("/" in _ESCAPE.findall(literal) for literal in strings):
            signs.append("'/' escaped as '\\/'")
        number = _CJSON_NUMBER.search(_JSON_STRING.sub('""', text))  # numbers, not digits inside strings
        if number:
            signs.append(f"a number written as {number.group(0)} (rounded to 14 digits)")
        if signs:
            self.warn(key, "the job in this record was re-encoded lossily (" + "; ".join(signs) + "), not copied "
                           "as queued: resque-web shows altered values, and if this worker is pruned the failure "
                           "record (and so a retry) carries the altered args", R_WEB_WORKERS, "§5")

    def check_started(self, key: str, wid: str) -> None:
        raw = self.worker_value(key, wid)
        if raw is None:
            return
        text = _strict_text(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8", R_WEB_WORKERS, "§5.1")
        elif _EPOCH.fullmatch(text):
            self.warn(key, f"value {text!r} is epoch seconds, not Ruby's Time#to_s (2026-11-23 03:22:31 +0000): "
                           "resque-web lists the worker but cannot show when it started", R_WEB_WORKERS, "§5.1")
        elif schema_errors(WORKER_STARTED, text):
            # resque-web only prints it (JavaScript relatizes it in the browser); no Ruby code parses it.
            self.warn(key, f"value {text!r} is not in the required format, Ruby's Time#to_s "
                           "(2026-11-23 03:22:31 +0000): resque-web shows it as text, and only a browser reads it",
                      R_WEB_WORKERS, "§5.1")

    def check_node_ping(self, key: str, name: str, kind: str) -> None:
        alive = any(wid.startswith(name + ":") for wid in self.registered)
        left = "" if alive else (" Its worker is not registered: the key is left over until node-resque's "
                                 "scheduler cleans it up after its stuck-worker timeout.")
        self.note(key, f"node-resque's liveness key for its worker {name!r}; Ruby ignores it (Ruby's pruning reads "
                       f"only Resque's heartbeat hash).{left}", R_NONE, "§7")

    def name_neighbours(self, neighbours: dict[str, list[str]]) -> None:
        """Keys other implementations and plugins keep here, which Resque ignores: one note per kind."""
        for key in neighbours["node_leader_lock"]:
            self.note(key, "node-resque's scheduler leader lock; Ruby ignores it. It does not exclude "
                           "resque-scheduler or pyresque's scheduler, which elect a master on "
                           "resque_scheduler_master_lock: with both kinds running, two schedulers move due jobs "
                           "(each job still moves once)", R_NONE, "§12")
        locks = neighbours["job_lock"]
        if locks:
            self.note(locks[0], f"{len(locks)} job lock key(s) (lock:*, workerslock:*: node-resque's QueueLock and "
                                "JobLock plugins, or a Ruby lock plugin such as resque-lock); Resque ignores them",
                      R_NONE, "§12")

    def check_heartbeats(self, key: str, arg: str) -> None:
        for field, raw in sorted(((_text(f) or "", v) for f, v in self.r.hscan_iter(key, count=1000)), key=lambda fv: fv[0]):
            self.check_worker_id(key, "field", field)
            text = _strict_text(raw)
            if text is None:
                self.error(key, f"heartbeat of {field!r} is not valid UTF-8", R_PRUNE, "§5.1")
                continue
            if not self.against(HEARTBEAT, key, f"heartbeat of {field!r}", text):
                continue
            try:
                beat = times.parse_heartbeat(text)
            except ValueError as exc:
                self.error(key, f"heartbeat of {field!r} cannot be parsed: {exc}", R_PRUNE, "§5.1")
                continue
            age = self.now - beat
            if age > STALE_HEARTBEAT_S:
                self.warn(key, f"heartbeat of {field!r} is {int(age)}s old (by Redis TIME); "
                               f"the next Ruby worker to start will prune it as dead", R_PRUNE, "§7")
            elif age < -FUTURE_HEARTBEAT_S:
                self.warn(key, f"heartbeat of {field!r} is {int(-age)}s in the future; "
                               "its writer is not using Redis TIME", R_PRUNE, "§7")

    def check_registered_workers(self, found: dict[str, str]) -> None:
        for wid in sorted(self.registered):
            started = self.keys.worker_started(wid)
            if started not in found:
                self.warn(self.keys.workers, f"worker {wid!r} has no {self.keys.strip(started)!r} value",
                          R_WEB_WORKERS, "§5")
            if wid not in self.beating and schema_errors(WORKER_ID, wid) == []:  # (an odd pid has its own warning)
                host = wid.split(":", 1)[0]
                self.warn(self.keys.workers,
                          f"worker {wid!r} has no heartbeat: a Ruby or pyresque worker starting "
                          f"on host {host!r} with queues '*' or the same queues prunes it while it runs, unless its "
                          "process title matches 'resque:work', 'resque: Starting' or 'resque-<digit>'",
                          R_PRUNE, "§7")

    def check_prune_lock(self, key: str, arg: str) -> None:
        if int(self.r.ttl(key)) == -1:
            self.warn(key, "has no expiry; Ruby sets it with a 60s TTL and no worker will prune dead workers while it exists",
                       R_PRUNE, "§7")

    def check_pause(self, key: str, arg: str) -> None:
        if worker_records.pauses_all(self.r.get(key)):
            self.warn(key, "is 'true': every Ruby and Python worker is paused", R_PAUSE, "§2")

    # Stats -------------------------------------------------------------------
    def check_stat(self, key: str, arg: str) -> None:
        raw = self.r.get(key)
        if raw is None:
            return
        text = _strict_text(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8", R_INCR, "§8")
            return
        if not self.against(STAT_VALUE, key, "value", text):
            return
        if not _INT64[0] <= int(text) <= _INT64[1]:
            self.error(key, f"value {text} is outside Redis's 64-bit integer range, so INCRBY fails", R_INCR, "§8")
        name, _, wid = arg.partition(":")
        if not wid or name not in (STAT_PROCESSED, STAT_FAILED):
            return
        if _HOST_PID.fullmatch(wid):
            self.node_stats_seen = True
            self.warn(key, f"is a per-worker stat under {wid!r}, which is not a worker id (host:pid:queues): "
                           "resque-web's worker page never shows it, and Ruby's and pyresque's unregister and "
                           "pruning delete per-worker stats by worker id only: unless node-resque's own clean-up "
                           "runs (its worker's clean end, or forceCleanWorker), a dead worker leaves it behind",
                      R_STATS, "§8")
        elif wid not in self.registered:
            self.warn(key, f"worker {wid!r} is not in the workers set; its per-worker stat is left over "
                           "(Ruby deletes it at unregister)", R_STATS, "§8")

    def check_stat_totals(self, found: dict[str, str]) -> None:
        processed, failed = self.keys.processed_stat(), self.keys.failed_stat()
        if found.get(processed) not in (None, "string") or found.get(failed) != "string":
            return
        values = [_text(self.r.get(processed)), _text(self.r.get(failed))]
        try:
            done, failures = (int(v) if v is not None else 0 for v in values)
        except ValueError:
            return
        if done < failures:
            self.warn(processed, f"is {done}, less than {self.keys.strip(failed)} ({failures}): Ruby counts every "
                                 "job a worker finished as processed, failed ones included; a writer that counts only "
                                 "successes makes the totals and resque-web's Stats wrong", R_STATS, "§8")
        elif failures and self.node_stats_seen:
            self.warn(processed, f"may leave out failed jobs: node-resque writes here (per-worker stats under "
                                 "host:pid) and counts only successes as processed, where Ruby counts every job a "
                                 f"worker finished; up to {failures} of {self.keys.strip(failed)} may be missing from "
                                 "it, and resque-web's Stats show too few processed", R_STATS, "§8")

    # Failures ----------------------------------------------------------------
    def check_failed_queues(self, key: str, arg: str) -> None:
        for name in sorted(self.members(key)):
            if name == Keys.queue_of_failed_queue(name):
                self.warn(key, f"member {name!r} does not end in '_failed' as Ruby's failure list names do",
                          R_WEB_FAILED, "§6.2")

    def check_failures(self, key: str) -> None:
        for index, raw in self.sampled(key):
            ok, value = self.decoded(key, f"record {index}", raw, FAILURE_RECORD)
            if not ok:
                continue
            if isinstance(value, dict):
                value = self.tolerated_failure_fields(key, f"record {index}", value)
            self.against(FAILURE_RECORD, key, f"record {index}", value)

    def tolerated_failure_fields(self, key: str, where: str, value: dict[str, Any]) -> dict[str, Any]:
        """Warn about values Ruby reads but Resque never writes; the record with them replaced by valid ones."""
        for field in ("failed_at", "retried_at"):
            when = value.get(field)
            if not isinstance(when, str) or not schema_errors(FAILURE_RECORD, {**GOOD_TIMES, field: when}):
                continue
            if _JS_DATE.fullmatch(when) or _READABLE_DATE.fullmatch(when):
                form = "JavaScript's Date#toString form" if _JS_DATE.fullmatch(when) else "another format"
                self.warn(key, f"{where} {field} {when!r} ({form}) is not Ruby's %Y/%m/%d %H:%M:%S %Z: "
                               "resque-web (DateTime.parse) reads it, tools that parse Resque's format do not",
                          R_WEB_FAILED, "§5.1")
                value = {**value, field: GOOD_TIMES["failed_at"]}
        worker = value.get("worker")
        if isinstance(worker, str) and _HOST_PID.fullmatch(worker):
            self.warn(key, f"{where} worker {worker!r} is host:pid, not a worker id (host:pid:queues): resque-web "
                           "shows it but links it to no worker", R_WEB_FAILED, "§6.1")
            value = {**value, "worker": _with_pid(worker, "1") + ":unknown"}
        elif isinstance(worker, str) and _odd_pid(worker) is not None:
            self.note(key, f"{where} worker {worker!r} has a pid that is not a process id: resque-web shows it, "
                           "no Ruby code parses it", R_NONE, "§6.1")
            value = {**value, "worker": _with_pid(worker, "1")}
        return self.tolerated_failure_reason(key, where, value)

    def tolerated_failure_reason(self, key: str, where: str, value: dict[str, Any]) -> dict[str, Any]:
        """What node-resque writes for a thrown non-Error: no exception, no error, a null backtrace."""
        missing = [f for f in ("exception", "error") if value.get(f) is None]
        if value.get("backtrace", []) is None:
            missing.append("backtrace (null)")
        if not missing:
            return value
        self.warn(key, f"{where} has no {', '.join(missing)}: resque-web shows the failure without saying why "
                       "it failed, and tools that group failures by exception class cannot place it",
                  R_WEB_FAILED, "§6.1")
        return {**value, "exception": value.get("exception") or "Unknown", "error": value.get("error") or "",
                "backtrace": value.get("backtrace") or []}

    # resque-scheduler -------------------------------------------------------
    def check_schedule(self, key: str, arg: str) -> None:
        length = int(self.r.zcard(key))
        ranges = [(0, -1)] if length <= 2 * self.sample else [(0, self.sample - 1), (-self.sample, -1)]
        for start, stop in ranges:
            for member, score in self.r.zrange(key, start, stop, withscores=True):
                text = _text(member) or ""
                if not text.isdigit() or float(text) != score:
                    self.error(key, f"member {text!r} (score {score}) is not a unix timestamp equal to its score",
                               R_SCHEDULER, "§9.1")

    def check_delayed(self, key: str, ts: str) -> None:
        if self.r.zscore(self.keys.delayed_schedule, ts) is None:
            self.error(key, f"{ts} is not in the schedule (zset): no scheduler will ever move these jobs",
                       R_SCHEDULER, "§9.1")
        misordered = []
        for index, raw in self.sampled(key):
            ok, item = self.decoded(key, f"item {index}", raw, DELAYED_ITEM)
            if not ok or not self.against(DELAYED_ITEM, key, f"item {index}", item):
                continue
            if item.get("queue") is None:
                self.warn(key, f"item {index} has no queue: Ruby's scheduler drops it unless it can load "
                               f"{item.get('class')!r} (pyresque's records a failure)", R_SCHEDULER, "§9.2")
            if not _scheduler_order(item):
                misordered.append(index)
        if misordered:
            self.warn(key, f"{len(misordered)} item(s) (first: item {misordered[0]}) are not in resque-scheduler's "
                           "key order class, args, queue: Ruby's remove_delayed encodes that order and cannot "
                           "match them, so they cannot be removed or found by their args", R_REMOVE_DELAYED, "§9.2")

    def check_timestamps(self, key: str, encoded: str) -> None:
        value = self.json_against(DELAYED_ITEM, key, "the item in the key name", encoded)
        if isinstance(value, dict) and not _scheduler_order(value):
            self.warn(key, "names an item not in resque-scheduler's key order class, args, queue: Ruby's "
                           "remove_delayed looks up the set named by its own encoding and never finds this one",
                      R_REMOVE_DELAYED, "§9.2")
        for member in sorted(self.members(key)):
            parsed = self.keys.parse(self.keys.prefix + member)
            if parsed is None or parsed.kind != "delayed":
                self.error(key, f"member {member!r} does not name a delayed list (un-namespaced, a unix timestamp)",
                           R_SCHEDULER, "§9.1")


    def check_persistent_schedules(self, key: str, arg: str) -> None:
        from pyresque.scheduler.schedule import parse_entry

        for name, raw in sorted(self.r.hscan_iter(key, count=1000)):
            where = f"schedule {_text(name)!r}"
            ok, config = self.decoded(key, where, raw, SCHEDULE_CONFIG)  # Ruby's scheduler dies on one it cannot decode
            if not ok or not self.against(SCHEDULE_CONFIG, key, where, config):
                continue
            for problem in parse_entry(_text(name) or "", config)[1]:
                self.warn(key, f"{where}: {problem.message} (Ruby logs and skips it)" if problem.fatal
                          else f"{where}: {problem.message}", R_SCHEDULER, "§9.5")

    def check_last_enqueued_at(self, key: str, arg: str) -> None:
        for name, value in sorted(self.r.hscan_iter(key, count=1000)):
            text = _text(value) or ""
            if schema_errors(LAST_ENQUEUED_AT, text):
                self.warn(key, f"{_text(name)!r}: {text!r} is not Ruby's Time#to_s (2026-01-15 16:28:07 -0500)",
                          R_SCHEDULER, "§9.5")

    def check_scheduler_lock(self, key: str, arg: str) -> None:
        value = _text(self.r.get(key)) or ""
        if schema_errors(SCHEDULER_LOCK, value):
            self.error(key, f"{value!r} is not <hostname>:<pid>: no scheduler will ever renew or release it",
                       R_SCHEDULER, "§9.4")
        if int(self.r.ttl(key)) == -1:
            self.error(key, "has no TTL: if its holder died, no scheduler becomes master until it is deleted",
                       R_SCHEDULER, "§9.4")

    def check_retry_counter(self, key: str, arg: str) -> None:
        value = _text(self.r.get(key)) or ""
        if schema_errors(RETRY_COUNTER, value):
            self.error(key, f"{value!r} is not an integer: resque-retry's INCR fails on it", R_RETRY, "§9.7")


# A record every field of which is valid, to test one time field at a time.
GOOD_TIMES: dict[str, Any] = {
    "failed_at": "2000/01/01 00:00:00 UTC", "payload": None, "exception": "E", "error": "", "backtrace": [],
    "worker": "h:1:q", "queue": "q", "raw_payload": "",
}


def _scheduler_order(item: dict[str, Any]) -> bool:
    """Whether an item's keys come in the order resque-scheduler encodes them."""
    names = [n for n in item if n in ("class", "args", "queue")]
    return names == [n for n in ("class", "args", "queue") if n in item]


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
    "ERROR", "NOTE", "SEVERITIES", "WARNING", "Problem", "check", "format_problems", "format_report",
    "load_schemas", "report_data",
    "schema_dir", "schema_errors", "validator",
]
