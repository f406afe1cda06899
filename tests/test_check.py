"""pyresque check: silent on a keyspace pyresque wrote, loud on planted violations, read-only."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import pytest
import redis as redis_py

from pyresque import Resque, failure, times
from pyresque import payload as codec
from pyresque import workers as worker_records
from pyresque.check import ERROR, NOTE, WARNING, Problem, check, format_problems, format_report, report_data
from pyresque.errors import MalformedPayload
from pyresque.keys import Keys

K = Keys()
WID = "web-1:4242:high,*"
JS_DATE = "Wed Dec 02 2026 05:20:00 GMT+0000 (Coordinated Universal Time)"
GOOD_FAILURE = {
    "failed_at": "2026/11/23 03:22:31 UTC",
    "payload": {"class": "A", "args": [1]},
    "exception": "RuntimeError",
    "error": "boom",
    "backtrace": [],
    "worker": WID,
    "queue": "high",
}


def now(r: redis_py.Redis) -> int:
    return int(r.time()[0])


def populate(resque: Resque, r: redis_py.Redis) -> None:
    """A busy but valid keyspace, written by pyresque's own functions."""
    resque.enqueue_to("high", "Archive", 1, "two", 3.5, {"k": [None, True]}, "😀")
    resque.enqueue_to("low", "Mailers::Welcome", 2**70)
    pipe = r.pipeline()
    worker_records.register(pipe, K, WID)
    pipe.hset(K.heartbeat, WID, times.heartbeat(now(r)))
    pipe.set(K.worker(WID), worker_records.working_on("high", times.run_at(), codec.encode_job("A", [1])))
    for wid in (WID, None):
        pipe.incrby(K.processed_stat(wid), 3)
        pipe.incrby(K.failed_stat(wid), 1)
    pipe.set(K.prune_lock, WID, ex=60)
    pipe.set(K.pause_all, "false")
    pipe.execute()
    try:
        raise ValueError("boom")
    except ValueError as exc:
        record = failure.record_for_exception({"class": "A", "args": [1]}, exc, WID, "high")
    pipe = r.pipeline()
    resque.failure_backend.save(pipe, record)
    resque.failure_backend.save(pipe, failure.record_for_malformed(MalformedPayload("bad", "not json"), WID, "high"))
    failure.RedisMultiQueueFailure(K, r).save(pipe, record)
    pipe.execute()
    resque.failures.requeue(0)
    # resque-scheduler's layout, as delayed_push writes it.
    item = '{"class":"Archive","args":[1],"queue":"high"}'
    ts = now(r) + 3600
    r.rpush(K.delayed(ts), item)
    r.sadd(K.timestamps(item), K.delayed_member(ts))
    r.zadd(K.delayed_schedule, {str(ts): ts})


def test_clean_keyspace_has_no_problems(resque: Resque, r: redis_py.Redis) -> None:
    populate(resque, r)
    assert check(r, K) == []
    assert format_problems([]) == "No problems found."


def test_records_of_hostile_payloads_pass_the_check(resque: Resque, r: redis_py.Redis) -> None:
    # Records that keep a payload as queued: check must read them (a huge
    # int once crashed the schema library's error message) and find them valid.
    records = []
    for raw in (b'{"class":' + b"9" * 5000 + b',"args":[]}', b'{"class":"A","args":["caf\xe9"]}',
                b"[" * 100_000, b'{"class":"A","args":{"k":' + b"7" * 5000 + b"}}"):
        with pytest.raises(MalformedPayload) as info:
            codec.decode_job(raw)
        records.append(failure.record_for_malformed(info.value, WID, "high"))
    for raw in ('{"class":"A","args":[1e400]}', '{"class":"A","args":[' + "[" * 98 + "]" * 98 + "]}"):
        job = codec.Job("high", codec.decode_job(raw), raw)
        records.append(failure.record_for_job(job, RuntimeError("boom"), WID))
    pipe = r.pipeline()
    for record in records:
        resque.failure_backend.save(pipe, record)
    pipe.execute()
    assert check(r, K) == []


def test_empty_keyspace_has_no_problems(r: redis_py.Redis) -> None:
    assert check(r, K) == []


