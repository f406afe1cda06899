"""The dashboard's Delayed and Schedule pages, their JSON and actions, on a real Redis."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from pyresque import Resque
from pyresque.browse import ACTIVEJOB_WRAPPER
from pyresque.registry import Registry
from pyresque.scheduler.lock import MasterLock
from pyresque.scheduler.schedule import set_schedule

import webseed
from test_web_views import Browser


@pytest.fixture
def web(resque: Resque) -> Browser:
    return Browser(resque)


def later(s: int = 3600) -> int:
    return int(time.time()) + s


def delayed_keys(r: Any) -> dict[bytes, Any]:
    """Every delayed-job key with its value: the state an action must leave right."""
    out: dict[bytes, Any] = {}
    for key in sorted(r.scan_iter(count=1000)):
        if b":delayed" in key or b":timestamps:" in key:
            kind = r.type(key)
            out[key] = (r.lrange(key, 0, -1) if kind == b"list" else r.smembers(key) if kind == b"set"
                        else r.zrange(key, 0, -1) if kind == b"zset" else r.hgetall(key))
    return out


# Delayed: reading ---------------------------------------------------------------------
def test_delayed_lists_timestamps_oldest_first_with_counts_and_json_agrees(resque: Resque, web: Browser) -> None:
    ts = later()
    resque.enqueue_at_with_queue("mail", ts + 60, "Mailers::Welcome", 3)
    resque.enqueue_at_with_queue("archive", ts, "Archive", 1, "main")
    resque.enqueue_at_with_queue("archive", ts, "Archive", 2, "main")
    data = web.get("/api/delayed").get_json()
    assert data["timestamps"] == resque.delayed_queue_schedule_size() == 2
    assert data["jobs"] == resque.count_all_scheduled_jobs() == 3
    assert [(i["ts"], i["size"]) for i in data["items"]] == [(ts, 2), (ts + 60, 1)]
    assert data["items"][0]["at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    assert 3500 < data["items"][0]["due_in_s"] <= 3600
    page = web.text("/delayed")
    assert page.index(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))) < page.index(
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts + 60)))
    assert "2 jobs: see them" in page and "Mailers::Welcome" in page and "(in 59m" in page
    assert f'href="/delayed/at?ts={ts}"' in page


def test_delayed_pages_by_twenty(resque: Resque, web: Browser) -> None:
    base = later()
    for i in range(45):
        resque.enqueue_at_with_queue("q", base + i, "Tick", i)
    first = web.get("/api/delayed").get_json()
    assert first["timestamps"] == 45 and [i["ts"] for i in first["items"]] == [base + i for i in range(20)]
    last = web.get("/api/delayed?start=40").get_json()
    assert [i["ts"] for i in last["items"]] == [base + i for i in range(40, 45)]
    assert "41–45 of 45" in web.text("/delayed?start=40")


def test_one_timestamp_shows_its_jobs_decoded_with_activejob_under_its_real_class(resque: Resque, web: Browser) -> None:
    ts = later()
    resque.enqueue_at_with_queue("mail", ts, ACTIVEJOB_WRAPPER, *webseed.activejob_args("WelcomeMailer", [{"user_id": 7}]))
    resque.enqueue_at_with_queue("default", ts, "Archive", 9)
    data = web.get(f"/api/delayed/at?ts={ts}").get_json()
    assert data["size"] == 2
    jobs = data["jobs"]
    assert (jobs[0]["job_class"], jobs[0]["activejob"], jobs[0]["args"], jobs[0]["queue"]) == (
        "WelcomeMailer", True, [{"user_id": 7}], "mail")
    assert (jobs[1]["class"], jobs[1]["args"], jobs[1]["queue"]) == ("Archive", [9], "default")
    page = web.text(f"/delayed/at?ts={ts}")
    assert "WelcomeMailer" in page and "(ActiveJob)" in page and "user_id" in page


def test_search_finds_delayed_jobs_by_class_case_insensitively(resque: Resque, web: Browser) -> None:
    ts = later()
    resque.enqueue_at_with_queue("mail", ts, "Mailers::Welcome", 1)
    resque.enqueue_at_with_queue("mail", ts + 5, ACTIVEJOB_WRAPPER, *webseed.activejob_args("WelcomeMailer", [2]))
    resque.enqueue_at_with_queue("default", ts + 9, "Archive", 3)
    found = web.get("/api/delayed/search?class=WELCOME").get_json()
    assert found["total"] == 2 and [(j["ts"], j["job_class"]) for j in found["jobs"]] == [
        (ts, "Mailers::Welcome"), (ts + 5, "WelcomeMailer")]
    page = web.text("/delayed/search?class=archive")
    assert "Archive" in page and "Welcome" not in page.split("<table")[1]


def test_bad_timestamps_and_an_empty_one_are_clear(resque: Resque, web: Browser) -> None:
    assert web.get("/delayed/at").status_code == 400
    assert web.get("/delayed/at?ts=soon").status_code == 400
    assert web.get("/api/delayed/at?ts=-5").get_json()["error"]
    assert "No delayed jobs here." in web.text(f"/delayed/at?ts={later()}")


# Delayed: actions ----------------------------------------------------------------------
def test_enqueue_one_job_now_moves_exactly_that_job_to_its_queue(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    resque.enqueue_at_with_queue("mail", ts, "Mailers::Welcome", 1)
    resque.enqueue_at_with_queue("mail", ts, "Mailers::Welcome", 2)
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][1]
    resp = web.post("/delayed/enqueue-now", {"ts": ts, "index": 1, "digest": job["digest"]})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/delayed/at?ts={ts}")
    assert "Enqueued Mailers::Welcome on queue mail" in web.flash()
    assert resque.peek("mail", 0, 10) == [{"class": "Mailers::Welcome", "args": [2]}]
    assert resque.scheduled_at("Mailers::Welcome", 2) == [] and resque.count_all_scheduled_jobs() == 1
    assert r.smembers(resque.layout.timestamps(job["raw"])) == set()
    assert b"mail" in r.smembers(resque.layout.queues)


def test_actions_find_a_job_that_moved_and_report_one_that_vanished(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    for i in range(3):
        resque.enqueue_at_with_queue("q", ts, "Job", i)
    jobs = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"]
    # Someone else removes job 0: job 2 is now at position 1, and still the one acted on.
    resque.remove_delayed_in_queue("Job", "q", 0)
    assert web.post("/delayed/remove", {"ts": ts, "index": 2, "digest": jobs[2]["digest"]}).status_code == 303
    assert [j["args"] for j in web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"]] == [[1]]
    # The vanished job 0: a clear message, and nothing else touched.
    before = delayed_keys(r)
    for path in ("/delayed/remove", "/delayed/enqueue-now"):
        resp = web.post(path, {"ts": ts, "index": 0, "digest": jobs[0]["digest"]})
        assert resp.status_code == 409 and "no longer due" in resp.get_data(as_text=True)
    assert delayed_keys(r) == before and resque.size("q") == 0


def test_removing_the_last_job_of_a_timestamp_drops_the_timestamp(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    resque.enqueue_at_with_queue("q", ts, "Job", 1)
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    assert web.post("/delayed/remove", {"ts": ts, "index": 0, "digest": job["digest"]}).status_code == 303
    assert "Removed a delayed Job job" in web.flash()
    assert delayed_keys(r) == {} and resque.size("q") == 0


def test_one_of_two_identical_jobs_is_run_and_the_twin_stays_findable(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    resque.enqueue_at_with_queue("q", ts, "Job", 1)
    resque.enqueue_at_with_queue("q", ts, "Job", 1)
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    assert web.post("/delayed/enqueue-now", {"ts": ts, "index": 0, "digest": job["digest"]}).status_code == 303
    assert resque.size("q") == 1 and resque.delayed_timestamp_size(ts) == 1
    # Ruby's timestamps: set still names the bucket, so Ruby still finds the twin.
    assert r.smembers(resque.layout.timestamps(job["raw"])) == {f"delayed:{ts}".encode()}


def test_enqueue_a_whole_timestamp_now_leaves_what_is_not_a_job(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    resque.enqueue_at_with_queue("a", ts, "Job", 1)
    resque.enqueue_at_with_queue("b", ts, "Other", {"k": "v"})
    r.rpush(resque.layout.delayed(ts), "not json")
    resque.enqueue_at_with_queue("a", ts + 1, "Job", 2)
    resp = web.post("/delayed/enqueue-timestamp", {"ts": ts})
    assert resp.status_code == 303
    message = web.flash()
    assert "Enqueued 2 jobs" in message and "1 left in place" in message
    assert resque.peek("a", 0, 5) == [{"class": "Job", "args": [1]}]
    assert resque.peek("b", 0, 5) == [{"class": "Other", "args": [{"k": "v"}]}]
    assert r.lrange(resque.layout.delayed(ts), 0, -1) == [b"not json"]
    assert resque.delayed_timestamp_size(ts + 1) == 1 and resque.delayed_queue_schedule_size() == 2
    gone = web.post("/delayed/enqueue-timestamp", {"ts": ts + 500})
    assert gone.status_code == 409 and "no job is delayed" in gone.get_data(as_text=True)


def test_enqueue_now_runs_a_registered_jobs_schedule_hooks(r: Any, redis_server: str) -> None:
    calls: list[str] = []
    registry = Registry()

    class Hooked:
        queue = "hooked"

        @staticmethod
        def perform(n: int) -> None:
            pass

        @staticmethod
        def before_delayed_enqueue_note(n: int) -> None:
            calls.append(f"before {n}")

        @staticmethod
        def after_schedule_note(n: int) -> None:
            calls.append(f"after {n}")

    registry.register(Hooked, name="Hooked")
    resque = Resque(redis_server, registry=registry)
    ts = later()
    resque.redis.rpush(resque.layout.delayed(ts), '{"class":"Hooked","args":[5]}')  # no queue: the class's
    resque.redis.zadd(resque.layout.delayed_schedule, {str(ts): ts})
    web = Browser(resque)
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    assert web.post("/delayed/enqueue-now", {"ts": ts, "digest": job["digest"]}).status_code == 303
    assert calls == ["before 5", "after 5"] and resque.peek("hooked", 0, 5) == [{"class": "Hooked", "args": [5]}]


def test_an_item_without_a_queue_is_refused_and_left_alone(resque: Resque, web: Browser, r: Any) -> None:
    ts = later()
    r.rpush(resque.layout.delayed(ts), '{"class":"Unknown","args":[1]}')
    r.zadd(resque.layout.delayed_schedule, {str(ts): ts})
    job = web.get(f"/api/delayed/at?ts={ts}").get_json()["jobs"][0]
    resp = web.post("/delayed/enqueue-now", {"ts": ts, "digest": job["digest"]})
    assert resp.status_code == 400 and "has no queue" in resp.get_data(as_text=True)
    assert resque.delayed_timestamp_size(ts) == 1


def test_clear_deletes_every_delayed_job(resque: Resque, web: Browser, r: Any) -> None:
    for i in range(3):
        resque.enqueue_at_with_queue("q", later() + i, "Job", i)
    assert web.post("/delayed/clear").status_code == 303
    assert "Cleared every delayed job (3)" in web.flash()
    assert delayed_keys(r) == {}


# Schedule ------------------------------------------------------------------------------
SCHEDULE_YML = """\
nightly_archive:
  cron: "30 2 * * * UTC"
  class: Archive
  queue: archive
  args: [all]
  description: Archive at night
