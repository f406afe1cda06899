"""Failure records keep what a retry needs, and what a reader needs to see.

* A payload that does not survive being written again (a number that reads
  as infinity, nesting past Ruby's limit inside the record) is kept as
  queued, in ``raw_payload``, and retried byte for byte.
* Bytes that are not UTF-8 are kept exactly (``raw_payload_base64``) and
  retried exactly.
* Chained exceptions appear in the backtrace; the worker logs the whole
  Python traceback.
* Hostile records already in Redis never crash the failure commands.

All against a real redis-server, through a real worker where a worker
writes the record. Ruby's side of the same records (what resque-web shows,
what its Retry does) is in compat-tests/test_ruby_web_failures.py.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from pyresque import failure, payload
from pyresque.check import schema_errors
from pyresque.errors import FailureNotFound
from pyresque.worker import Worker

FIELDS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]


def records(r, key="resque:failed"):
    return [json.loads(x) for x in r.lrange(key, 0, -1)]


def nested(levels: int, leaf: bytes = b"") -> bytes:
    return b"[" * levels + leaf + b"]" * levels


def assert_ruby_can_read(rec: dict) -> None:
    assert schema_errors("failure-record", rec) == [], rec
    assert payload.nesting_depth(rec) <= payload.MAX_NESTING, "Ruby's parser refuses deeper records"


# Payloads that do not survive being written again ------------------------------------
# (raw, whether the record can show the payload itself)
UNFAITHFUL = [
    (b'{"class":"Bad","args":[1e400, -1e400]}', False),           # reads as +-infinity
    (b'{"class":"Bad","args":[1' + b"0" * 400 + b'.0]}', False),    # so does this
    (b'{"class":"Bad","args":[' + nested(98) + b"]}", False),      # at Ruby's limit; the record is one deeper
    (b'{"class":"Bad","args":[' + nested(400, b"1") + b"]}", False),
    (b'{"class":"Unregistered","args":[1e400]}', False),
    (b'{"class":"Bad","args":[' + nested(97) + b"]}", True),       # the record is exactly at Ruby's limit
    (b'{"class":"Bad","args":[1e300,"1e400"]}', True),
]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_payload_that_cannot_be_written_again_is_kept_as_queued_and_retried_exactly(r, resque, registry, fork):
    @registry.register
    def Bad(*args):
        raise ValueError("bad")

    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", *(raw for raw, _ in UNFAITHFUL))
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail").work()
    recs = records(r)
    assert len(recs) == len(UNFAITHFUL)
    for (raw, shown), rec in zip(UNFAITHFUL, recs):
        assert_ruby_can_read(rec)
        assert list(rec)[:7] == FIELDS
        if shown:
            assert rec["payload"] == json.loads(raw) and "raw_payload" not in rec
        else:
            assert rec["payload"] is None and rec["raw_payload"].encode() == raw, raw[:80]
        assert "raw_payload_base64" not in rec
    assert [rec["exception"] for rec in recs].count("pyresque.UnknownJob") == 1

    assert resque.failures.requeue_all() == len(UNFAITHFUL)
    # As in Ruby, a record showing its payload is retried from class and args.
    assert r.lrange("resque:queue:q", 0, -1) == [
        payload.decode_job(raw).encode().encode() if shown else raw for raw, shown in UNFAITHFUL]
    assert r.lindex("resque:queue:q", -1) == b'{"class":"Bad","args":[1.0e+300,"1e400"]}'
    # Stamping retried_at keeps each record as it was.
    for before, after in zip(recs, records(r)):
        assert after.pop("retried_at") and after == before


def test_the_worker_process_hands_the_queued_bytes_on_unchanged(r, resque, registry):
    # A payload Ruby enqueued with odd spacing and escapes: the record of its
    # failure keeps it when writing it again would not give the same job.
    raw = b'{ "class" : "Bad" , "args" : [ 1e999 , "\\u00e9\xc3\xa9" ] , "id" : "x" }'

    @registry.register
    def Bad(*args):
        raise ValueError("bad")

    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", raw)
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=True, unknown_jobs="fail").work()
    [rec] = records(r)
    assert rec["raw_payload"].encode() == raw
    resque.failures.requeue(0)
    assert r.lrange("resque:queue:q", 0, -1) == [raw]


# Bytes that are not UTF-8 ---------------------------------------------------------------
NOT_UTF8 = [
    b'{"class":"Ok","args":["caf\xe9"]}',          # Latin-1
    b'{"class":"Ok","args":["\xed\xa0\x80"]}',     # an encoded surrogate
    b'{"class":"Ok","args":["\xe2\x82"]}',         # a truncated sequence
    b"\xff\xfe{}",
    b'{"class":"Ok","args":["\xc0\xaf"]',          # overlong, and truncated JSON
]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_bytes_that_are_not_utf8_are_kept_exactly_and_retried_exactly(r, resque, registry, fork):
    registry.register(lambda *a: r.rpush("t:ran", json.dumps(a)), name="Ok")
    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", *NOT_UTF8, b'{"class":"Ok","args":{"valid":"utf-8"}}')
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail").work()
    assert r.llen("t:ran") == 0
    recs = records(r)
    for raw, rec in zip(NOT_UTF8, recs):
        assert_ruby_can_read(rec)
        assert rec["exception"] == "pyresque.MalformedPayload"
        assert base64.b64decode(rec["raw_payload_base64"]) == raw
        assert rec["raw_payload"] == raw.decode("utf-8", "replace")
        # A payload decoded with replacements is not the job that was queued:
        # resque-web's Retry must not push it.
        assert rec["payload"] is None
    valid = recs[-1]
    assert "raw_payload_base64" not in valid and valid["payload"] == {"class": "Ok", "args": {"valid": "utf-8"}}

    assert resque.failures.requeue_all() == len(NOT_UTF8) + 1
    assert r.lrange("resque:queue:q", 0, -1) == [*NOT_UTF8, b'{"class":"Ok","args":{"valid":"utf-8"}}']
    assert all(base64.b64decode(rec["raw_payload_base64"]) == raw for raw, rec in zip(NOT_UTF8, records(r)))


# Backtraces ---------------------------------------------------------------------------------
def _lookup(table, key):
    return table[key]


def _raise_chained():
    try:
        _lookup({}, "x")
    except KeyError as exc:
        raise RuntimeError("no x") from exc


def _raise_while_handling():
    try:
        _lookup({}, "y")
    except KeyError:
        int("not a number")


def _raise_suppressed():
    try:
        _lookup({}, "z")
    except KeyError:
        raise RuntimeError("no z") from None


def _backtrace_of(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return failure.job_backtrace(exc)
    raise AssertionError("did not raise")


def test_chained_exceptions_follow_the_outer_frames_in_rubys_form():
    lines = _backtrace_of(_raise_chained)
    cause = lines.index("Caused by KeyError: 'x'")
    assert cause > 0
    assert lines[0].endswith(":in `_raise_chained'") and __file__ in lines[0]
    # The cause's own frames, innermost first, after the line that names it.
    assert [line.rsplit(":in ", 1)[1] for line in lines[cause + 1:]] == ["`_lookup'", "`_raise_chained'"]
    assert all(line.startswith(__file__ + ":") for line in lines if not line.startswith("Caused by"))

    lines = _backtrace_of(_raise_while_handling)
    assert "Raised while handling KeyError: 'y'" in lines
    assert lines[0].endswith(":in `_raise_while_handling'")

    lines = _backtrace_of(_raise_suppressed)
    assert not any("KeyError" in line for line in lines)


def test_a_chain_that_loops_ends():
    a, b = ValueError("a"), KeyError("b")
    a.__cause__, b.__cause__ = b, a
    assert failure.job_backtrace(a) == ["Caused by KeyError: 'b'"]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_failed_job_keeps_its_chain_and_the_worker_logs_the_python_traceback(r, resque, registry, fork, caplog):
    registry.register(lambda: _raise_chained(), name="Chained")
    resque.enqueue_to("q", "Chained")
    with caplog.at_level(logging.WARNING):
        Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=fork, unknown_jobs="fail").work()
    [rec] = records(r)
    assert (rec["exception"], rec["error"]) == ("RuntimeError", "no x")
    assert "Caused by KeyError: 'x'" in rec["backtrace"]
    assert not any("/pyresque/" in line for line in rec["backtrace"])
    if not fork:  # a forked child logs to the worker's stderr, which caplog does not see
        [logged] = [x for x in caplog.records if x.exc_info and x.exc_info[1] is not None]
        assert logged.levelno >= logging.WARNING
        text = caplog.text
        assert "Traceback (most recent call last)" in text
        assert "KeyError: 'x'" in text and "direct cause of the following exception" in text
        assert "RuntimeError: no x" in text


# Records that resist being written --------------------------------------------------------
class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")


def test_encode_record_always_writes_a_record_ruby_can_read():
    try:
        raise Unprintable()
    except Unprintable as exc:
        rec = failure.record_for_exception({"class": "A", "args": [1]}, exc, "h:1:q", "q")
    assert rec["error"] == f"<unprintable {__name__}.Unprintable>"
    assert_ruby_can_read(json.loads(failure.encode_record(rec)))

    # Values no queue can hold (a Python set): the rest of the record is kept.
    odd = failure.record({"class": "A", "args": [{1, 2}]}, "X", "lone \ud800 surrogate", ["f\udcffile.py:1:in `x'"],
                         "h:1:q", "q")
    written = json.loads(failure.encode_record(odd))
    assert list(written) == FIELDS + ["failure_id"] and written["payload"] is None
    assert written["error"] == "lone \\ud800 surrogate" and written["backtrace"] == ["f\\udcffile.py:1:in `x'"]

    # A payload too deep for a record, with nothing queued to fall back on
    # (a dead worker's job, say): written out in raw_payload, retried from there.
    deep = {"class": "A", "args": json.loads(nested(150))}
    written = json.loads(failure.encode_record(failure.record(deep, "X", "e", [], "h:1:q", "q")))
    assert_ruby_can_read(written)
    assert written["payload"] is None and json.loads(written["raw_payload"]) == deep


def test_failure_commands_survive_hostile_records(r, resque):
    ok = failure.encode_record(failure.record({"class": "A", "args": [1]}, "X", "e", [], "h:1:q", "q"))
    hostile = [
        b"[" * 100_000,
        b'{"failed_at":' + b"[" * 100_000,
        b'{"payload":' + nested(600) + b"}",
        b"\xff not json",
        b'{"payload":null,"queue":"q","raw_payload":"x","raw_payload_base64":"not base64!"}',
        b'{"payload":{"class":"A","args":[1e400]},"queue":"q"}',
        b'{"payload":null,"queue":"q"}',
        ok.encode(),
    ]
    r.rpush("resque:failed", *hostile)
    failures = resque.failures
    listed = failures.all(start=0, count=100)
    assert [f.data is None for f in listed] == [True, True, True, True, False, False, False, False]
    assert [f.raw.encode() for f in listed[:3]] == hostile[:3]
    for index in range(len(hostile) - 1):
        failures.get(index)
        with pytest.raises(FailureNotFound):
            failures.requeue(index)
    assert r.lrange("resque:failed", 0, -1) == hostile, "a refused retry changes nothing"
    failures.requeue(len(hostile) - 1)
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"A","args":[1]}']


def test_records_carry_a_failure_id_after_queue_as_resque_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import uuid as uuid_mod

    a = failure.record({"class": "A", "args": []}, "E", "x", [], "h:1:q", "q")
    b = failure.record({"class": "A", "args": []}, "E", "x", [], "h:1:q", "q", raw_payload="raw")
    assert list(a) == FIELDS + ["failure_id"]
    assert list(b) == FIELDS + ["failure_id", "raw_payload"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a["failure_id"])
    assert a["failure_id"] != b["failure_id"] and uuid_mod.UUID(a["failure_id"]).version == 4
    # A given id wins; turned off (Resque::Failure.generate_failure_ids = false) there is none.
    assert failure.record(None, "E", "x", [], "h:1:q", "q", failure_id="given")["failure_id"] == "given"
    monkeypatch.setattr(failure, "generate_failure_ids", False)
    assert list(failure.record(None, "E", "x", [], "h:1:q", "q")) == FIELDS


def test_the_last_resort_summary_keeps_the_failure_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # When nothing else of a record can be written, its summary still names
    # the failure as Resque 3.2 does, so resque-web 3.2's actions can find it.
    def unwritable(data):
        raise RuntimeError("cannot")

    monkeypatch.setattr(failure, "_readable", unwritable)
    data = {"failed_at": "2026/12/02 10:00:00 UTC", "payload": {"class": "A", "args": [float("nan")]},
            "exception": "E", "error": "m", "backtrace": ["x"], "worker": "h:1:q", "queue": "q",
            "failure_id": "0b6a3c4e-0000-4000-8000-000000000000"}
    record = json.loads(failure.encode_record(data))
    assert list(record) == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue", "failure_id"]
    assert record["failure_id"] == data["failure_id"] and record["payload"] is None
