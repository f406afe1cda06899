"""pyresque beside Resque 3.2.0 (its real code, from the unpacked gem: compat-tests/resque32.py).

What 3.2 changed on the wire and in resque-web, against what pyresque
writes: ``failure_id`` in every failure record, ``always`` hooks, POST-only
retry and remove of one failure, and the Delete button of a queued job,
which only works when the queued bytes are Ruby's own encoding.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from pyresque import Resque
from pyresque.check import check, format_problems, schema_errors
from pyresque.hooks import JOB_HOOKS, perform_with_hooks
from pyresque.keys import Keys
from pyresque.registry import Registry
from pyresque.worker import Worker
from rubyside import Ruby
from webside import text_of

K = Keys()
FIELDS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue", "failure_id"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def drain(resque: Resque, registry: Registry, queues: list[str]) -> None:
    Worker(resque, queues, registry=registry, interval_s=0, fork_per_job=False, handle_signals=False,
           unknown_jobs="fail").work()


def failures(r: redis_py.Redis) -> list[dict[str, Any]]:
    return [json.loads(x) for x in r.lrange(K.failed, 0, -1)]


def python_failure(resque: Resque, registry: Registry, *args: Any) -> dict[str, Any]:
    def explode(*a: Any) -> None:
        raise ValueError(f"python exploded with {list(a)}")

    registry.register(explode, name="Exploder")
    resque.enqueue_to("record", "Exploder", *args)
    drain(resque, registry, ["record"])
    return failures(r_of(resque))[-1]


def r_of(resque: Resque) -> redis_py.Redis:
    return resque.redis


def test_ruby_3_2_and_pyresque_write_failure_ids_in_the_same_place(ruby32: Ruby, resque: Resque, registry: Registry,
                                                                   r: redis_py.Redis) -> None:
    assert ruby32.eval("Resque::VERSION") == "3.2.0"
    ruby32.enqueue("record", "Exploder", [1])
    ruby32.work("record")
    python_failure(resque, registry, 2)
    ruby_record, py_record = failures(r)
    assert list(ruby_record) == FIELDS and list(py_record) == FIELDS
    assert UUID.fullmatch(ruby_record["failure_id"]) and UUID.fullmatch(py_record["failure_id"])
    for record in (ruby_record, py_record):
        assert schema_errors("failure-record", record) == []
    assert check(r, K) == [], format_problems(check(r, K))
    # Ruby 3.2 reads pyresque's id, and pyresque reads Ruby's.
    assert ruby32.eval("Resque::Failure.all(0, 2).map { |f| f['failure_id'] }") == [
        ruby_record["failure_id"], py_record["failure_id"]]
    assert [f.data["failure_id"] for f in resque.failures.all()] == [ruby_record["failure_id"], py_record["failure_id"]]
    # Ruby 3.2 requeues pyresque's record; pyresque requeues Ruby's.
    ruby32.eval("Resque::Failure.requeue(1); true")
    resque.failures.requeue(0)
    assert [json.loads(x)["args"] for x in r.lrange(K.queue("record"), 0, -1)] == [[2], [1]]
    assert all("retried_at" in f and list(f)[:8] == FIELDS for f in failures(r))


def test_resque_web_3_2_retries_and_removes_python_failures_by_post_only(web32, resque: Resque, registry: Registry,
                                                                          r: redis_py.Redis) -> None:
    python_failure(resque, registry, "a")
    python_failure(resque, registry, "b")
    page = web32.get("/failed")
    assert "python exploded with ['a']" in text_of(page) and "Powered by Resque v3.2.0" in text_of(page)
    with pytest.raises(AssertionError, match="HTTP 404"):
        web32.get("/failed/requeue/0")  # 3.2: no longer a GET
    web32.post("/failed/requeue/0")
    assert json.loads(r.lindex(K.queue("record"), 0)) == {"class": "Exploder", "args": ["a"]}
    assert "retried_at" in failures(r)[0]
    web32.post("/failed/remove/1")
    assert [f["payload"]["args"] for f in failures(r)] == [["a"]]
    # pyresque's own view of what resque-web left.
    [left] = resque.failures.all()
    assert left.retried and left.data is not None and left.data["failure_id"]


VALUES: list[list[Any]] = [
    [1, "two", 3.5],
    ["ünïcødé 😀 / \\ \"q\" \u2028", {"k": [None, True, False]}, 2**70],
    [0.1, 1e20, -0.0, 1e-05, 123456789012345.6],
    [],
]


def test_resque_web_3_2_deletes_a_python_enqueued_job_from_its_queue(web32, resque: Resque,
                                                                     r: redis_py.Redis) -> None:
    for args in VALUES:
        resque.enqueue_to("deletable", "Recorder", *args)
    page = web32.get("/queues/deletable")
    forms = [html.unescape(v) for v in re.findall(r'name="payload" value="([^"]*)"', page)]
    assert len(forms) == len(VALUES)
    queued = [x.decode() for x in r.lrange(K.queue("deletable"), 0, -1)]
    assert forms == queued  # resque-web re-encodes each job and gets pyresque's exact bytes
    for victim in (1, 2):  # the unicode one, then the float one (index shifts after the first)
        before = [x.decode() for x in r.lrange(K.queue("deletable"), 0, -1)]
        body = urllib.parse.urlencode({"payload": before[1]}).encode()
        web32.request("/queues/deletable/remove-job", data=body)
        after = [x.decode() for x in r.lrange(K.queue("deletable"), 0, -1)]
        assert after == before[:1] + before[2:], victim
    assert [json.loads(x)["args"] for x in r.lrange(K.queue("deletable"), 0, -1)] == [VALUES[0], VALUES[3]]


RUBY_HOOKS = r"""
class AlwaysHooked
  @log = []
  class << self; attr_accessor :log; end
  def self.before_perform_a(*a); log << ["before", a]; raise Resque::Job::DontPerform if a == ["skip"]; end
  def self.after_perform_a(*a); log << ["after", a]; end
  def self.on_failure_a(e, *a); log << ["failure", a]; raise IndexError, "fhook" if a == ["fail hook"]; end
  def self.on_failure_b(e, *a); log << ["failure_b", a]; end
  def self.always_a(*a); log << ["always", a]; raise KeyError, "hook" if a == ["bad hook"]; end
  def self.always_b(*a); log << ["always_b", a]; end
  def self.perform(*a); log << ["perform", a]; raise ArgumentError, "job" if a.first.to_s.start_with?("fail"); end
