"""The next_job script: record the last job and reserve the next, atomically."""

import pytest

from pyresque import payload as codec
from pyresque import times
from pyresque.keys import Keys
from pyresque.scripts import source

KEYS = Keys()
WID = "host:1:q"


def next_job(r, queues=("q",), finish=False, record="", counts="", failed_list=None, member=""):
    script = r.register_script(source("next_job"))
    return script(
        keys=[KEYS.processed_stat(), KEYS.processed_stat(WID), KEYS.failed_stat(), KEYS.failed_stat(WID),
              failed_list or KEYS.failed, KEYS.failed_queues, KEYS.pause_all, KEYS.worker(WID)]
        + [KEYS.queue(q) for q in queues],
        args=["1" if finish else "", record, counts, member, codec.encode(times.run_at())]
        + [codec.encode(q) for q in queues],
    )


def reserve(r, queues=("q",)):
    return next_job(r, queues)


def lenient_numbers(r) -> bytes:
    return r.eval("return tostring(cjson.decode_invalid_numbers())", 0)


def test_pops_in_priority_order_and_records_the_job_in_one_step(r):
    r.rpush(KEYS.queue("low"), '{"class":"L","args":[]}')
    r.rpush(KEYS.queue("high"), '{"class":"H","args":[1]}')
    position, raw = reserve(r, ("high", "low"))
    assert (position, raw) == (1, b'{"class":"H","args":[1]}')
    record = codec.decode(r.get(KEYS.worker(WID)))
    assert list(record) == ["queue", "run_at", "payload"]
    assert record["queue"] == "high" and record["payload"] == {"class": "H", "args": [1]}
    assert r.llen(KEYS.queue("high")) == 0


@pytest.mark.parametrize("raw", [
    '{"class":"A","args":[NaN]}', '{"class":"A","args":[Infinity]}', '{"class":"A","args":[0x10]}',
    "not json", "[1,2]", '"a string"',
])
def test_a_payload_ruby_cannot_parse_is_kept_as_a_string_in_the_worker_record(r, raw):
    before = lenient_numbers(r)
    r.rpush(KEYS.queue("q"), raw)
    assert reserve(r)[1] == raw.encode()
    # Ruby's Resque.working and resque-web parse this record: it must stay strict JSON.
    assert codec.decode(r.get(KEYS.worker(WID)))["payload"] == raw
    # The script borrows cjson's server-wide setting and puts it back.
    assert lenient_numbers(r) == before


def test_pause_all_workers_is_honoured_before_popping(r):
    r.rpush(KEYS.queue("q"), '{"class":"A","args":[]}')
    r.set(KEYS.pause_all, " TRUE ")
    assert reserve(r) == b"paused"
    assert r.llen(KEYS.queue("q")) == 1 and r.get(KEYS.worker(WID)) is None


def test_finishing_records_stats_and_clears_the_worker_in_the_same_call_that_reserves(r):
    r.rpush(KEYS.queue("q"), '{"class":"A","args":[1]}', '{"class":"B","args":[2]}')
    reserve(r)
    record = '{"failed_at":"2026/11/23 04:00:00 UTC","payload":{"class":"A","args":[1]}}'
    assert next_job(r, finish=True, record=record, counts="1")[1] == b'{"class":"B","args":[2]}'
    assert r.lrange(KEYS.failed, 0, -1) == [record.encode()]
    assert [r.get(k) for k in (KEYS.processed_stat(), KEYS.processed_stat(WID), KEYS.failed_stat(), KEYS.failed_stat(WID))] == [b"1"] * 4
    assert codec.decode(r.get(KEYS.worker(WID)))["payload"]["class"] == "B"
    # Finishing alone (no queues) leaves the worker idle and counts a success.
    assert next_job(r, queues=(), finish=True) is None
    assert r.get(KEYS.worker(WID)) is None
    assert r.get(KEYS.processed_stat()) == b"2" and r.get(KEYS.failed_stat()) == b"1"


def test_a_failure_not_raised_by_the_job_is_recorded_but_not_counted_failed(r):
    next_job(r, queues=(), finish=True, record="{}", counts="")
    assert r.llen(KEYS.failed) == 1 and r.get(KEYS.failed_stat()) is None
    assert r.get(KEYS.processed_stat()) == b"1"


def test_the_multi_queue_backend_names_its_list_in_failed_queues(r):
    next_job(r, queues=(), finish=True, record="{}", counts="1",
             failed_list=KEYS.failed_list("q_failed"), member="q_failed")
    assert r.smembers(KEYS.failed_queues) == {b"q_failed"}
    assert r.llen(KEYS.failed_list("q_failed")) == 1 and r.llen(KEYS.failed) == 0