def test_check_only_reads_and_never_uses_keys(resque: Resque, r: redis_py.Redis) -> None:
    populate(resque, r)
    plant_everything(r)
    before = {k: r.dump(k) for k in r.scan_iter()}
    r.config_resetstat()
    assert check(r, K)
    stats = r.info("commandstats")
    used = {name.split("|")[0].removeprefix("cmdstat_") for name in stats}
    read_only = {"scan", "type", "time", "sscan", "hscan", "llen", "lrange", "get", "ttl", "zcard", "zrange", "zscore", "config", "info"}
    assert used <= read_only, used - read_only
    assert "keys" not in used
    assert {k: r.dump(k) for k in r.scan_iter()} == before


# Planted problems --------------------------------------------------------------
Plant = Callable[[redis_py.Redis], None]


def _failure(**changes: Any) -> str:
    return json.dumps({**GOOD_FAILURE, **changes})


PLANTS: list[tuple[str, Plant, str, str, str]] = [
    # (name, plant, severity, bare key, message fragment)
    ("queue payload not JSON", lambda r: r.rpush(K.queue("high"), "not json"), ERROR, "queue:high", "item 2 is not valid JSON"),
    ("queue payload NaN", lambda r: r.rpush(K.queue("high"), '{"class":"A","args":[NaN]}'), ERROR, "queue:high", "not valid JSON"),
    ("queue payload array", lambda r: r.rpush(K.queue("high"), "[1]"), ERROR, "queue:high", "is not of type 'object'"),
    ("queue payload no class", lambda r: r.rpush(K.queue("high"), '{"args":[]}'), ERROR, "queue:high", "'class' is a required property"),
    ("queue payload args object", lambda r: r.rpush(K.queue("high"), '{"class":"A","args":{"a":1}}'), ERROR, "queue:high", "is not of type 'array'"),
    ("queue payload too deep", lambda r: r.rpush(K.queue("high"), '{"class":"A","args":' + "[" * 100 + "]" * 100 + "}"), ERROR, "queue:high", "nested 101 levels"),
    ("queue payload not UTF-8", lambda r: r.rpush(K.queue("high"), b'{"class":"\xff","args":[]}'), ERROR, "queue:high", "not valid UTF-8"),
    ("queue list is a string", lambda r: r.set(K.queue("high"), "x"), ERROR, "queue:high", "is a Redis string"),
    ("queue not in queues set", lambda r: r.rpush(K.queue("ghost"), '{"class":"A","args":[]}'), WARNING, "queue:ghost", "not in the queues set"),
    ("queue name with comma", lambda r: r.sadd(K.queues, "a,b"), ERROR, "queues", "contains ','"),
    ("queues is a list", lambda r: (r.delete(K.queues), r.rpush(K.queues, "high")), ERROR, "queues", "is a Redis list"),
    ("worker id without queues", lambda r: r.sadd(K.workers, "web-1:12:"), ERROR, "workers", "'web-1:12:' is not in the required format"),
    ("worker id with two fields", lambda r: r.sadd(K.workers, "web-1:12"), ERROR, "workers", "not in the required format"),
    ("worker id with non-numeric pid", lambda r: r.sadd(K.workers, "web-1:abc:q"), WARNING, "workers", "'abc' where Ruby writes a process id"),
    ("node MultiWorker's worker id", lambda r: r.sadd(K.workers, "web-1:12+1:q"), WARNING, "workers", "MultiWorker writes pid+N"),
    ("worker id with ':' in a queue", lambda r: r.sadd(K.workers, "web-1:12:a:b"), WARNING, "workers", "has ':' in its queues"),
    ("worker without started", lambda r: r.sadd(K.workers, "web-1:13:q"), WARNING, "workers", "has no 'worker:web-1:13:q:started'"),
    ("worker record old run_at", lambda r: r.set(K.worker(WID), '{"queue":"high","run_at":"2026/11/23 03:22:31 UTC","payload":{"class":"A","args":[]}}'), WARNING, f"worker:{WID}", "is not Ruby's UTC ISO 8601"),
    ("worker record run_at a number", lambda r: r.set(K.worker(WID), '{"queue":"high","run_at":5,"payload":{"class":"A","args":[]}}'), WARNING, f"worker:{WID}", "run_at 5 (not a string)"),
    ("worker record run_at null", lambda r: r.set(K.worker(WID), '{"queue":"high","run_at":null,"payload":{"class":"A","args":[]}}'), WARNING, f"worker:{WID}", "run_at None (not a string)"),
    ("worker record no payload", lambda r: r.set(K.worker(WID), '{"queue":"high","run_at":"2026-11-23T03:22:31Z"}'), ERROR, f"worker:{WID}", "'payload' is a required property"),
    ("worker record not JSON", lambda r: r.set(K.worker(WID), "busy"), ERROR, f"worker:{WID}", "not valid JSON"),
    ("worker record is a hash", lambda r: (r.delete(K.worker(WID)), r.hset(K.worker(WID), "queue", "high")), ERROR, f"worker:{WID}", "is a Redis hash"),
    ("orphan worker record", lambda r: r.set(K.worker("gone:1:q"), '{"queue":"q","run_at":"2026-11-23T03:22:31Z","payload":{"class":"A","args":[]}}'), WARNING, "worker:gone:1:q", "not in the workers set"),
    ("started as epoch", lambda r: r.set(K.worker_started(WID), "1700000000"), WARNING, f"worker:{WID}:started", "is epoch seconds"),
    ("started in ISO form", lambda r: r.set(K.worker_started(WID), "2026-11-23T03:22:31Z"), WARNING, f"worker:{WID}:started", "not in the required format"),
    ("heartbeat epoch", lambda r: r.hset(K.heartbeat, WID, "1700000000"), ERROR, "workers:heartbeat", "'1700000000' is not in the required format"),
    ("heartbeat no offset", lambda r: r.hset(K.heartbeat, WID, "2026-11-23T03:22:31"), ERROR, "workers:heartbeat", "not in the required format"),
    ("heartbeat field not an id", lambda r: r.hset(K.heartbeat, "web-1", times.heartbeat(now(r))), ERROR, "workers:heartbeat", "field violates worker-id"),
    ("heartbeat stale", lambda r: r.hset(K.heartbeat, WID, times.heartbeat(now(r) - 301)), WARNING, "workers:heartbeat", "the next Ruby worker to start will prune it"),
    ("heartbeat in the future", lambda r: r.hset(K.heartbeat, WID, times.heartbeat(now(r) + 3600)), WARNING, "workers:heartbeat", "in the future"),
    ("heartbeat is a string", lambda r: r.set(K.heartbeat, "x"), ERROR, "workers:heartbeat", "is a Redis string"),
    ("stat not an integer", lambda r: r.set(K.processed_stat(), "12.5"), ERROR, "stat:processed", "'12.5' is not in the required format"),
    ("per-worker stat garbage", lambda r: r.set(K.failed_stat(WID), "many"), ERROR, f"stat:failed:{WID}", "not in the required format"),
    ("stat beyond 64 bits", lambda r: r.set(K.processed_stat(), str(2**63)), ERROR, "stat:processed", "64-bit"),
    ("failure not JSON", lambda r: r.rpush(K.failed, "oops"), ERROR, "failed", "record 2 is not valid JSON"),
    ("failure ISO failed_at", lambda r: r.rpush(K.failed, _failure(failed_at="2026-11-23 03:22:31")), WARNING, "failed", "DateTime.parse"),
    ("failure unreadable failed_at", lambda r: r.rpush(K.failed, _failure(failed_at="yesterday")), ERROR, "failed", "['failed_at']"),
    ("failure worker not a string", lambda r: r.rpush(K.failed, _failure(worker=None)), ERROR, "failed", "['worker']"),
    ("failure backtrace a string", lambda r: r.rpush(K.failed, _failure(backtrace="x.rb:1")), ERROR, "failed", "['backtrace']"),
    ("failure payload a string", lambda r: r.rpush(K.failed, _failure(payload="A")), ERROR, "failed", "['payload']"),
    ("failure missing queue", lambda r: r.rpush(K.failed, json.dumps({k: v for k, v in GOOD_FAILURE.items() if k != "queue"})), ERROR, "failed", "'queue' is a required property"),
    ("failure bad retried_at", lambda r: r.rpush(K.failed, _failure(retried_at="now")), ERROR, "failed", "['retried_at']"),
    ("multi-queue failure bad", lambda r: (r.sadd(K.failed_queues, "high_failed"), r.rpush(K.failed_list("high_failed"), _failure(failed_at=None))), ERROR, "high_failed", "['failed_at']"),
    ("failed_queues member without suffix", lambda r: r.sadd(K.failed_queues, "high"), WARNING, "failed_queues", "does not end in '_failed'"),
    ("prune lock without TTL", lambda r: r.set(K.prune_lock, WID), WARNING, "pruning_dead_workers_in_progress", "no expiry"),
    ("all workers paused", lambda r: r.set(K.pause_all, " TRUE "), WARNING, "pause-all-workers", "paused"),
    ("schedule member not a timestamp", lambda r: r.zadd(K.delayed_schedule, {"soon": 5}), ERROR, "delayed_queue_schedule", "'soon'"),
    ("delayed item without class", lambda r: r.rpush(K.delayed(1795404283), '{"args":[]}'), ERROR, "delayed:1795404283", "'class' is a required property"),
    # Other implementations' deviations Ruby tolerates (node-resque 9.x writes each of these).
    ("failed_at as JavaScript Date", lambda r: r.rpush(K.failed, _failure(failed_at=JS_DATE)), WARNING, "failed", "Date#toString"),
    ("failure worker host:pid", lambda r: r.rpush(K.failed, _failure(worker="web-1:4242")), WARNING, "failed", "is host:pid, not a worker id"),
    ("failure worker of a MultiWorker", lambda r: r.rpush(K.failed, _failure(worker="web-1:4242+1")), WARNING, "failed", "'web-1:4242+1' is host:pid"),
    ("failure of a thrown non-Error", lambda r: r.rpush(K.failed, json.dumps({k: v for k, v in {**GOOD_FAILURE, "backtrace": None}.items() if k not in ("exception", "error")})), WARNING, "failed", "has no exception, error, backtrace (null)"),
    ("run_at as JavaScript Date", lambda r: r.set(K.worker(WID), json.dumps({"run_at": JS_DATE, "queue": "high", "payload": {"class": "A", "args": []}, "worker": "web-1:4242"})), WARNING, f"worker:{WID}", "run_at"),
    ("worker record re-encoded by cjson", lambda r: r.set(K.worker(WID), '{"queue":"high","run_at":"2026-11-23T03:22:31Z","payload":{"class":"A","args":[9.007199254741e+15,"a\\/b"]}}'), WARNING, f"worker:{WID}", "re-encoded lossily"),
    ("delayed item in node's key order", lambda r: r.rpush(K.delayed(1795404283), '{"class":"A","queue":"q","args":[]}'), WARNING, "delayed:1795404283", "remove_delayed"),
    ("timestamps set in node's key order", lambda r: r.sadd(K.timestamps('{"class":"A","queue":"q","args":[]}'), "delayed:1795404283"), WARNING, 'timestamps:{"class":"A","queue":"q","args":[]}', "remove_delayed"),
    ("failures not counted as processed", lambda r: r.set(K.failed_stat(), "10"), WARNING, "stat:processed", "less than stat:failed"),
    ("per-worker stat under host:pid", lambda r: r.set(K.processed_stat("web-1:4242"), "1"), WARNING, "stat:processed:web-1:4242", "a dead worker leaves it behind"),
    ("failures maybe left out of processed by node-resque", lambda r: (r.set(K.processed_stat(), "50"), r.set(K.failed_stat(), "3"), r.set(K.processed_stat("web-1:4242"), "47")), WARNING, "stat:processed", "counts only successes as processed"),
    ("per-worker stat of a MultiWorker", lambda r: r.set(K.failed_stat("web-1:4242+1"), "1"), WARNING, "stat:failed:web-1:4242+1", "a dead worker leaves it behind"),
    ("per-worker stat of a gone worker", lambda r: r.set(K.failed_stat("gone:1:q"), "1"), WARNING, "stat:failed:gone:1:q", "left over"),
    ("worker without heartbeat", lambda r: r.sadd(K.workers, "web-1:14:q"), WARNING, "workers", "prunes it while it runs"),
    ("node-resque ping key", lambda r: r.set(K.prefix + "worker:ping:web-1:4242", '{"time":1,"name":"web-1:4242","queues":"q"}'), NOTE, "worker:ping:web-1:4242", "node-resque's liveness key"),
    ("node-resque's scheduler lock", lambda r: r.set(K.prefix + "resque_scheduler_leader_lock", "web-1:4242", ex=60), NOTE, "resque_scheduler_leader_lock", "node-resque's scheduler leader lock"),
    ("plugin job locks", lambda r: (r.set(K.prefix + "lock:A:high:1", "1"), r.set(K.prefix + "workerslock:A:high:1", "1")), NOTE, "lock:A:high:1", "2 job lock key(s)"),
    ("payload with node's queue field", lambda r: r.rpush(K.queue("high"), '{"class":"A","queue":"high","args":[]}'), WARNING, "queue:high", "'queue' (node-resque's)"),
    ("timestamps member namespaced", lambda r: r.sadd(K.timestamps('{"class":"A","args":[],"queue":"q"}'), "resque:delayed:1"), ERROR, 'timestamps:{"class":"A","args":[],"queue":"q"}', "does not name a delayed list"),
]


