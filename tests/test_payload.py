"""The payload codec: every encoding rule, every refusal, tolerant decoding.

Byte expectations come from Ruby: protocol/vectors/payloads.json was written
by Ruby Resque 3.0.3 (json 2.6.1), and the literals below are what
``Resque.encode`` prints for the same values (the compat tests re-check them
against a live Ruby).
"""

from __future__ import annotations

import enum
import json
import math
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pyresque import payload
from pyresque.errors import InvalidArgument, MalformedPayload

VECTORS = Path(__file__).resolve().parent.parent / "protocol" / "vectors" / "payloads.json"


def _from_vector(value: Any) -> Any:
    """A vector input as Python values: ``{"$float", "$hex"}`` becomes the exact float."""
    if isinstance(value, dict):
        if set(value) == {"$float", "$hex"}:
            special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
            return special.get(value["$hex"]) if value["$hex"] in special else float.fromhex(value["$hex"])
        return {k: _from_vector(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_vector(v) for v in value]
    return value


def _vector_cases() -> list[Any]:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    return [pytest.param(c, id=c["name"]) for c in cases]


@pytest.mark.parametrize("case", _vector_cases())
def test_matches_ruby_vector(case: dict[str, Any]) -> None:
    args = _from_vector(case["args"])
    if case.get("error"):
        with pytest.raises(InvalidArgument) as info:
            payload.encode_job(case["class"], args)
        assert info.value.path.startswith("args")
    else:
        text = payload.encode_job(case["class"], args)
        assert text.encode("utf-8").hex() == case["expected_utf8_hex"]


@pytest.mark.parametrize(
    ("value", "ruby"),
    [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1e20, "1.0e+20"),
        (0.0001, "0.0001"),
        (1e-05, "1.0e-05"),
        (0.1, "0.1"),
        (1e15, "1.0e+15"),
        (1e16, "1.0e+16"),
        (123456789012345.0, "123456789012345.0"),
        (1234567890123456.0, "1.234567890123456e+15"),
        (100000000000.0, "100000000000.0"),
        (2.5e-07, "2.5e-07"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5.0e-324"),
        (-1.5, "-1.5"),
    ],
)
def test_format_float_is_ruby_float_to_s(value: float, ruby: str) -> None:
    assert payload.format_float(value) == ruby
    assert payload.encode(value) == ruby


def test_payload_shape_and_compact_separators() -> None:
    text = payload.encode_job("Mailers::Welcome", (1, "two", {"a": [None, True, False]}, []))
    assert text == '{"class":"Mailers::Welcome","args":[1,"two",{"a":[null,true,false]},[]]}'
    assert payload.encode_job("NoArgs", []) == '{"class":"NoArgs","args":[]}'


def test_strings_stay_raw_utf8_with_json_gem_escapes() -> None:
    text = payload.encode(["é☃😀", "\u2028\u2029", "a/b\x7f", 'q"\\', "\b\f\n\r\t", "\x00\x01\x1f", "<&>"])
    assert text == (
        '["é☃😀","\u2028\u2029","a/b\x7f","q\\"\\\\",'
        '"\\b\\f\\n\\r\\t","\\u0000\\u0001\\u001f","<&>"]'
    )


def test_map_keys_keep_insertion_order() -> None:
    assert payload.encode({"b": 1, "a": 2, "é": 3}) == '{"b":1,"a":2,"é":3}'


def test_bools_and_int_subclasses() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert payload.encode([True, False, 0, 1, Level.HIGH]) == "[true,false,0,1,3]"


def test_big_integers_beyond_pythons_digit_limit() -> None:
    huge = -(10 ** (sys.get_int_max_str_digits() + 700)) - 7
    assert payload.encode([2**70, -(2**64)]) == "[1180591620717411303424,-18446744073709551616]"
    text = payload.encode_job("Big", [huge])
    digits = text[len('{"class":"Big","args":[') : -2]
    assert digits.startswith("-1000") and digits.endswith("0007")
    assert len(digits) == sys.get_int_max_str_digits() + 702
    assert payload.decode_job(text).args == [huge]


def test_tuples_are_arrays() -> None:
    assert payload.encode_job("T", (1, (2, 3))) == '{"class":"T","args":[1,[2,3]]}'


@pytest.mark.parametrize(
    ("args", "path", "words"),
    [
        ([math.nan], "args[0]", "nan"),
        ([1, {"when": math.inf}], "args[1]['when']", "inf"),
        ([{"a": [1, -math.inf]}], "args[0]['a'][1]", "-inf"),
        ([1, {"when": object()}], "args[1]['when']", "object is not JSON"),
        (["ok", b"bytes"], "args[1]", "bytes is not JSON"),
        ([{1, 2}], "args[0]", "set is not JSON"),
        ([Decimal("1.5")], "args[0]", "Decimal is not JSON"),
        ([{"k": {1: "v"}}], "args[0]['k'][1]", "keys must be strings"),
        (["\ud800"], "args[0]", "not valid Unicode"),
        ([{"x": ["fine", "bad\udfff"]}], "args[0]['x'][1]", "not valid Unicode"),
    ],
)
def test_refusals_name_the_offending_argument(args: list[Any], path: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        payload.encode_job("Job", args)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_lone_surrogate_in_a_key_is_named() -> None:
    with pytest.raises(InvalidArgument) as info:
        payload.encode_job("Job", [{"ok": 1, "\udc00": 2}])
    assert "args[0]" in info.value.path and "not valid Unicode" in str(info.value)


@pytest.mark.parametrize("name", ["", "\ud800Job", None, 5])
def test_bad_class_names_are_refused(name: Any) -> None:
    with pytest.raises(InvalidArgument) as info:
        payload.encode_job(name, [])
    assert info.value.path == "class"


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_limit_counts_the_payload_object_and_args() -> None:
    # payload object + args array + 98 arrays = 100 levels: Ruby's parser accepts exactly this much.
    text = payload.encode_job("Deep", [_nested(98)])
    assert text.count("[") == 99
    with pytest.raises(InvalidArgument) as info:
        payload.encode_job("Deep", [_nested(99)])
    assert info.value.path == "args" + "[0]" * 99
    assert "100" in str(info.value)
    # Maps count as levels too.
    deep_map: Any = 1
    for _ in range(99):
        deep_map = {"k": deep_map}
    with pytest.raises(InvalidArgument):
        payload.encode_job("Deep", [deep_map])
    assert payload.encode(_nested(100)).count("[") == 100
    with pytest.raises(InvalidArgument):
        payload.encode(_nested(101))


# Decoding -------------------------------------------------------------------

def test_activesupport_escapes_decode() -> None:
    raw = b'{"class":"Mailer","args":["\\u003cb\\u003eHi\\u0026bye\\u003c/b\\u003e","\\u2028"]}'
    job = payload.decode_job(raw)
    assert job.args == ["<b>Hi&bye</b>", "\u2028"]
    assert job.encode() == '{"class":"Mailer","args":["<b>Hi&bye</b>","\u2028"]}'


@pytest.mark.parametrize(
    "raw",
    [
        '{"class":"A","args":[1,"x"],"id":"abc","queue_time":1.5}',
        '{"id":"abc","class":"A","args":[{"b":1,"a":2}]}',
        '{"args":[],"class":"A","enqueue_timestamp":1700000000.25,"vars":{"k":[1]}}',
    ],
)
def test_other_fields_survive_decode_encode_byte_for_byte(raw: str) -> None:
    job = payload.decode_job(raw.encode())
    assert job.encode() == raw
    assert list(job.to_dict()) == list(json.loads(raw))


def test_extra_fields_are_kept_separately() -> None:
    job = payload.decode_job('{"class":"A","args":[1],"id":"abc"}')
    assert (job.class_name, job.args, dict(job.extra)) == ("A", [1], {"id": "abc"})
    assert job == payload.Payload("A", [1], {"id": "abc"})


@pytest.mark.parametrize("raw", ['{"class":"A"}', '{"class":"A","args":null}'])
def test_missing_or_null_args_mean_no_args(raw: str) -> None:
    assert payload.decode_job(raw).args == []


def test_decoded_values_keep_their_types() -> None:
    job = payload.decode_job('{"class":"A","args":[1,1.0,-0.0,1.0e+20,100,null,true,"1"]}')
    assert [type(a).__name__ for a in job.args] == ["int", "float", "float", "float", "int", "NoneType", "bool", "str"]
    assert math.copysign(1.0, job.args[2]) == -1.0
    assert job.args[3] == 1e20


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "not valid JSON"),
        (b'{"class":"A","args":[NaN]}', "not valid JSON"),
        (b'{"class":"A","args":[Infinity]}', "not valid JSON"),
        (b'["A",1]', "array, not an object"),
        (b'{"args":[1]}', 'no "class"'),
        (b'{"class":"","args":[1]}', 'no "class"'),
        (b'{"class":7,"args":[1]}', 'no "class"'),
        (b'{"class":"A","args":{"a":1}}', '"args" is a JSON object'),
        (b'{"class":"A","args":"x"}', '"args" is a JSON string'),
        (b'{"class":"A","args":["\xff"]}', "not valid JSON"),
        (b'{"class":"A","args":["\\ud800"]}', "surrogate"),
    ],
)
def test_malformed_payloads_are_refused_with_the_raw_text(raw: bytes, problem: str) -> None:
    with pytest.raises(MalformedPayload) as info:
        payload.decode_job(raw)
    assert problem in str(info.value)
    assert info.value.raw == raw.decode("utf-8", errors="replace")


