"""Cron lines and schedule files read as rufus-scheduler (fugit) reads them."""

from __future__ import annotations

import json
from pathlib import Path


from pyresque.scheduler.schedule import Cron, load_file

ROOT = Path(__file__).resolve().parent.parent
CRONS = [
    "30 6 * * 1 Europe/Stockholm",
    "*/10 * * * * *",
    "0 0 9 * * 1",
    "@hourly",
    "0 3 * * * UTC",
    "15 14 1 * *",
    "0 22 * * 1-5",
    "30 2 * * * Europe/Paris",
    "0 30 1 * * * America/New_York",
]
# Around a DST change in Paris and New York, and an ordinary instant.
FROM = [1774745000, 1762050000, 1796187000]


def test_next_runs_match_fugit(ruby):
    code = ('require "resque-scheduler"; require "fugit"; '
            f"crons = {json.dumps(CRONS)}; froms = {json.dumps(FROM)}; "
            "crons.map { |c| froms.map { |t| Fugit::Cron.parse(c).next_time(::EtOrbi::EoTime.new(t, nil)).to_i } }")
    expected = ruby.eval(code)
    got = [[int(Cron.parse(c).next_after(t)) for t in FROM] for c in CRONS]
    assert got == expected


def test_ruby_scheduler_loads_the_example_schedule(ruby):
    entries, problems = load_file(str(ROOT / "examples" / "schedule.yml"))
    assert problems == []
    names = ruby.eval('require "resque-scheduler"; require "yaml"; '
                      f'Resque.schedule = YAML.load_file({json.dumps(str(ROOT / "examples" / "schedule.yml"))}); '
                      "Resque.schedule.map { |k, v| [k, v['class']] }")
    assert names == [[e.name, e.class_name] for e in entries]
