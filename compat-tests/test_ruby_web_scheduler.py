"""resque-web with resque-scheduler's Delayed and Schedule tabs renders what Python wrote."""

from __future__ import annotations

import time

import pytest

from pyresque import Resque
from pyresque.registry import Registry
from pyresque.scheduler.schedule import set_schedule
from rubyside import FIXTURES
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