@pytest.mark.parametrize("name,plant,severity,bare,fragment", PLANTS, ids=[p[0] for p in PLANTS])
def test_planted_problem_is_found(
    resque: Resque, r: redis_py.Redis, name: str, plant: Plant, severity: str, bare: str, fragment: str
) -> None:
    populate(resque, r)
    plant(r)
    problems = check(r, K)
    key = K.prefix + bare
    matching = [p for p in problems if p.key == key and fragment in p.message]
    assert matching, f"no problem on {key} mentioning {fragment!r}; got:\n{format_problems(problems)}"
    assert {p.severity for p in matching} == {severity}


def plant_everything(r: redis_py.Redis) -> None:
    for _, plant, *_ in PLANTS:
        try:
            plant(r)
        except redis_py.ResponseError:  # WRONGTYPE: an earlier plant changed the key's type
            pass


def test_errors_sort_before_warnings_and_format(resque: Resque, r: redis_py.Redis) -> None:
    populate(resque, r)
    r.rpush(K.queue("high"), "not json")
    r.hset(K.heartbeat, WID, times.heartbeat(now(r) - 1000))
    problems = check(r, K)
    assert [p.severity for p in problems] == [ERROR, WARNING]
    text = format_problems(problems)
    assert text.splitlines()[0].startswith("ERROR   resque:queue:high: item 2 is not valid JSON")
    assert text.splitlines()[1].startswith("WARNING resque:workers:heartbeat: heartbeat of 'web-1:4242:high,*' is ")
    assert text.splitlines()[-1] == "1 error, 1 warning."


