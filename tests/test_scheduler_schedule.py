"""Recurring schedules in resque-scheduler's YAML format: cron, every, problems."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pyresque.errors import InvalidSchedule
from pyresque.scheduler.schedule import (Cron, Every, load_file, parse_duration, parse_schedule, persist_entries,
                                         set_schedule)

PARIS = ZoneInfo("Europe/Paris")


def test_rufus_cron_puts_seconds_first_and_may_end_with_a_zone():
    c = Cron.parse("30 * * * * *")  # second 30 of every minute
    assert c.next_after(datetime(2030, 1, 1, 0, 0, 40, tzinfo=PARIS).timestamp()) == \
        datetime(2030, 1, 1, 0, 1, 30, tzinfo=PARIS).timestamp()
    c = Cron.parse("0 9 * * * Europe/Paris")
    # 09:00 in Paris, summer and winter
    assert c.next_after(datetime(2030, 7, 1, 10, tzinfo=PARIS).timestamp()) == datetime(2030, 7, 2, 9, tzinfo=PARIS).timestamp()
    assert c.next_after(datetime(2030, 1, 1, 8, tzinfo=PARIS).timestamp()) == datetime(2030, 1, 1, 9, tzinfo=PARIS).timestamp()


@pytest.mark.parametrize("bad", ["nope", "* * *", "61 * * * *", "0 9 * * * Mars/Olympus", ""])
def test_bad_cron_lines_are_refused(bad):
    with pytest.raises(InvalidSchedule):
        Cron.parse(bad)


def test_durations_and_every():
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800 and parse_duration(45) == 45
    for bad in ("10x", "", "-5s", "0", "1e400", "nan", float("inf"), 10**400):  # no infinite or NaN period
        with pytest.raises(InvalidSchedule):
            parse_duration(bad)
    e = Every.parse(["1m", {"first_in": "10s"}])
    assert e.period_s == 60 and e.first_run(1000) == 1010


def test_entries_problems_and_defaults(tmp_path):
    f = tmp_path / "schedule.yml"
    f.write_text(
        "Archive:\n  every: 1h\n  args: {repo: 1}\n  description: hourly\n"
        "typo:\n  cron: '* * * * *'\n  class: X\n  queue: q\n  qeue: r\n"
        "broken:\n  cron: 'not a cron'\n"
        "nowhen:\n  class: Y\n"
        "prod_only:\n  every: 5m\n  class: Z\n  rails_env: production, staging\n"
    )
    entries, problems = load_file(str(f))
    by_name = {e.name: e for e in entries}
    assert sorted(by_name) == ["Archive", "prod_only", "typo"]
    assert by_name["Archive"].class_name == "Archive" and by_name["Archive"].args == [{"repo": 1}]
    assert by_name["prod_only"].runs_in("staging") and not by_name["prod_only"].runs_in("development")
    assert [(p.name, p.fatal) for p in problems] == [("typo", False), ("broken", True), ("nowhen", True)]
    assert "unknown key 'qeue'" in str(problems[0])


def test_a_file_that_is_not_yaml_or_not_a_mapping(tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("a: [unclosed\n")
    with pytest.raises(InvalidSchedule):
        load_file(str(f))
    assert parse_schedule(["a"])[1][0].message.startswith("a schedule is a mapping")


def test_set_schedule_writes_what_ruby_reads(r, resque):
    set_schedule(r, resque.layout, "nightly", {"cron": "0 3 * * *", "class": "Nightly", "queue": "n", "persist": True})
    assert r.hget("resque:persistent_schedules", "nightly") == b'{"cron":"0 3 * * *","class":"Nightly","queue":"n"}'
    assert r.smembers("resque:schedules_changed") == {b"nightly"}
    with pytest.raises(InvalidSchedule):
        set_schedule(r, resque.layout, "bad", {"cron": "nope"})


PERSISTED = """\
nightly:
  persist: true
  cron: "0 3 * * *"
  queue: n
  args: [1, "é"]
Heartbeat:
  every: 30s
  queue: h
  persist: "false"     # a string: Ruby's `if persist` is true for it, as for 0
zero:
  every: 1m
  class: Zero
  queue: z
  persist: 0
kept_in_file:
  every: 1m
  class: K
  queue: k
  persist: false
broken:
  cron: nope
  persist: true
"""


def test_entries_marked_persist_are_stored_as_ruby_stores_them(r, resque, tmp_path):
    f = tmp_path / "schedule.yml"
    f.write_text(PERSISTED)
    entries, _ = load_file(str(f))
    written, problems = persist_entries(r, resque.layout, entries)
    assert (sorted(written), problems) == (["Heartbeat", "nightly", "zero"], [])
    # The file's order, persist removed, the entry's name as class (added last) when it has none.
    assert r.hgetall("resque:persistent_schedules") == {
        b"nightly": '{"cron":"0 3 * * *","queue":"n","args":[1,"é"],"class":"nightly"}'.encode(),
        b"Heartbeat": b'{"every":"30s","queue":"h","class":"Heartbeat"}',
        b"zero": b'{"every":"1m","class":"Zero","queue":"z"}',
    }
    # Dynamic masters are told; a schedule that cannot run is not stored.
    assert r.smembers("resque:schedules_changed") == {b"nightly", b"Heartbeat", b"zero"}


def test_the_next_run_shown_counts_from_the_latest_run_whoever_made_it(r, resque):
    """pyresque's tick record and Ruby's last_enqueued_at: the later one counts."""
    from pyresque.scheduler.runs import ruby_time, schedule_state

    static = {"tick": {"every": "10s", "class": "Tick", "queue": "t"}}
    r.hset("resque:pyresque:schedule_tick", "tick", 1000)
    r.hset("resque:delayed:last_enqueued_at", "tick", ruby_time(1093))  # rufus counts from its own start
    [view] = schedule_state(resque, static, now_s=1095.0).schedules
    assert view.next_run_s == 1103.0
    r.hset("resque:pyresque:schedule_tick", "tick", 1100)
    [view] = schedule_state(resque, static, now_s=1095.0).schedules
    assert view.next_run_s == 1110.0


def test_missed_ticks_of_cron_and_every_are_counted_and_the_first_kept():
    from pyresque.scheduler.runs import MISSED_COUNT_LIMIT, missed_ticks

    (minutely, every_90s, secondly), _ = parse_schedule({
        "m": {"cron": "* * * * * UTC", "class": "M"},
        "e": {"every": "90s", "class": "E"},
        "s": {"cron": "* * * * * * UTC", "class": "S"}})
    t0 = 1_700_000_040.0  # a whole minute
    missed = missed_ticks(minutely, t0, t0 + 630, t0, keep=3)
    assert (missed.count, missed.exact, missed.first_s, missed.last_s) == (10, True, t0 + 60, t0 + 600)
    assert missed.ticks == [t0 + 60, t0 + 120, t0 + 180]
    missed = missed_ticks(every_90s, t0, t0 + 900, t0, keep=100)
    assert (missed.count, missed.ticks[-1], missed.last_s) == (10, t0 + 900, t0 + 900)
    assert missed_ticks(every_90s, t0, t0 + 89, t0, keep=100).count == 0
    missed = missed_ticks(secondly, t0, t0 + 2 * MISSED_COUNT_LIMIT, t0, keep=100)
    assert (missed.count, missed.exact, len(missed.ticks)) == (MISSED_COUNT_LIMIT, False, 100)
