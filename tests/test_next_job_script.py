"""The reserve script: atomic pop + worker record, always readable by Ruby."""

import pytest

from pyresque import payload as codec
from pyresque import times
from pyresque.keys import Keys
from pyresque.scripts import source

KEYS = Keys()
WID = "host:1:q"


def reserve(r, queues=("q",)):
    script = r.register_script(source("reserve"))
    return script(
        keys=[KEYS.pause_all, KEYS.worker(WID)] + [KEYS.queue(q) for q in queues],
        args=[codec.encode(times.run_at())] + [codec.encode(q) for q in queues],
    )


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
