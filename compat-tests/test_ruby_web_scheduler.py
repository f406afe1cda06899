"""resque-web with resque-scheduler's Delayed and Schedule tabs renders what Python wrote,
and pyresque's dashboard shows and acts on what Ruby's resque-scheduler wrote."""

from __future__ import annotations

import json
import re
import time

import pytest

from pyresque import Resque
from pyresque.registry import Registry
from pyresque.scheduler.schedule import set_schedule
from rubyside import FIXTURES
from testsupport import Dashboard
from webside import ResqueWeb, text_of


@pytest.fixture(scope="module")
def sched_web(ruby_available, redis_server):
    with ResqueWeb(redis_server, config=FIXTURES / "config" / "web_scheduler.rb").running() as server:
        yield server


def test_delayed_tab_lists_python_delayed_jobs(sched_web, r, redis_server):
    resque = Resque(redis_server, registry=Registry())
    ts = int(time.time()) + 3600
    resque.enqueue_at_with_queue("archive", ts, "Archive", 42, "main")
    resque.enqueue_at_with_queue("archive", ts, "Archive", 43, "main")
    resque.enqueue_at_with_queue("mail", ts + 60, "Mailers::Welcome", {"user": 1})
    page = text_of(sched_web.get("/delayed"))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))
    later = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts + 60))
    assert "of 2 timestamps" in page, page[:2000]
    # Each row: timestamp, job count, then class and args when there is one job.
    assert f"{stamp} 2 see details" in page, page[:2000]
    assert f'{later} 1 Mailers::Welcome {{"user"=>1}}' in page, page[:2000]
    bucket = text_of(sched_web.get(f"/delayed/{ts}"))
    assert "Archive" in bucket and "42" in bucket and "43" in bucket and "main" in bucket


def test_schedule_tab_shows_python_dynamic_schedules(sched_web, r, redis_server):
    resque = Resque(redis_server, registry=Registry())
    set_schedule(r, resque.layout, "nightly_archive",
                 {"cron": "0 3 * * *", "class": "Archive", "queue": "archive", "args": [1],
                  "description": "archive every night", "persist": True})
    page = text_of(sched_web.get("/schedule"))
    for text in ("nightly_archive", "archive every night", "cron: 0 3 * * *", "Archive", "archive"):
        assert text in page, (text, page[:3000])