def test_surrogate_pairs_and_escaped_backslashes_decode() -> None:
    assert payload.decode('["\\ud83d\\ude00","\\\\ud800"]') == ["😀", "\\ud800"]


def test_huge_integers_decode() -> None:
    digits = "9" * (sys.get_int_max_str_digits() + 10)
    assert payload.decode(f"[{digits}]") == [10 ** len(digits) - 1]


def test_decode_then_encode_is_identity_for_ruby_written_payloads() -> None:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    checked = 0
    for case in cases:
        if case.get("error"):
            continue
        assert payload.decode_job(case["expected"]).encode() == case["expected"], case["name"]
        checked += 1
    assert checked > 300


# Hostile text -----------------------------------------------------------------

def _deep_in_the_stack(frames: int, call: Any) -> Any:
    """``call()`` run ``frames`` Python frames deeper than here."""
    return call() if frames == 0 else _deep_in_the_stack(frames - 1, call)


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_nesting_past_any_recursion_limit_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="nested deeper than 512 levels|Expecting"):
        payload.decode(text)
    with pytest.raises(MalformedPayload) as info:
        payload.decode_job('{"class":"A","args":' + text + "}")
    assert info.value.raw_bytes == ('{"class":"A","args":' + text + "}").encode()


def test_the_decode_nesting_limit_does_not_depend_on_the_stack() -> None:
    # A forked child decodes the payload again, from another stack depth:
    # both must come to the same verdict.
    limit = payload.MAX_DECODE_NESTING
    at_limit, past_limit = "[" * limit + "]" * limit, "[" * (limit + 1) + "]" * (limit + 1)
    for frames in (0, 300):
        assert payload.nesting_depth(_deep_in_the_stack(frames, lambda: payload.decode(at_limit))) == limit
        with pytest.raises(ValueError, match="nested deeper than 512 levels"):
            _deep_in_the_stack(frames, lambda: payload.decode(past_limit))
    # Many brackets side by side are not depth.
    assert payload.decode("[" + ",".join(["[[]]"] * 1000) + "]")[0] == [[]]


