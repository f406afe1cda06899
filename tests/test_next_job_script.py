"""The next_job script: record the last job and reserve the next, atomically."""

import pytest

from pyresque import payload as codec
from pyresque import workers
from pyresque import times
from pyresque.keys import Keys
from pyresque.scripts import source

KEYS = Keys()
WID = "host:1:q"


def next_job(r, queues=("q",), finish="", record="", counts="", failed_list=None, member="", reservation="r1",
             requeue="", requeue_to="q", payload=""):
    """One call: ``finish`` is the reservation id of the job to finish ("" for none)."""
    script = r.register_script(source("next_job"))
    return script(
        keys=[KEYS.processed_stat(), KEYS.processed_stat(WID), KEYS.failed_stat(), KEYS.failed_stat(WID),
              failed_list or KEYS.failed, KEYS.failed_queues, KEYS.pause_all, KEYS.worker(WID),
              KEYS.reservation(WID), KEYS.queue(requeue_to)]
        + [KEYS.queue(q) for q in queues],
        args=[finish, record, counts, member, codec.encode(times.run_at()), reservation, requeue, payload]
        + [codec.encode(q) for q in queues],
    )


def reserve(r, queues=("q",), reservation="r1"):
    return next_job(r, queues, reservation=reservation)


def lenient_numbers(r) -> bytes:
    return r.eval("return tostring(cjson.decode_invalid_numbers())", 0)


def test_pops_in_priority_order_and_records_the_job_in_one_step(r):
    r.rpush(KEYS.queue("low"), '{"class":"L","args":[]}')
    r.rpush(KEYS.queue("high"), '{"class":"H","args":[1]}')
    position, raw = reserve(r, ("high", "low"))
    assert (position, raw) == (1, b'{"class":"H","args":[1]}')
    record = codec.decode(r.get(KEYS.worker(WID)))
    assert list(record) == ["queue", "run_at", "payload"], "exactly Ruby's record"
    assert r.get(KEYS.reservation(WID)) == b"r1"
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
    assert next_job(r, finish="r1", record=record, counts="1", reservation="r2")[1] == b'{"class":"B","args":[2]}'
    assert r.lrange(KEYS.failed, 0, -1) == [record.encode()]
    assert [r.get(k) for k in (KEYS.processed_stat(), KEYS.processed_stat(WID), KEYS.failed_stat(), KEYS.failed_stat(WID))] == [b"1"] * 4
    assert codec.decode(r.get(KEYS.worker(WID)))["payload"]["class"] == "B"
    # Finishing alone (no queues) leaves the worker idle and counts a success.
    assert next_job(r, queues=(), finish="r2") is None
    assert r.get(KEYS.worker(WID)) is None
    assert r.get(KEYS.processed_stat()) == b"2" and r.get(KEYS.failed_stat()) == b"1"


def test_a_failure_not_raised_by_the_job_is_recorded_but_not_counted_failed(r):
    next_job(r, queues=(), finish="r1", record="{}", counts="")
    assert r.llen(KEYS.failed) == 1 and r.get(KEYS.failed_stat()) is None
    assert r.get(KEYS.processed_stat()) == b"1"


def test_the_multi_queue_backend_names_its_list_in_failed_queues(r):
    next_job(r, queues=(), finish="r1", record="{}", counts="1",
             failed_list=KEYS.failed_list("q_failed"), member="q_failed")
    assert r.smembers(KEYS.failed_queues) == {b"q_failed"}
    assert r.llen(KEYS.failed_list("q_failed")) == 1 and r.llen(KEYS.failed) == 0


# A lost reply ----------------------------------------------------------------
# Redis ran the script but the reply never arrived (a restart, a network cut,
# a failover): the worker repeats the very same call. Nothing may be counted
# twice, and the job the lost reply carried must not vanish.
def stats(r):
    return [int(r.get(k) or 0) for k in (KEYS.processed_stat(), KEYS.failed_stat())]