end
%w[ok fail skip].push("bad hook", "fail hook").map do |arg|
  AlwaysHooked.log = []
  error = nil
  begin
    Resque::Job.new("q", {"class" => "AlwaysHooked", "args" => [arg]}).perform
  rescue => e
    error = [e.class.to_s, e.message.start_with?("Additional error (IndexError: fhook) occurred in running failure hooks")]
  end
  [AlwaysHooked.log, error]
end
"""


def test_always_hooks_run_as_in_resque_3_2(ruby32: Ruby) -> None:
    expected = ruby32.eval(RUBY_HOOKS)
    got = []
    for arg in ("ok", "fail", "skip", "bad hook", "fail hook"):
        log: list[Any] = []

        def before(*a: Any) -> None:
            log.append(["before", list(a)])
            if list(a) == ["skip"]:
                from pyresque import DontPerform
                raise DontPerform()

        def perform(*a: Any) -> None:
            log.append(["perform", list(a)])
            if str(a[0]).startswith("fail"):
                raise ValueError("job")

        def always_a(*a: Any) -> None:
            log.append(["always", list(a)])
            if list(a) == ["bad hook"]:
                raise KeyError("hook")

        hooks: dict[str, list[Any]] = {kind: [] for kind in JOB_HOOKS}
        hooks["before_perform"] = [before]
        hooks["after_perform"] = [lambda *a: log.append(["after", list(a)])]
        def on_failure_a(e: BaseException, *a: Any) -> None:
            log.append(["failure", list(a)])
            if list(a) == ["fail hook"]:
                raise IndexError("fhook")

        hooks["on_failure"] = [on_failure_a, lambda e, *a: log.append(["failure_b", list(a)])]
        hooks["always"] = [always_a, lambda *a: log.append(["always_b", list(a)])]
        error = None
        try:
            perform_with_hooks(perform, [arg], hooks)
        except Exception as exc:  # noqa: BLE001 - compared with Ruby's outcome below
            name = {"ValueError": "ArgumentError"}.get(type(exc).__name__, type(exc).__name__)
            error = None if name == "DontPerform" else [
                name, str(exc).startswith("Additional error (IndexError: fhook) occurred in running failure hooks")]
        got.append([log, error])
    assert got == expected


def test_a_starting_ruby_3_2_worker_leaves_a_busy_python_worker_alone(ruby32: Ruby, procs, r: redis_py.Redis) -> None:
    # Ruby 3.2's start-up pruning (same host, same queues) must see a live
    # Resque worker in pyresque: a fresh heartbeat and a Resque process title.
    from webside import worker_id
    from testsupport import wait_until

    release = "pyresque-test:release32"
    py = procs.py("record")
    py_id = worker_id(py, "record")
    wait_until(lambda: r.sismember(K.workers, py_id), 30, "the Python worker to register")
    r.rpush(K.queue("record"), json.dumps({"class": "Waiter", "args": [release, "busy"]}))
    wait_until(lambda: r.exists(K.worker(py_id)), 30, "the Python worker to take the job")
    r.delete(K.prune_lock)  # the Python worker prunes under the same lock; let Ruby take it
    ruby32.work("record")  # prunes, finds nothing to do, exits
    assert r.get(K.prune_lock) not in (None, py_id.encode())  # Ruby 3.2 took the lock and pruned
    assert r.sismember(K.workers, py_id) and r.exists(K.worker(py_id))
    seen = ruby32.eval("w = Resque::Worker.find(%q(" + py_id + ")); [w.working?, w.job['payload'], w.heartbeat.nil?]")
    assert seen == [True, {"class": "Waiter", "args": [release, "busy"]}, False]
    assert r.llen(K.failed) == 0
    r.set(release, "1")
    wait_until(lambda: not r.exists(K.worker(py_id)), 30, "the job to finish")


def test_a_resque_lib_that_is_not_loaded_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A mistyped PYRESQUE_RESQUE_LIB must not quietly test the bundled 3.0.3.
    from rubyside import ruby_problem

    monkeypatch.setenv("PYRESQUE_RESQUE_LIB", str(tmp_path / "nowhere" / "lib"))
    assert "holds no resque.rb" in (ruby_problem() or "")
    (tmp_path / "decoy" / "lib").mkdir(parents=True)
    (tmp_path / "decoy" / "lib" / "resque.rb").write_text("require 'resque/worker'\n")
    monkeypatch.setenv("PYRESQUE_RESQUE_LIB", str(tmp_path / "decoy" / "lib"))
    problem = ruby_problem() or ""
    assert "Ruby loaded Resque" in problem or "do not load" in problem, problem
