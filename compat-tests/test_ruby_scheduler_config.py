"""How resque-scheduler 5.0 reads its configuration, against pyresque.

A schedule file's ``persist`` entries become dynamic schedules with Ruby's
exact bytes; ``DYNAMIC_SCHEDULE``/``VERBOSE`` are read as the real gem's
command line reads them, except where pyresque says so.
"""

from __future__ import annotations

import json

import pytest

from pyresque.config import SchedulerSettings
from schedside import py_scheduler
from testsupport import wait_until

# Entries Ruby persists (a true persist, a string "false" and 0: Ruby's `if`
# takes both as true) and ones it keeps in memory only, with the bytes that
# could differ: key order, a missing class, UTF-8, escapes, floats, nesting.
SCHEDULE = """\
nightly:
  persist: true
  cron: "30 2 * * * Europe/Paris"
  class: Archive
  queue: archive
  args: [all, "é\\n\\"x\\"", 1.5, 1.0e+20, {a: [1, null, true], b: {}}]
  description: "Archive / every repo </script>"
Heartbeat:
  every: ["30s", {first_in: "5s"}]
  queue: monitoring
  persist: "false"
"ünïcode name":
  every: 1h
  class: "Mailers::Digest"
  queue: mail
  persist: 0
  rails_env: production
in_memory:
  every: 1h
  class: Static
  queue: s
kept_in_file:
  every: 1m
  class: K
  queue: k
  persist: false
"""
PERSISTED = {"nightly", "Heartbeat", "ünïcode name"}


def _hash(r) -> dict[bytes, bytes]:
    return r.hgetall("resque:persistent_schedules")


def test_persist_in_a_schedule_file_writes_ruby_s_bytes(ruby, r, procs, tmp_path):
    f = tmp_path / "schedule.yml"
    f.write_text(SCHEDULE, encoding="utf-8")
    ruby.eval(f'require "resque-scheduler"; require "yaml"; Resque.schedule = YAML.load_file({json.dumps(str(f))}); nil')
    ruby_hash, ruby_changed = _hash(r), r.smembers("resque:schedules_changed")
    assert {k.decode() for k in ruby_hash} == PERSISTED
    r.flushall()

    py_scheduler(procs, "--schedule", str(f))
    assert wait_until(lambda: _hash(r), 30, "pyresque's scheduler to persist the file's entries") == ruby_hash
    # Ruby announces every name of the file; pyresque only those it stored (SPEC §9.5).
    assert {m.decode() for m in ruby_changed} == PERSISTED | {"in_memory", "kept_in_file"}
    assert {m.decode() for m in r.smembers("resque:schedules_changed")} == PERSISTED
    # And Ruby reads them back as its own dynamic schedules.
    names = ruby.eval('require "resque-scheduler"; Resque.reload_schedule!; Resque.schedule.keys.sort')
    assert names == sorted(PERSISTED)


@pytest.mark.parametrize("value", ["1", "true", "yes", "false", "0", "off", ""])
def test_dynamic_schedule_and_verbose_as_the_gem_s_command_line_reads_them(ruby, value):
    """rake resque:scheduler and the resque-scheduler executable (Resque::Scheduler::Cli)
    take any value that is set as on; pyresque differs for the "off" words and says so."""
    env = {"DYNAMIC_SCHEDULE": value, "VERBOSE": value}
    on = ruby.eval('require "resque-scheduler"; require "resque/scheduler/cli"; '
                   f"cli = Resque::Scheduler::Cli.new([], JSON.parse({json.dumps(json.dumps(env))})); "
                   "cli.parse_options; cli.setup_env; "
                   "[Resque::Scheduler.dynamic, Resque::Scheduler.verbose]")
    assert on == [True, True]
    py = SchedulerSettings.from_env(env)
    assert py.dynamic is (value in ("1", "true", "yes"))
    # A note for each variable pyresque reads differently, and none otherwise.
    assert len(py.notes) == (0 if py.dynamic else 2)
