"""The walk: every key of one namespace, by its kind, to the check that knows it."""

from __future__ import annotations

from typing import Any, Callable

import redis as redis_py

from pyresque import times
from pyresque import workers as worker_records
from pyresque.check.base import INT64_RANGE, FUTURE_HEARTBEAT_S, SAMPLE, STALE_HEARTBEAT_S, as_str, utf8_or_none
from pyresque.check.neighbours import EPOCH, HOST_PID, JS_DATE, NeighbourChecks, odd_pid, with_pid
from pyresque.check.scheduled import ScheduledChecks
from pyresque.check.schemas import (
    FAILURE_RECORD, HEARTBEAT, JOB_PAYLOAD, RETRY_FAILURE, STAT_VALUE, WORKER_ID, WORKER_RECORD, WORKER_STARTED,
    schema_errors,
)
from pyresque.findings import (
    ERROR, NOTE, R_DEQUEUE, R_FIND, R_INCR, R_NONE, R_PAUSE, R_PRUNE, R_QUEUES, R_RETRY, R_SCHEDULER, R_STATS,
    R_WEB_FAILED, R_WEB_WORKERS, R_WORKER, WARNING, Problem,
)
from pyresque.keys import STAT_FAILED, STAT_PROCESSED, KeyKind, Keys

# What the value of each kind of key means, for findings about its type.
_TYPE_READER = {
    "queues": R_QUEUES, "queue": R_WORKER, "workers": R_FIND, "worker": R_WEB_WORKERS,
    "worker_started": R_WEB_WORKERS, "heartbeat": R_PRUNE, "prune_lock": R_PRUNE, "pause_all": R_PAUSE,
    "stat": R_INCR, "failed": R_WEB_FAILED, "failed_queues": R_WEB_FAILED, "failed_list": R_WEB_FAILED,
    "delayed_schedule": R_SCHEDULER, "delayed": R_SCHEDULER, "timestamps": R_SCHEDULER,
    "persistent_schedules": R_SCHEDULER, "schedules_changed": R_SCHEDULER, "last_enqueued_at": R_SCHEDULER,
    "scheduler_lock": R_SCHEDULER, "retry": R_RETRY, "retry_failure": R_RETRY,
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


def check(client: redis_py.Redis, keys: Keys, sample: int = SAMPLE) -> list[Problem]:
    """Every protocol violation in the namespace of ``keys``, errors first. Read-only."""
    return _Checker(client, keys, sample).run()


class _Checker(NeighbourChecks, ScheduledChecks):
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
            self.beating = {t for t in (as_str(f) for f, _ in self.r.hscan_iter(self.keys.heartbeat, count=1000))
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

    def scan_types(self) -> dict[str, str]:
        names = [as_str(k) for k in self.r.scan_iter(match=self.keys.all_pattern(), count=1000)]
        names = sorted({n for n in names if n is not None})
        types: dict[str, str] = {}
        for start in range(0, len(names), 1000):
            chunk = names[start : start + 1000]
            pipe = self.r.pipeline(transaction=False)
            for name in chunk:
                pipe.type(name)
            for name, kind in zip(chunk, pipe.execute()):
                kind_text = as_str(kind) or "none"
                if kind_text != "none":  # expired between SCAN and TYPE
                    types[name] = kind_text
        return types

    def check_worker_id(self, key: str, where: str, wid: str) -> bool:
        pid = odd_pid(wid)
        if pid is not None:
            if wid not in self.odd_pids_seen:
                self.odd_pids_seen.add(wid)
                self.warn(key, f"{where} {wid!r} has {pid!r} where Ruby writes a process id (node-resque's "
                               "MultiWorker writes pid+N): resque-web shows it, but Ruby's and pyresque's pruning "
                               "never find that pid running, so a worker starting on host "
                               f"{wid.split(':', 1)[0]!r} with the same queues or '*' prunes it while it runs",
                          R_PRUNE, "§4")
            wid = with_pid(wid, "1")
        if not self.against(WORKER_ID, key, where, wid):
            return False
        queues = wid.split(":", 2)[2]
        if ":" in queues:
            self.warn(key, f"{where} {wid!r} has ':' in its queues; resque-web and Ruby's pruning split on every ':'",
                      R_WEB_WORKERS, "§4")
        return True

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
                form = ("JavaScript's Date#toString form" if isinstance(run_at, str) and JS_DATE.fullmatch(run_at)
                        else "another format" if isinstance(run_at, str) else "not a string")
                self.warn(key, f"run_at {run_at!r} ({form}) is not Ruby's UTC ISO 8601 (2026-11-23T03:22:31Z): "
                               "resque-web shows it as text, tools that parse Resque's format do not",
                          R_WEB_WORKERS, "§5.1")
                value = {**value, "run_at": "2000-01-01T00:00:00Z"}
            extras = {n: 1 for n in value if n not in ("queue", "run_at", "payload")}
            if extras:
                self.note_extra_fields(key, "record", extras, "Ruby ignores them", R_NONE, "§5")
            self.check_reencoded(key, utf8_or_none(raw) or "")
        self.against(WORKER_RECORD, key, "value", value)

    def check_started(self, key: str, wid: str) -> None:
        raw = self.worker_value(key, wid)
        if raw is None:
            return
        text = utf8_or_none(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8", R_WEB_WORKERS, "§5.1")
        elif EPOCH.fullmatch(text):
            self.warn(key, f"value {text!r} is epoch seconds, not Ruby's Time#to_s (2026-11-23 03:22:31 +0000): "
                           "resque-web lists the worker but cannot show when it started", R_WEB_WORKERS, "§5.1")
        elif schema_errors(WORKER_STARTED, text):
            # resque-web only prints it (JavaScript relatizes it in the browser); no Ruby code parses it.
            self.warn(key, f"value {text!r} is not in the required format, Ruby's Time#to_s "
                           "(2026-11-23 03:22:31 +0000): resque-web shows it as text, and only a browser reads it",
                      R_WEB_WORKERS, "§5.1")

    def check_heartbeats(self, key: str, arg: str) -> None:
        for field, raw in sorted(((as_str(f) or "", v) for f, v in self.r.hscan_iter(key, count=1000)), key=lambda fv: fv[0]):
            self.check_worker_id(key, "field", field)
            text = utf8_or_none(raw)
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

    def check_stat(self, key: str, arg: str) -> None:
        raw = self.r.get(key)
        if raw is None:
            return
        text = utf8_or_none(raw)
        if text is None:
            self.error(key, "value is not valid UTF-8", R_INCR, "§8")
            return
        if not self.against(STAT_VALUE, key, "value", text):
            return
        if not INT64_RANGE[0] <= int(text) <= INT64_RANGE[1]:
            self.error(key, f"value {text} is outside Redis's 64-bit integer range, so INCRBY fails", R_INCR, "§8")
        name, _, wid = arg.partition(":")
        if not wid or name not in (STAT_PROCESSED, STAT_FAILED):
            return
        if HOST_PID.fullmatch(wid):
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
        values = [as_str(self.r.get(processed)), as_str(self.r.get(failed))]
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
