"""What other implementations write, recognised for what it is.

node-resque and others write values Ruby reads though Resque never writes
them (JavaScript dates, ``host:pid`` worker names, Lua cjson's re-encoding),
and keys Ruby ignores (ping keys, leader and job locks). These checks name
the writer and the consequence, and hand back values the schemas accept so
that one deviation is never reported again as an unreadable value.
"""

from __future__ import annotations

import re
from typing import Any

from pyresque.check.base import CheckerBase
from pyresque.check.schemas import FAILURE_RECORD, WORKER_ID, schema_errors
from pyresque.findings import NOTE, R_NONE, R_WEB_FAILED, R_WEB_WORKERS

# Extra payload fields other implementations write, and who writes them.
KNOWN_EXTRA_FIELDS = {
    "queue": "node-resque", "id": "php-resque", "prefix": "php-resque", "queue_time": "php-resque",
    "enqueue_timestamp": "pyres", "vars": "jesque",
}
# JavaScript's Date#toString(), as node-resque writes failed_at and run_at.
JS_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2} \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT[+-]\d{4}( \([^()\n]*\))?"
)
EPOCH = re.compile(r"\d{9,11}")
# Times Ruby's DateTime.parse reads although Resque never writes them: a
# date (year first) with an optional time and zone. Anything else that
# misses Resque's format is taken as unreadable (compat-tests/test_check_proofs.py).
READABLE_DATE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?( ?(Z|[A-Za-z]{1,6}|[+-]\d{2}:?(\d{2})?))?")
# node-resque names a worker host:pid, and a MultiWorker's workers host:pid+N.
HOST_PID = re.compile(r"[^:\n]+:\d+(\+\d+)?")
# Numbers only a lossy encoder writes (Lua cjson's %.14g): an exponent
# without a '.', or 14 significant digits in exponent form. Ruby's Float#to_s
# always writes a '.', and integers in full.
_CJSON_NUMBER = re.compile(r"(?<![\w.\"])-?(\d+e[+-]?\d+|\d\.\d{13}e[+-]\d+)(?![\w.])")
_PID_PART = re.compile(r"([^:\s]+):([^:\s]+):(.+)", re.S)


def odd_pid(wid: str) -> str | None:
    """The pid part of ``wid`` when it is not digits but the id is otherwise well formed."""
    parts = _PID_PART.fullmatch(wid)
    if parts is None or parts.group(2).isdigit() or schema_errors(WORKER_ID, with_pid(wid, "1")):
        return None
    return parts.group(2)


def with_pid(wid: str, pid: str) -> str:
    host, _, rest = wid.partition(":")
    return f"{host}:{pid}:{rest.partition(':')[2]}" if rest.count(":") else f"{host}:{pid}"


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)

# A record every field of which is valid, to test one time field at a time.
GOOD_TIMES: dict[str, Any] = {
    "failed_at": "2000/01/01 00:00:00 UTC", "payload": None, "exception": "E", "error": "", "backtrace": [],
    "worker": "h:1:q", "queue": "q", "raw_payload": "",
}


class NeighbourChecks(CheckerBase):
    """The checks about other implementations' writes; see the module's docstring."""

    def note_extra_fields(self, key: str, what: str, extras: dict[str, int], consequence: str, reader: str,
                          section: str, severity: str = NOTE) -> None:
        named = ", ".join(
            f"{name!r} ({KNOWN_EXTRA_FIELDS[name]}'s)" if name in KNOWN_EXTRA_FIELDS else repr(name)
            for name in sorted(extras)
        )
        count = max(extras.values())
        self.add(severity, key, f"fields Ruby does not write ({named}) in {count} {what}; {consequence}", reader, section)

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

    def tolerated_failure_fields(self, key: str, where: str, value: dict[str, Any]) -> dict[str, Any]:
        """Warn about values Ruby reads but Resque never writes; the record with them replaced by valid ones."""
        for field in ("failed_at", "retried_at"):
            when = value.get(field)
            if not isinstance(when, str) or not schema_errors(FAILURE_RECORD, {**GOOD_TIMES, field: when}):
                continue
            if JS_DATE.fullmatch(when) or READABLE_DATE.fullmatch(when):
                form = "JavaScript's Date#toString form" if JS_DATE.fullmatch(when) else "another format"
                self.warn(key, f"{where} {field} {when!r} ({form}) is not Ruby's %Y/%m/%d %H:%M:%S %Z: "
                               "resque-web (DateTime.parse) reads it, tools that parse Resque's format do not",
                          R_WEB_FAILED, "§5.1")
                value = {**value, field: GOOD_TIMES["failed_at"]}
        worker = value.get("worker")
        if isinstance(worker, str) and HOST_PID.fullmatch(worker):
            self.warn(key, f"{where} worker {worker!r} is host:pid, not a worker id (host:pid:queues): resque-web "
                           "shows it but links it to no worker", R_WEB_FAILED, "§6.1")
            value = {**value, "worker": with_pid(worker, "1") + ":unknown"}
        elif isinstance(worker, str) and odd_pid(worker) is not None:
            self.note(key, f"{where} worker {worker!r} has a pid that is not a process id: resque-web shows it, "
                           "no Ruby code parses it", R_NONE, "§6.1")
            value = {**value, "worker": with_pid(worker, "1")}
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
