"""resque-scheduler's and resque-retry's keys: the schedule, delayed items,
schedules kept in Redis, the master lock and the retry counters."""

from __future__ import annotations

from typing import Any

from pyresque.check.base import CheckerBase, as_str
from pyresque.check.schemas import (
    DELAYED_ITEM, LAST_ENQUEUED_AT, RETRY_COUNTER, SCHEDULE_CONFIG, SCHEDULER_LOCK, schema_errors,
)
from pyresque.findings import R_REMOVE_DELAYED, R_RETRY, R_SCHEDULER


class ScheduledChecks(CheckerBase):
    """The checks of resque-scheduler's and resque-retry's keys."""

    def check_schedule(self, key: str, arg: str) -> None:
        length = int(self.r.zcard(key))
        ranges = [(0, -1)] if length <= 2 * self.sample else [(0, self.sample - 1), (-self.sample, -1)]
        for start, stop in ranges:
            for member, score in self.r.zrange(key, start, stop, withscores=True):
                text = as_str(member) or ""
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
            where = f"schedule {as_str(name)!r}"
            ok, config = self.decoded(key, where, raw, SCHEDULE_CONFIG)  # Ruby's scheduler dies on one it cannot decode
            if not ok or not self.against(SCHEDULE_CONFIG, key, where, config):
                continue
            for problem in parse_entry(as_str(name) or "", config)[1]:
                self.warn(key, f"{where}: {problem.message} (Ruby logs and skips it)" if problem.fatal
                          else f"{where}: {problem.message}", R_SCHEDULER, "§9.5")

    def check_last_enqueued_at(self, key: str, arg: str) -> None:
        for name, value in sorted(self.r.hscan_iter(key, count=1000)):
            text = as_str(value) or ""
            if schema_errors(LAST_ENQUEUED_AT, text):
                self.warn(key, f"{as_str(name)!r}: {text!r} is not Ruby's Time#to_s (2026-01-15 16:28:07 -0500)",
                          R_SCHEDULER, "§9.5")

    def check_scheduler_lock(self, key: str, arg: str) -> None:
        value = as_str(self.r.get(key)) or ""
        if schema_errors(SCHEDULER_LOCK, value):
            self.error(key, f"{value!r} is not <hostname>:<pid>: no scheduler will ever renew or release it",
                       R_SCHEDULER, "§9.4")
        if int(self.r.ttl(key)) == -1:
            self.error(key, "has no TTL: if its holder died, no scheduler becomes master until it is deleted",
                       R_SCHEDULER, "§9.4")

    def check_retry_counter(self, key: str, arg: str) -> None:
        value = as_str(self.r.get(key)) or ""
        if schema_errors(RETRY_COUNTER, value):
            self.error(key, f"{value!r} is not an integer: resque-retry's INCR fails on it", R_RETRY, "§9.7")


def _scheduler_order(item: dict[str, Any]) -> bool:
    """Whether an item's keys come in the order resque-scheduler encodes them."""
    names = [n for n in item if n in ("class", "args", "queue")]
    return names == [n for n in ("class", "args", "queue") if n in item]
