"""After the kill -9 soak, Ruby and resque-web see a clean keyspace.

The soak (tests/soak.py) kills pyresque workers, their children and their
process groups at random; the survivors prune the dead. Afterwards Ruby's
``Resque::Worker.all``, ``Resque.info`` and resque-web must show no stale
worker, read every failure record, and be able to retry them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import soak  # noqa: E402
from webside import text_of  # noqa: E402


def test_ruby_and_resque_web_see_no_stale_worker_after_the_kill_soak(ruby, r, redis_server, web, tmp_path):
    figures = soak.kill_soak(r, redis_server, tmp_path, jobs=400, kills=12, seed=7)
    assert figures.lost == 0, figures
    failures = r.llen("resque:failed")
    assert failures >= figures.failed_on_purpose > 0

    view = ruby.eval("""
      failed = Resque::Failure.all(0, Resque::Failure.count)
      failed = [failed] if failed.is_a?(Hash)
      { "workers" => Resque::Worker.all.map(&:id), "working" => Resque.working.size,
        "info" => Resque.info.slice(:workers, :working, :failed, :pending),
        "classes" => failed.map { |f| f["payload"]["class"] }.uniq,
        "expired" => Resque::Worker.all_workers_with_expired_heartbeats.map(&:id) }
    """)
    assert view["workers"] == [] and view["working"] == 0 and view["expired"] == []
    assert view["info"] == {"workers": 0, "working": 0, "failed": failures, "pending": 0}
    assert view["classes"] == ["SoakJob"]

    assert "0 of 0 Workers Working" in text_of(web.get("/overview"))
    assert "There are no registered workers" in text_of(web.get("/workers/all"))
    page = text_of(web.get("/failed"))
    assert f"Showing 0 to {min(failures, 20)} of {failures} jobs" in page or str(failures) in page

    # Ruby retries a record a killed pyresque worker left, as it would its own.
    ruby.eval("Resque::Failure.requeue(0); true")
    requeued = json.loads(r.lindex("resque:queue:soak", 0))
    assert requeued["class"] == "SoakJob" and isinstance(requeued["args"][0], str)