def test_a_repeated_finish_and_reserve_hands_back_the_job_already_reserved(r):
    r.rpush(KEYS.queue("q"), '{"class":"A","args":[1]}', '{"class":"B","args":[2]}', '{"class":"C","args":[3]}')
    reserve(r, reservation="r1")
    record = '{"failed_at":"x","payload":{"class":"A","args":[1]}}'
    first = next_job(r, finish="r1", record=record, counts="1", reservation="r2")
    assert first[1] == b'{"class":"B","args":[2]}'
    again = next_job(r, finish="r1", record=record, counts="1", reservation="r3")  # the reply was lost
    assert again[0] == 0, "the repeat hands back the record of the job reserved by the lost call"
    held = workers.parse_reservation(again[1], again[2].decode())
    assert (held.id, held.queue, held.raw) == ("r2", "q", b'{"class":"B","args":[2]}')
    assert stats(r) == [1, 1] and r.llen(KEYS.failed) == 1, "the first job is recorded once"
    assert r.lrange(KEYS.queue("q"), 0, -1) == [b'{"class":"C","args":[3]}'], "C is not popped"


def test_an_idle_poll_reads_the_record_the_pause_key_and_the_queues_only(r):
    r.config_resetstat()
    assert reserve(r, ("a", "b")) is None
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in r.info("commandstats").items()}
    assert (calls.get("get"), calls.get("lpop")) == (2, 2), calls


def test_a_repeated_finish_without_a_next_job_counts_once(r):
    r.rpush(KEYS.queue("q"), '{"class":"A","args":[1]}')
    reserve(r, reservation="r1")
    assert next_job(r, finish="r1", reservation="r2") is None  # queue empty now
    assert next_job(r, finish="r1", reservation="r3") is None  # the reply was lost
    assert stats(r) == [1, 0]
    assert r.get(KEYS.worker(WID)) is None
    assert r.ttl(KEYS.reservation(WID)) > 0, "the marker expires by itself"


def test_a_record_lost_with_redis_data_is_still_finished(r):
    # Redis restarted without persistence mid-job: the record is gone, and
    # the job's outcome must still be written.
    next_job(r, queues=(), finish="r7", record='{"failed_at":"x"}', counts="1")
    assert stats(r) == [1, 1] and r.llen(KEYS.failed) == 1


@pytest.mark.parametrize("raw", [
    b'{"class":"A","args":["\\/ \xc3\xa9",1.50,{"b":1,"a":2}]}', b"not json", b'"a string"', b"[1,2]",
    b'{"class":"A","args":[],"queue":"x"}  ',
])
def test_a_reservation_record_gives_back_the_payload_byte_for_byte(r, raw):
    r.rpush(KEYS.queue("odd:q \u00e9"), raw)
    reserve(r, queues=("odd:q \u00e9",), reservation="0123abcd00000001")
    held = workers.parse_reservation(r.get(KEYS.worker(WID)), "0123abcd00000001")
    assert (held.id, held.queue, held.raw) == ("0123abcd00000001", "odd:q \u00e9", raw)


def test_release_puts_the_job_back_at_the_head_once(r):
    r.rpush(KEYS.queue("q"), '{"class":"A","args":[1]}', '{"class":"B","args":[2]}')
    reserve(r, reservation="r1")
    held = workers.parse_reservation(r.get(KEYS.worker(WID)), "r1")
    assert workers.release(r, KEYS, WID, held) is True
    assert workers.release(r, KEYS, WID, held) is False, "a second release finds nothing to put back"
    assert r.lrange(KEYS.queue("q"), 0, -1) == [b'{"class":"A","args":[1]}', b'{"class":"B","args":[2]}']
    assert r.get(KEYS.worker(WID)) is None


def test_a_record_whose_reservation_marker_expired_is_taken_on_once(r):
    r.set(KEYS.worker(WID), '{"queue":"q","run_at":"2026-01-01T00:00:00Z","payload":{"class":"A","args":[]}}')
    first = reserve(r, reservation="r9")
    assert first[0] == 0 and first[2] == b"r9"
    assert next_job(r, queues=(), finish="r9") is None, "finishing it clears it"
    assert r.get(KEYS.worker(WID)) is None and stats(r) == [1, 0]


@pytest.mark.parametrize("where, expected", [("head", [b"A", b"B"]), ("tail", [b"B", b"A"])])
def test_a_job_put_back_is_not_counted_and_lands_once(r, where, expected):
    r.rpush(KEYS.queue("q"), "A", "B")
    reserve(r, queues=("q",), reservation="r1")  # takes A
    assert next_job(r, queues=(), finish="r1", requeue=where, payload="A") is None
    assert next_job(r, queues=(), finish="r1", requeue=where, payload="A") is None  # a lost reply, repeated
    assert r.lrange(KEYS.queue("q"), 0, -1) == expected
    assert stats(r) == [0, 0] and r.get(KEYS.worker(WID)) is None
