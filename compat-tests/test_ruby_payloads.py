"""Payloads cross the language boundary unchanged, in both directions.

A real Ruby Resque worker performs what pyresque enqueues and receives
exactly the values sent; pyresque reads what Ruby enqueues as the same bytes
and values; ``dequeue`` matches byte-for-byte both ways. All of it under the
default namespace, a custom one and a nested one. Ruby's expectations come
from Ruby itself, fed with JSON written by Python's stdlib encoder (never by
pyresque), so our codec is never judged against itself.
"""

from __future__ import annotations

import json
import math
import random
import struct
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_py

from pyresque import Resque, payload
from pyresque.errors import InvalidArgument
from rubyside import Ruby

NAMESPACES = [pytest.param(None, id="default"), pytest.param("myapp", id="myapp"), pytest.param("resque:myapp", id="nested")]

MEGABYTE_STRING = "é😀ab" * (1024 * 1024 // 8)  # 1 MiB of UTF-8


def _nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


# (name, args). Every args list is distinct: the dequeue tests rely on it.
SHAPES: list[tuple[str, list[Any]]] = [
    ("no args", []),
    ("integers", [0, -1, 7, 2**31, 2**63, -(2**64), 2**70, 10**30]),
    ("floats", [1.0, 1e20, -0.0, 0.1, 0.0001, 1e-05, 1e15, 1e16, 123456789012345.6, 2.5, 0.30000000000000004]),
    ("float extremes", [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300, 9007199254740993.0]),
    ("null and booleans", [None, True, False]),
    ("lookalike strings", ["1", "1.0", "null", "true", "", " "]),
    ("unicode", ["é☃", "😀👍🏽", "\u2028\u2029", "日本語", "e\u0301", "\ufeffBOM", "\U0010ffff"]),
    ("escapes", ["\x00\x01\x1f\x7f", "tab\tnew\nline\r\b\f", 'quote"back\\slash/', "<script>&amp;</script>"]),
    ("nested maps and lists", [{"a": [1, {"b": [None, {"c": "d"}]}], "e": {}, "f": []}, [[[]]], {"k é": {"😀": [1.5, -0.0]}}]),
    ("map key order", [{"z": 1, "a": 2, "m": 3, "1": 4}]),
    ("many args", list(range(20)) + ["end"]),
    ("one megabyte string", [MEGABYTE_STRING]),
    ("nesting at Ruby's limit", [_nested(98)]),
]

# A few expectations spelled out, as Ruby's inspect prints them.
RUBY_INSPECT = {
    "floats": "[1.0, 1.0e+20, -0.0, 0.1, 0.0001, 1.0e-05, 1.0e+15, 1.0e+16, 123456789012345.6, 2.5, 0.30000000000000004]",
    "integers": "[0, -1, 7, 2147483648, 9223372036854775808, -18446744073709551616, 1180591620717411303424, 1000000000000000000000000000000]",
    "null and booleans": "[nil, true, false]",
    "map key order": '[{"z"=>1, "a"=>2, "m"=>3, "1"=>4}]',
    "no args": "[]",
}


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal values of equal types: 1 is not 1.0, True is not 1, -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(strictly_equal(a[k], b[k]) for k in a)
    return a == b


def stdlib_json(value: Any) -> str:
    """JSON from Python's own encoder (ASCII-escaped), independent of pyresque."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


def ruby_codec(ruby: Ruby, mode: str, *args: str, data: Any) -> Any:
    return json.loads(ruby.run("codec.rb", mode, *args, stdin=stdlib_json(data)).stdout)


@pytest.fixture(params=NAMESPACES)
def namespace(request: pytest.FixtureRequest) -> str | None:
    return request.param


@pytest.fixture
def rb(ruby_available: None, r: redis_py.Redis, redis_server: str, namespace: str | None) -> Ruby:
    return Ruby(redis_server, namespace=namespace)


@pytest.fixture
def py(r: redis_py.Redis, redis_server: str, registry: Any, namespace: str | None) -> Resque:
    return Resque(redis_server, namespace=namespace or "resque", registry=registry)


def prefix(namespace: str | None) -> str:
    return (namespace or "resque") + ":"


def test_ruby_worker_performs_python_payloads_with_exact_values(rb, py, r, ruby_results, namespace):
    shape_args = [args for _, args in SHAPES]
    for args in shape_args:
        assert py.enqueue_to("record", "Recorder", *args) is True

    reference = ruby_codec(rb, "reference", "Recorder", data=shape_args)
    written = r.lrange(prefix(namespace) + "queue:record", 0, -1)
    assert r.smembers(prefix(namespace) + "queues") == {b"record"}
    assert len(written) == len(SHAPES)
    for (name, _), raw, ref in zip(SHAPES, written, reference):
        assert raw == ref["encoded"].encode("utf-8"), name

    rb.work("record")
    results = ruby_results()
    assert [res["class"] for res in results] == ["Recorder"] * len(SHAPES)
    for (name, args), res, ref in zip(SHAPES, results, reference):
        assert strictly_equal(json.loads(json.dumps(res["args"])), args), name
        assert res["inspect"] == ref["inspect"], name
        if name in RUBY_INSPECT:
            assert res["inspect"] == RUBY_INSPECT[name]
    assert py.size("record") == 0


def test_python_reads_ruby_payloads_as_identical_bytes_and_values(rb, py, r, namespace):
    shape_args = [args for _, args in SHAPES]
    rows = ruby_codec(rb, "reference", "Recorder", "from_ruby", data=shape_args)

    assert py.queues() == ["from_ruby"]
    assert py.size("from_ruby") == len(SHAPES)
    peeked = py.peek("from_ruby", 0, len(SHAPES))
    for (name, args), row, seen in zip(SHAPES, rows, peeked):
        assert row["pushed"] == payload.encode_job("Recorder", args), name
        assert list(seen) == ["class", "args"] and seen["class"] == "Recorder"
        assert strictly_equal(seen["args"], args), name

    for (name, args), row in zip(SHAPES, rows):
        job = py.reserve("from_ruby")
        assert job is not None and job.queue == "from_ruby"
        assert job.raw == row["pushed"], name
        assert job.class_name == "Recorder"
        assert strictly_equal(job.args, args), name
        assert job.payload.encode() == row["pushed"], name
    assert py.reserve("from_ruby") is None
    assert all(k.startswith(prefix(namespace).encode()) for k in r.keys("*"))


DISTRACTORS = [("Recorder", [999, "keep me"]), ("Mailers::Welcome", [1, "two"]), ("Recorder", [1, "two", 3])]


def _dequeue_shapes() -> list[list[Any]]:
    # Without args, Resque.dequeue removes every job of the class, so leave "no args" out.
    return [args for name, args in SHAPES if args and name != "one megabyte string"] + [[1, "two"]]


def _queue_contents(r: redis_py.Redis, namespace: str | None) -> list[bytes]:
    return r.lrange(prefix(namespace) + "queue:record", 0, -1)


def test_ruby_dequeue_removes_python_enqueued_jobs(rb, py, r, namespace):
    shapes = _dequeue_shapes()
    for klass, args in DISTRACTORS:
        py.enqueue_to("record", klass, *args)
    for args in shapes:
        py.enqueue_to("record", "Recorder", *args)
    counts = ruby_codec(rb, "dequeue", "Recorder", data=shapes)
    assert counts == [1] * len(shapes)
    assert _queue_contents(r, namespace) == [payload.encode_job(k, a).encode() for k, a in DISTRACTORS]


def test_python_dequeue_removes_ruby_enqueued_jobs(rb, py, r, namespace):
    shapes = _dequeue_shapes()
    ruby_codec(rb, "reference", "Recorder", "record", data=shapes)
    for klass, args in DISTRACTORS:
        py.enqueue_to("record", klass, *args)
    for args in shapes:
        assert py.dequeue("Recorder", *args, queue="record") == 1
    assert _queue_contents(r, namespace) == [payload.encode_job(k, a).encode() for k, a in DISTRACTORS]
    # Without args every Recorder job goes, whoever wrote it; other classes stay.
    ruby_codec(rb, "reference", "Recorder", "record", data=[[1], [2]])
    assert py.dequeue("Recorder", queue="record") == 4
    assert _queue_contents(r, namespace) == [payload.encode_job("Mailers::Welcome", [1, "two"]).encode()]


def _fuzz_floats() -> list[float]:
    rng = random.Random(20261123)
    values: list[float] = []
    while len(values) < 12000:  # random bit patterns: every exponent, every sign
        (value,) = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))
        if math.isfinite(value):
            values.append(value)
    for _ in range(4000):  # everyday magnitudes, where the decimal/exponent switch happens
        values.append(rng.uniform(-1, 1) * 10 ** rng.randint(-8, 22))
    for k in range(-325, 309):  # powers of ten and their neighbours
        base = float(f"1e{k}")
        values += [base, math.nextafter(base, math.inf), math.nextafter(base, 0.0), -base]
    for k in range(-1074, 1024, 7):
        values.append(math.ldexp(1.0, k))
    for k in range(1, 18):  # integers with k digits, near the 1e15/1e16 switch
        values += [float(10**k - 1), float(int("1" * k)), float(10**k + 1), 10**k - 0.5]
    return values + [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308]


def test_float_format_fuzz_against_ruby(ruby):
    values = _fuzz_floats()
    bits = [struct.pack(">d", v).hex() for v in values]
    ours = [payload.format_float(v) for v in values]
    answers = ruby_codec(ruby, "floats", data=[list(pair) for pair in zip(bits, ours)])
    assert len(answers) == len(values) > 17000
    mismatched = [(v, mine, theirs) for v, mine, (theirs, _) in zip(values, ours, answers) if mine != theirs]
    assert mismatched == []
    misread = [(v, mine) for v, mine, h, (_, back) in zip(values, ours, bits, answers) if back != h]
    assert misread == []


def test_nesting_limit_is_rubys(ruby):
    at_limit = payload.encode_job("Recorder", [_nested(98)])
    maps: Any = 1
    for _ in range(98):
        maps = {"k": maps}
    maps_at_limit = payload.encode_job("Recorder", [maps])
    with pytest.raises(InvalidArgument):
        payload.encode_job("Recorder", [_nested(99)])
    with pytest.raises(InvalidArgument):
        payload.encode_job("Recorder", [{"k": maps}])
    # What we refuse to write, Ruby refuses to read: the same payloads one level deeper.
    past_limit = at_limit.replace('"args":[', '"args":[[', 1)[:-1] + "]}"
    maps_past_limit = maps_at_limit.replace('"args":[', '"args":[{"x":', 1)[:-2] + "}]}"
    assert json.loads(past_limit)["args"][0][0] == _nested(98)
    assert json.loads(maps_past_limit)["args"][0]["x"] == maps
    verdicts = ruby_codec(ruby, "decode", data=[at_limit, maps_at_limit, past_limit, maps_past_limit])
    assert [v["ok"] for v in verdicts] == [True, True, False, False]


def test_decode_agrees_with_ruby_on_what_is_a_payload(ruby):
    big = "9" * 5000
    texts = {
        '{"class":"A","args":["\\u003cb\\u003e\\u0026\\u2028"]}': True,
        '{"class":"A","args":["\\ud83d\\ude00"]}': True,
        f'{{"class":"A","args":[{big}]}}': True,
        '{"class":"A","args":[1],"id":"x"}': True,
        '{"class":"A","args":[NaN]}': False,
        '{"class":"A","args":[Infinity]}': False,
        '{"class":"A","args":["\\ud800"]}': False,
        '{"class":"A","args":[1,]}': False,
        "{'class':'A'}": False,
    }
    verdicts = ruby_codec(ruby, "decode", data=list(texts))
    assert [v["ok"] for v in verdicts] == list(texts.values())
    assert verdicts[0]["inspect"] == '{"class"=>"A", "args"=>["<b>&\\u2028"]}'
    for (text, ok), verdict in zip(texts.items(), verdicts):
        if ok:
            job = payload.decode_job(text)
            assert job.args == json.loads(text, parse_int=lambda digits: int(Decimal(digits)))["args"]
            assert payload.decode_job(job.encode()) == job
            assert verdict["inspect"].startswith('{"class"=>"A", "args"=>[')
        else:
            with pytest.raises(Exception):
                payload.decode_job(text)
