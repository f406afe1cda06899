"""`pyresque check`'s severities, proven against real Ruby: an error breaks a reader, a warning does not.

For each planted value, the check's worst finding on it must agree with
what the Ruby reader does: resque-web (3.0.3 and 3.2.0) answers 500 exactly
when the check says *error*, a starting Ruby worker (whose pruning
parses heartbeats) fails to start, working nothing, exactly when the check
says *error*, a Ruby worker loses, dies on, fails or misreads a queued
item exactly when the check says *error*, resque-web fails on wrongly typed
keys and broken worker records, and a Ruby worker's INCRBY fails on exactly
the stats the check calls errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis as redis_py

from pyresque import times
from pyresque.check import ERROR, WARNING, check, format_problems
from pyresque.keys import Keys
from rubyside import RESULTS_KEY as RUBY_RESULTS

K = Keys()
GOOD = {"failed_at": "2026/11/23 03:22:31 UTC", "payload": {"class": "A", "args": [1]}, "exception": "RuntimeError",
        "error": "boom", "backtrace": ["x.rb:1:in `perform'"], "worker": "web-1:4242:high", "queue": "high"}
JS_DATE = "Wed Dec 02 2026 05:20:00 GMT+0000 (Coordinated Universal Time)"

FAILURE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("JavaScript failed_at", {"failed_at": JS_DATE}),
    ("ISO failed_at", {"failed_at": "2026-11-23 03:22:31"}),
    ("ISO failed_at with Z", {"failed_at": "2026-11-23T03:22:31Z"}),
    ("failed_at without time", {"failed_at": "2026/11/23"}),
    ("word failed_at", {"failed_at": "yesterday"}),
    ("empty failed_at", {"failed_at": ""}),
    ("epoch failed_at", {"failed_at": "1700000000"}),
    ("null failed_at", {"failed_at": None}),
    ("word retried_at", {"retried_at": "now"}),
    ("ISO retried_at", {"retried_at": "2026-11-23 03:22:31"}),
    ("host:pid worker", {"worker": "web-1:4242"}),
    ("null worker", {"worker": None}),
]


def worst(problems: list[Any]) -> str | None:
    severities = {p.severity for p in problems}
    return ERROR if ERROR in severities else WARNING if WARNING in severities else None


def status(web: Any, path: str) -> int:
    try:
        web.get(path)
    except AssertionError as exc:
        code = str(exc).split("HTTP ", 1)[1][:3]
        return int(code)
    return 200


@pytest.mark.parametrize("which", ["web", "web32"])
@pytest.mark.parametrize("name,change", FAILURE_CASES, ids=[c[0] for c in FAILURE_CASES])
def test_failure_record_errors_are_exactly_what_resque_web_cannot_render(
        request: pytest.FixtureRequest, r: redis_py.Redis, which: str, name: str, change: dict[str, Any]) -> None:
    web = request.getfixturevalue(which)
    r.rpush(K.failed, json.dumps({**GOOD, **change}))
    problems = check(r, K)
    assert worst(problems) is not None, f"{name}: the check saw nothing"
    expected = 500 if worst(problems) == ERROR else 200
    assert status(web, "/failed") == expected, f"{name} on {which}:\n{format_problems(problems)}"


@pytest.mark.parametrize("which", ["web", "web32"])
def test_a_worker_id_without_queues_is_an_error_and_breaks_resque_web(request: pytest.FixtureRequest,
                                                                      r: redis_py.Redis, which: str) -> None:
    web = request.getfixturevalue(which)
    r.sadd(K.workers, "web-1:12")
    assert worst(check(r, K)) == ERROR
    assert status(web, "/workers") == 500


HEARTBEAT_CASES = [
    ("epoch heartbeat", lambda now: "1700000000", ERROR),
    ("word heartbeat", lambda now: "soon", ERROR),
    ("stale heartbeat", lambda now: times.heartbeat(now - 3600), WARNING),
]


@pytest.mark.parametrize("which", ["ruby", "ruby32"])
@pytest.mark.parametrize("name,value,severity", HEARTBEAT_CASES, ids=[c[0] for c in HEARTBEAT_CASES])
def test_heartbeat_errors_are_exactly_what_stops_a_ruby_worker_from_starting(
        request: pytest.FixtureRequest, r: redis_py.Redis, which: str, name: str, value: Any, severity: str) -> None:
    ruby = request.getfixturevalue(which)
    dead = "gone-host:99:q"
    r.sadd(K.workers, dead)
    r.set(K.worker_started(dead), "2026-11-23 03:22:31 +0000")
    r.hset(K.heartbeat, dead, value(int(r.time()[0])))
    assert worst(check(r, K)) == severity, name
    r.sadd(K.queues, "record")
    r.rpush(K.queue("record"), '{"class":"Recorder","args":["waiting"]}')
    ruby.work("record")  # exits 0 either way: Worker#work logs "Failed to start worker" and returns
    if severity == ERROR:
        # Its start-up pruning raised on the heartbeat: the worker never worked, nothing was pruned.
        assert r.llen(K.queue("record")) == 1 and r.llen(RUBY_RESULTS) == 0
        assert r.sismember(K.workers, dead)
    else:
        assert r.llen(K.queue("record")) == 0 and r.llen(RUBY_RESULTS) == 1
        assert not r.sismember(K.workers, dead) and not r.hexists(K.heartbeat, dead)  # pruned, as warned


QUEUE_CASES = [
    ("invalid JSON", b"not json"),
    ("NaN", b'{"class":"Recorder","args":[NaN]}'),
    ("nested past Ruby's limit", b'{"class":"Recorder","args":' + b"[" * 100 + b"]" * 100 + b"}"),
    ("not UTF-8", b'{"class":"Recorder","args":["\xff"]}'),
    ("not an object", b"[1]"),
    ("no class", b'{"args":[1]}'),
    ("class not a string", b'{"class":5,"args":[1]}'),
    ("args an object", b'{"class":"Recorder","args":{"a":1}}'),
    ("node-resque's queue field", b'{"class":"Recorder","queue":"record","args":[1]}'),
    ("php-resque's id field", b'{"class":"Recorder","args":[1],"id":"abc"}'),
]


@pytest.mark.parametrize("which", ["ruby", "ruby32"])
@pytest.mark.parametrize("name,raw", QUEUE_CASES, ids=[c[0] for c in QUEUE_CASES])
def test_queue_item_errors_are_exactly_what_a_ruby_worker_loses_or_misreads(
        request: pytest.FixtureRequest, r: redis_py.Redis, which: str, name: str, raw: bytes) -> None:
    # An error: Ruby's worker pops the item and loses it (nothing recorded,
    # the worker stops), dies on it, fails it where it can never run, or runs
    # it with other args. Anything less is not an error.
    ruby = request.getfixturevalue(which)
    r.sadd(K.queues, "record")
    r.rpush(K.queue("record"), raw, '{"class":"Recorder","args":["after"]}')
    severity = worst([p for p in check(r, K) if p.key == K.queue("record")])
    proc = ruby.spawn("work.rb", QUEUES="record")
    _, err = proc.communicate(timeout=120)
    results = [(x["class"], x["args"]) for x in map(json.loads, r.lrange(RUBY_RESULTS, 0, -1))]
    ran_as_written = results[:1] == [("Recorder", [1])] and r.llen(K.failed) == 0
    outcome = ("crashed" if proc.returncode else "lost" if r.llen(K.queue("record")) and not r.llen(K.failed)
               else "ran as written" if ran_as_written else "failed or misread")
    assert (severity == ERROR) == (outcome != "ran as written"), f"{name}: {severity}, Ruby {outcome}; {results} {err[-500:]}"


KEYSPACE_CASES = [
    # (name, plant, the resque-web page that reads it)
    ("a queue that is a Redis string", lambda r: (r.sadd(K.queues, "high"), r.set(K.queue("high"), "x")), "/overview"),
    ("the queues set as a list", lambda r: r.rpush(K.queues, "high"), "/overview"),
    ("a worker record without its payload", lambda r: (r.sadd(K.workers, "web-1:12:high"),
                                                       r.set(K.worker("web-1:12:high"), '{"queue":"high","run_at":"2026-11-23T03:22:31Z"}')),
     "/working"),
    ("a worker record that is not JSON", lambda r: (r.sadd(K.workers, "web-1:12:high"), r.set(K.worker("web-1:12:high"), "busy")),
     "/working"),
    ("a worker with a non-numeric pid", lambda r: r.sadd(K.workers, "web-1:abc:high"), "/workers"),
    ("a queue name with ':'", lambda r: r.sadd(K.queues, "a:b"), "/overview"),
]


@pytest.mark.parametrize("which", ["web", "web32"])
@pytest.mark.parametrize("name,plant,path", KEYSPACE_CASES, ids=[c[0] for c in KEYSPACE_CASES])
def test_keyspace_errors_are_what_resque_web_cannot_render(
        request: pytest.FixtureRequest, r: redis_py.Redis, which: str, name: str, plant: Any, path: str) -> None:
    web = request.getfixturevalue(which)
    plant(r)
    problems = check(r, K)
    assert worst(problems) is not None, f"{name}: the check saw nothing"
    expected = 500 if worst(problems) == ERROR else 200
    assert status(web, path) == expected, f"{name} on {which}:\n{format_problems(problems)}"


@pytest.mark.parametrize("which", ["ruby", "ruby32"])
@pytest.mark.parametrize("value", ["many", "1.5", str(2**63), "41"])
def test_stat_errors_are_what_a_ruby_worker_cannot_count(
        request: pytest.FixtureRequest, r: redis_py.Redis, which: str, value: str) -> None:
    # resque-web only prints a stat; the Ruby worker's INCRBY after a job is its reader.
    ruby = request.getfixturevalue(which)
    r.set(K.processed_stat(), value)
    severity = worst([p for p in check(r, K) if p.key == K.processed_stat()])
    r.sadd(K.queues, "record")
    r.rpush(K.queue("record"), '{"class":"Recorder","args":["counted"]}', '{"class":"Recorder","args":["after"]}')
    proc = ruby.spawn("work.rb", QUEUES="record")
    _, err = proc.communicate(timeout=120)
    counted = value.isdigit() and r.get(K.processed_stat()) == str(int(value) + 2).encode()
    assert (severity == ERROR) == (not counted), f"{value}: {severity}; processed={r.get(K.processed_stat())} {err[-400:]}"