def test_problem_is_a_small_frozen_value() -> None:
    p = Problem(ERROR, "resque:failed", "bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.severity = WARNING  # type: ignore[misc]
    assert p == Problem("error", "resque:failed", "bad")


def test_long_lists_are_sampled_at_both_ends(r: redis_py.Redis) -> None:
    good = codec.encode_job("A", [1])
    r.sadd(K.queues, "big")
    r.rpush(K.queue("big"), *([good] * 1000))
    r.lset(K.queue("big"), 3, "bad head")
    r.lset(K.queue("big"), 500, "bad middle")
    r.lset(K.queue("big"), 998, "bad tail")
    messages = [p.message for p in check(r, K)]
    assert any(m.startswith("item 3 ") for m in messages)
    assert any(m.startswith("item 998 ") for m in messages)
    assert not any(m.startswith("item 500 ") for m in messages)
    assert any(m.startswith("item 500 ") for m in (p.message for p in check(r, K, sample=600)))


def test_only_the_given_namespace_is_checked(r: redis_py.Redis, redis_server: str) -> None:
    other = Keys("resque:myapp")
    r.rpush(K.queue("high"), "not json")
    r.sadd(other.queues, "low")
    r.rpush(other.queue("low"), "also not json")
    mine = check(r, other)
    assert [p.key for p in mine] == [other.queue("low")]
    # The outer namespace does not mistake the nested one's keys for its own.
    assert [p.key for p in check(r, K)] == [K.queue("high"), K.queue("high")]


def test_works_with_a_decoding_client(resque: Resque, r: redis_py.Redis, redis_server: str) -> None:
    populate(resque, r)
    r.rpush(K.queue("high"), "not json")
    text_client = redis_py.Redis.from_url(redis_server, decode_responses=True)
    try:
        assert [p.message for p in check(text_client, K)] == [p.message for p in check(r, K)]
    finally:
        text_client.close()


# Neighbours and the report ------------------------------------------------------
def test_a_ping_key_is_a_worker_record_when_a_worker_on_host_ping_owns_it(r: redis_py.Redis) -> None:
    wid = "ping:77:q"
    record = '{"queue":"q","run_at":"2026-11-23T03:22:31Z","payload":{"class":"A","args":[]}}'
    r.sadd(K.workers, wid)
    r.set(K.worker_started(wid), "2026-11-23 03:22:31 +0000")
    r.hset(K.heartbeat, wid, times.heartbeat(now(r)))
    r.set(K.worker(wid), record)
    assert check(r, K) == []
    r.set(K.worker(wid), "busy")
    assert [p.message[:24] for p in check(r, K)] == ["value is not valid JSON "]


def test_neighbours_keys_are_never_taken_for_resques(r: redis_py.Redis) -> None:
    # resque-scheduler's and resque-retry's own keys (valid), and pyresque's: no findings at all.
    r.hset(K.prefix + "delayed:last_enqueued_at", "nightly", "2026-11-23 03:22:31 +0000")
    r.hset(K.prefix + "persistent_schedules", "nightly", '{"cron":"0 0 * * *","class":"Nightly","queue":"n"}')
    r.sadd(K.prefix + "schedules_changed", "nightly")
    r.set(K.prefix + "resque:resque_scheduler_master_lock", "web-1:99", ex=180)
    r.set(K.prefix + "resque-retry:Archive:1", "2")
    r.set(K.prefix + "failure-resque-retry:Archive:1", _failure(failed_at="2026/11/23 03:22:31"))
    r.set(K.reservation("web-1:4242:q"), "0123456789abcdef", ex=60)
    r.rpush(K.prefix + "pyresque:history:10s", "1700000000 1 0")
    r.set(K.prefix + "connection_test_key", "1")  # node-resque's
    assert check(r, K) == [], format_problems(check(r, K))


def test_every_finding_names_a_reader_and_a_section(resque: Resque, r: redis_py.Redis) -> None:
    populate(resque, r)
    plant_everything(r)
    problems = check(r, K)
    assert {p.severity for p in problems} == {ERROR, WARNING, NOTE}
    for p in problems:
        assert p.reader and p.section.startswith("§"), p
        assert p.severity == NOTE or p.reader != "none", p  # errors and warnings always affect a reader
    assert [p.severity for p in problems] == sorted((p.severity for p in problems), key=[ERROR, WARNING, NOTE].index)


def test_report_in_markdown_and_json(resque: Resque, r: redis_py.Redis) -> None:
    populate(resque, r)
    r.rpush(K.queue("high"), "not json")
    r.rpush(K.failed, _failure(failed_at=JS_DATE))
    problems = check(r, K)
    data = report_data(problems, "resque")
    assert data["summary"] == {"error": 1, "warning": 1, "note": 0}
    assert [(f["severity"], f["key"], f["section"]) for f in data["findings"]] == [
        ("error", "resque:queue:high", "§3"), ("warning", "resque:failed", "§5.1")]
    assert data["findings"][0]["reader"] == "Ruby worker running the job (Resque::Job)"
    json.dumps(data)
    text = format_report(problems, "resque")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Severity | Key | Ruby reader affected | SPEC | Finding |"
    assert rows[1].startswith("| error | `resque:queue:high` | Ruby worker running the job (Resque::Job) | §3 | item 2 is not valid JSON")
    assert rows[2].startswith("| warning | `resque:failed` | resque-web Failed page and Resque::Failure | §5.1 | ")
    assert "1 error, 1 warning." in text
    assert "No findings" in format_report([], "resque")


def test_cli_check_report(resque: Resque, r: redis_py.Redis, redis_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pyresque.cli import main

    r.rpush(K.failed, _failure(failed_at=JS_DATE))
    assert main(["check", "--report", "--redis", redis_server]) == 0  # warnings only: exit 0
    text = capsys.readouterr().out
    assert text.startswith("# Resque protocol conformance: namespace `resque`")
    assert "| warning | `resque:failed` |" in text
    r.rpush(K.queue("high"), "not json")
    assert main(["check", "--report", "--json", "--redis", redis_server]) != 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"error": 1, "warning": 2, "note": 0}


def test_strings_that_look_re_encoded_are_not_taken_for_a_lossy_encoder(resque: Resque, r: redis_py.Redis) -> None:
    # "1e5" and "\\/" inside a string are the job's own text; only a number
    # or an escape outside that text shows a lossy re-encode.
    populate(resque, r)
    r.set(K.worker(WID), json.dumps({"queue": "high", "run_at": "2026-11-23T03:22:31Z",
                                     "payload": {"class": "A", "args": ["see 1e5 here", "C:\\/dir"]}}))
    assert not [p for p in check(r, K) if "re-encoded" in p.message], format_problems(check(r, K))
    r.set(K.worker(WID), '{"queue":"high","run_at":"2026-11-23T03:22:31Z","payload":{"class":"A","args":[1e5]}}')
    assert [p for p in check(r, K) if "re-encoded" in p.message and "1e5" in p.message]