@pytest.fixture
def dashboard(ruby_available, r, redis_server):
    with Dashboard(redis_server) as web:
        yield web


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_ruby_delayed_jobs_show_with_resque_webs_counts_and_run_now_reaches_ruby(
        sched_web, dashboard, ruby, ruby_results, r):
    ts = int(time.time()) + 3600
    ruby.eval('require "resque-scheduler"; '
              f"Resque.enqueue_at(Time.at({ts}), Recorder, 1, \"one\"); "
              f'Resque.enqueue_at(Time.at({ts}), Recorder, 2, {{"two" => [2]}}); '
              f'Resque.enqueue_at_with_queue("mail", Time.at({ts + 60}), "Mailers::Welcome", 3); '
              f"Resque.enqueue_at(Time.at({ts + 120}), Recorder, 4); nil")
    # resque-web's Delayed tab: timestamps, and each one's job count.
    ruby_page = text_of(sched_web.get("/delayed"))
    assert "of 3 timestamps" in ruby_page, ruby_page[:2000]
    ruby_counts = [(int(stamp), int(n)) for stamp, n in re.findall(
        r'<a href="/delayed/(\d+)">[^<]*</a></td>\s*<td>(\d+)</td>', sched_web.get("/delayed"))]
    assert ruby_counts == [(ts, 2), (ts + 60, 1), (ts + 120, 1)]
    # pyresque's Delayed page and its JSON say the same.
    data = dashboard.get_json("/api/delayed")
    assert data["timestamps"] == 3 and data["jobs"] == 4
    assert [(i["ts"], i["size"]) for i in data["items"]] == ruby_counts
    page = text_of(dashboard.text("/delayed"))
    assert "3 timestamps" in page and "4 jobs" in page and f"{_utc(ts)}" in page and "2 jobs: see them" in page
    jobs = dashboard.get_json(f"/api/delayed/at?ts={ts}")["jobs"]
    assert [(j["class"], j["args"], j["queue"]) for j in jobs] == [
        ("Recorder", [1, "one"], "record"), ("Recorder", [2, {"two": [2]}], "record")]
    # Enqueue the second one now in pyresque's dashboard: Ruby sees it queued and runs it,
    # and the first stays delayed where Ruby's scheduler will find it.
    dashboard.post("/delayed/enqueue-now", {"ts": ts, "index": 1, "digest": jobs[1]["digest"]}, token_page="/delayed")
    assert ruby.eval('Resque.peek("record", 0, 10)') == [{"class": "Recorder", "args": [2, {"two": [2]}]}]
    seen = ruby.eval('require "resque-scheduler"; '
                     f'[Resque.delayed_timestamp_size({ts}), Resque.scheduled_at(Recorder, 1, "one"), '
                     f'Resque.scheduled_at(Recorder, 2, {{"two" => [2]}}), Resque.count_all_scheduled_jobs]')
    assert seen == [1, [ts], [], 3]
    ruby.work("record")
    assert [x["args"] for x in ruby_results()] == [[2, {"two": [2]}]]
    after = text_of(sched_web.get("/delayed"))
    assert re.search(rf"{re.escape(time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime(ts)))} 1 Recorder", after), after[:2000]
    # A whole timestamp now, from pyresque: Ruby's Delayed tab loses it, Ruby's queue has the job.
    dashboard.post("/delayed/enqueue-timestamp", {"ts": ts + 60}, token_page="/delayed")
    assert ruby.eval('Resque.peek("mail", 0, 10)') == [{"class": "Mailers::Welcome", "args": [3]}]
    assert "of 2 timestamps" in text_of(sched_web.get("/delayed"))


def test_a_ruby_dynamic_schedule_shows_with_its_next_run_and_runs_now_for_ruby(
        sched_web, dashboard, ruby, ruby_results, r):
    ruby.eval('require "resque-scheduler"; '
              'Resque.set_schedule("ruby_recorder", {"class" => "Recorder", "queue" => "record", '
              '"every" => "1h", "args" => [7, "seven"], "description" => "from Ruby", "persist" => true}); '
              'Resque.set_schedule("ruby_cron", {"class" => "Recorder", "queue" => "record", '
              '"cron" => "15 4 * * * UTC", "persist" => true}); '
              'Resque.last_enqueued_at("ruby_recorder", Time.at(1893456000).to_s); nil')
    rows = {s["name"]: s for s in dashboard.get_json("/api/schedule")["schedules"]}
    assert rows["ruby_recorder"]["source"] == "dynamic" and rows["ruby_recorder"]["every"] == "1h"
    assert rows["ruby_recorder"]["next_run"] == _utc(1893456000 + 3600)  # last run (Ruby's Time#to_s) + 1h
    assert rows["ruby_cron"]["next_run"].endswith("T04:15:00Z")
    ruby_page = text_of(sched_web.get("/schedule"))
    for name in ("ruby_recorder", "ruby_cron"):
        assert name in ruby_page
    dashboard.post("/schedule/enqueue-now", {"name": "ruby_recorder", "digest": rows["ruby_recorder"]["digest"]},
                   token_page="/schedule")
    ruby.work("record")
    assert [x["args"] for x in ruby_results()] == [[7, "seven"]]
    dashboard.post("/schedule/delete", {"name": "ruby_cron", "digest": rows["ruby_cron"]["digest"]},
                   token_page="/schedule")
    assert ruby.eval('require "resque-scheduler"; Resque.reload_schedule!; Resque.schedule.keys.sort') == ["ruby_recorder"]
    assert "ruby_cron" not in text_of(sched_web.get("/schedule"))