def test_nesting_depth_counts_arrays_and_objects() -> None:
    assert [payload.nesting_depth(v) for v in (1, "[", [], {}, [1, [2]], {"a": [{"b": {}}]}, [[], [[[]]]])] == [0, 0, 1, 1, 2, 4, 4]


def test_deep_lone_surrogates_are_found_without_recursion() -> None:
    text = "[" * 500 + '"\\ud800"' + "]" * 500
    with pytest.raises(ValueError, match="surrogate"):
        payload.decode(text)
    assert payload.decode("[" * 500 + '"\\ud83d\\ude00"' + "]" * 500) == _nested_value(500, "😀")


def _nested_value(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


def test_invalid_utf8_is_kept_byte_for_byte_by_the_error() -> None:
    raw = b'{"class":"A","args":["\xff\xc3"]}'
    with pytest.raises(MalformedPayload) as info:
        payload.decode_job(raw)
    assert info.value.raw_bytes == raw
    assert info.value.raw == '{"class":"A","args":["\ufffd\ufffd"]}'
    assert MalformedPayload("bad", "plain text").raw_bytes == b"plain text"


@pytest.mark.parametrize("digits", [4301, 9_999, 123_457])
def test_huge_integers_round_trip_exactly_past_the_int_str_limit(digits: int) -> None:
    import random

    rng = random.Random(digits)
    text = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(digits - 1))
    [value] = payload.decode(f"[{text}]")
    [negative] = payload.decode(f"[-{text}]")
    assert negative == -value
    assert value == int(Decimal(text)) if digits < 20_000 else value % 10**9 == int(text[-9:])
    assert payload.encode([value, negative]) == f"[{text},-{text}]"