heartbeat:
  every: 30s
  class: Heartbeat
  queue: monitoring
broken:
  class: Nothing
"""


def test_schedule_shows_file_and_dynamic_schedules_with_last_and_next_run(
        resque: Resque, r: Any, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yml"
    path.write_text(SCHEDULE_YML)
    set_schedule(r, resque.layout, "sync", {"every": "10m", "class": "Sync", "queue": "sync", "args": [{"a": 1}],
                                            "description": "keep in sync", "persist": True})
    set_schedule(r, resque.layout, "heartbeat", {"every": "1m", "class": "Beat", "queue": "beat", "persist": True})
    r.hset(resque.layout.last_enqueued_at, "sync", "2030-01-01 10:00:00 +0100")
    r.hset(resque.layout.last_enqueued_at, "gone_job", "2026-01-01 00:00:00 +0000")
    web = Browser(resque, schedule_file=str(path))
    data = web.get("/api/schedule").get_json()
    rows = {s["name"]: s for s in data["schedules"]}
    assert sorted(rows) == ["broken", "heartbeat", "nightly_archive", "sync"]
    # A dynamic schedule hides the file's of the same name, as Ruby's all_schedules.
    assert (rows["heartbeat"]["source"], rows["heartbeat"]["class"], rows["heartbeat"]["every"]) == ("dynamic", "Beat", "1m")
    nightly = rows["nightly_archive"]
    assert (nightly["source"], nightly["cron"], nightly["queue"], nightly["args"]) == ("file", "30 2 * * * UTC", "archive", ["all"])
    assert nightly["next_run"].endswith("T02:30:00Z") and 0 < nightly["next_run_s"] - time.time() <= 86400
    # every: the last run plus the period (09:00 UTC + 10 min).
    assert rows["sync"]["last_enqueued_at"] == "2030-01-01 10:00:00 +0100"
    assert rows["sync"]["next_run"] == "2030-01-01T09:10:00Z"
    assert rows["heartbeat"]["next_run_s"] is None  # never ran: unknown
    assert rows["broken"]["problem"] and "no cron or every" in rows["broken"]["problem"]
    assert data["unlisted"] == [{"name": "gone_job", "last_enqueued_at": "2026-01-01 00:00:00 +0000"}]
    assert data["master"] is None
    page = web.text("/schedule")
    for text in ("nightly_archive", "Archive at night", "cron: 30 2 * * * UTC", "every: 10m", "keep in sync",
                 "2030-01-01T09:10:00Z", "unknown", "No scheduler is master", "gone_job", str(path)):
        assert text in page, text


def test_schedule_names_the_master(resque: Resque, web: Browser, r: Any) -> None:
    lock = MasterLock(r, resque.layout, value="box-7:4242")
    assert lock.acquire_or_renew()
    data = web.get("/api/schedule").get_json()
    assert data["master"] == "box-7:4242" and 0 < data["master_ttl_s"] <= 180
    assert "box-7:4242" in web.text("/schedule")
    assert "pyresque web --schedule FILE" in web.text("/schedule")


def test_enqueue_a_schedule_now_and_delete_a_dynamic_one(resque: Resque, r: Any, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yml"
    path.write_text(SCHEDULE_YML)
    set_schedule(r, resque.layout, "sync", {"every": "10m", "class": "Sync", "queue": "sync", "args": [{"a": 1}],
                                            "persist": True})
    web = Browser(resque, schedule_file=str(path))
    rows = {s["name"]: s for s in web.get("/api/schedule").get_json()["schedules"]}
    resp = web.post("/schedule/enqueue-now", {"name": "nightly_archive", "digest": rows["nightly_archive"]["digest"]})
    assert resp.status_code == 303 and "Enqueued one run of nightly_archive (Archive) on queue archive" in web.flash()
    assert resque.peek("archive", 0, 5) == [{"class": "Archive", "args": ["all"]}]
    assert web.post("/schedule/enqueue-now", {"name": "sync", "digest": rows["sync"]["digest"]}).status_code == 303
    assert resque.peek("sync", 0, 5) == [{"class": "Sync", "args": [{"a": 1}]}]
    assert r.hgetall(resque.layout.last_enqueued_at) == {}  # as Ruby's Queue Now: not a scheduled run
    # A file schedule is not deleted from the page; a dynamic one is, and schedulers hear of it.
    refused = web.post("/schedule/delete", {"name": "nightly_archive", "digest": rows["nightly_archive"]["digest"]})
    assert refused.status_code == 400 and "schedule file" in refused.get_data(as_text=True)
    r.delete(resque.layout.schedules_changed)
    assert web.post("/schedule/delete", {"name": "sync", "digest": rows["sync"]["digest"]}).status_code == 303
    assert "Removed the dynamic schedule sync" in web.flash()
    assert r.hgetall(resque.layout.persistent_schedules) == {}
    assert r.smembers(resque.layout.schedules_changed) == {b"sync"}
    again = web.post("/schedule/delete", {"name": "sync", "digest": rows["sync"]["digest"]})
    assert again.status_code == 409 and "no schedule" in again.get_data(as_text=True)


def test_a_schedule_changed_since_the_page_was_shown_is_left_alone(resque: Resque, web: Browser, r: Any) -> None:
    set_schedule(r, resque.layout, "sync", {"every": "10m", "class": "Sync", "queue": "sync", "persist": True})
    row = web.get("/api/schedule").get_json()["schedules"][0]
    set_schedule(r, resque.layout, "sync", {"every": "10m", "class": "Sync", "queue": "other", "persist": True})
    for path in ("/schedule/enqueue-now", "/schedule/delete"):
        resp = web.post(path, {"name": "sync", "digest": row["digest"]})
        assert resp.status_code == 409 and "changed since the page was shown" in resp.get_data(as_text=True)
    assert resque.size("sync") == resque.size("other") == 0
    assert list(r.hgetall(resque.layout.persistent_schedules)) == [b"sync"]


def test_a_bad_schedule_file_or_stored_schedule_is_reported_not_a_500(resque: Resque, r: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [unclosed\n")
    r.hset(resque.layout.persistent_schedules, "mangled", "{not json")
    web = Browser(resque, schedule_file=str(bad))
    page = web.text("/schedule")
    assert "is not YAML" in page and "mangled" in page and "is not JSON" in page
    assert "is not YAML" in Browser(resque, schedule_file=str(bad)).get("/api/schedule").get_json()["file_problem"]
    assert "cannot read" in Browser(resque, schedule_file=str(tmp_path / "missing.yml")).text("/schedule")


def test_nav_links_to_delayed_and_schedule(web: Browser) -> None:
    page = web.text("/")
    assert re.search(r'<a href="/delayed"\s*>Delayed</a>', page) and re.search(r'<a href="/schedule"\s*>Schedule</a>', page)
    assert 'class="current">Delayed' in web.text("/delayed")
