"""The wire codec: job payloads byte-identical to Ruby's json gem.

Ruby Resque writes ``{"class":"Name","args":[...]}`` with ``MultiJson.dump``
(the json gem in a plain Resque or Rails process). ``Resque.dequeue`` and
resque-scheduler match jobs by exact bytes, so :func:`encode` reproduces the
json gem: compact separators, raw UTF-8, lowercase ``\\u00XX`` control escapes
and Ruby's ``Float#to_s`` number format. Decoding is tolerant: fields other
than ``class`` and ``args`` are kept, in their order, and written back on
re-encode; ActiveSupport's ``\\u003c``-style escapes decode like any other.

Deliberate differences from Ruby's parser (json 2.6), all on the decode side:

* We refuse ``/* */`` and ``//`` comments and unknown escapes such as ``\\x``,
  which the json gem quietly accepts. No Resque client writes them.
* We refuse bytes that are not UTF-8; Ruby passes them on as broken strings
  that fail later, far from the cause.
* We accept documents nested deeper than :data:`MAX_NESTING` (Ruby refuses
  them), up to :data:`MAX_DECODE_NESTING`. :func:`encode` never writes one,
  so this only matters for payloads other clients wrote, and running them
  beats losing them.

:func:`decode` is the one way pyresque parses JSON read from Redis, and it
fails only with ``ValueError``: hostile text (nesting far past any parser's
recursion limit, say) must end as a malformed payload, never as an
exception nobody catches.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from pyresque.errors import InvalidArgument, MalformedPayload, ResqueError

# json.encoder's C string escaper with ensure_ascii=False escapes exactly what
# the json gem escapes: '"', '\\', and control characters (as \b \f \n \r \t or
# lowercase \u00XX). Non-ASCII, U+2028/2029, '/' and DEL stay raw.
from json.encoder import encode_basestring as _encode_string  # type: ignore[attr-defined]

# Ruby's json gem refuses to parse documents nested deeper than this.
MAX_NESTING = 100

# We refuse to parse documents nested deeper than this (each array or object
# is a level). Deeper than Ruby allows, so payloads other clients wrote still
# run; far enough below Python's recursion limit that a parse never depends
# on how deep in the stack it runs: a worker and the child it forks must
# agree on what is a job.
MAX_DECODE_NESTING = 512

# A \\uD800-\\uDFFF escape in JSON text; only then can decoding yield a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _int_text(value: int) -> str:
    """Decimal digits of any int, however long (Ruby has no digit limit).

    ``int.__repr__`` refuses ints past ``sys.get_int_max_str_digits()`` (4300
    digits by default) because its algorithm is quadratic; past that we
    convert in halves through ``Decimal``, whose big multiplications are
    fast, so a megabyte of digits takes a second rather than minutes.
    """
    try:
        return int.__repr__(value)
    except ValueError:
        return str(_int_to_decimal(value))


def _parse_int(text: str) -> int:
    """An int from JSON digits, however many (see :func:`_int_text`)."""
    try:
        return int(text)
    except ValueError:
        negative = text.startswith("-")
        magnitude = _digits_to_int(text[1:] if negative else text)
        return -magnitude if negative else magnitude


# Big enough for int() and Decimal() to convert directly and quickly.
_SMALL_DIGITS = 3000
_SMALL_BITS = 10000
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                         traps=[decimal.Inexact, decimal.Overflow])


def _digits_to_int(digits: str) -> int:
    """``int(digits)`` for any number of decimal digits, halving the string."""
    if len(digits) <= _SMALL_DIGITS:
        return int(digits)
    low = len(digits) // 2
    return _digits_to_int(digits[:-low]) * 10**low + _digits_to_int(digits[-low:])


def _int_to_decimal(value: int) -> Decimal:
    """An exact ``Decimal`` of any int, built from its halves by bits."""
    if value < 0:
        return _int_to_decimal(-value).copy_negate()  # unary minus would round to 28 digits
    bits = value.bit_length()
    if bits <= _SMALL_BITS:
        return Decimal(value)
    half = bits // 2
    high = value >> half
    low = value - (high << half)
    return _EXACT.add(_EXACT.multiply(_int_to_decimal(high), _EXACT.power(2, half)), _int_to_decimal(low))


def format_float(value: float) -> str:
    """A float as Ruby's ``Float#to_s`` (and so the json gem <= 2.9) prints it.

    ``1.0``, ``1.0e+20``, ``1.0e-05``, ``-0.0``, ``0.0001``. The digits are the
    shortest that round-trip, which Python's ``repr`` already gives us; only
    the layout differs from Python's.
    """
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    # value = 0.<digits> * 10**decpt
    decpt = len(digit_tuple) + int(exponent)
    n = len(digits)
    minus = "-" if sign else ""
    if 0 < decpt:
        if decpt < n:
            return f"{minus}{digits[:decpt]}.{digits[decpt:]}"
        if decpt <= 15:
            return f"{minus}{digits}{'0' * (decpt - n)}.0"
    elif decpt > -4:
        return f"{minus}0.{'0' * -decpt}{digits}"
    exp = decpt - 1
    return f"{minus}{digits[0]}.{digits[1:] or '0'}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def encode(value: Any, path: str = "value", depth: int = 1, max_nesting: int | None = MAX_NESTING) -> str:
    """JSON text for ``value`` exactly as Ruby's json gem generates it.

    Raises :class:`InvalidArgument` naming ``path`` (e.g. ``args[2]['x']``)
    for anything Ruby could not read back as the same value: NaN, infinity,
    non-string object keys, other Python types, strings that are not valid
    Unicode, and nesting deeper than Ruby accepts (``max_nesting``, counting
    ``value`` as level ``depth``; None for no limit).
    """
    out: list[str] = []
    _encode_into(value, path, out, depth, max_nesting)
    text = "".join(out)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _find_bad_string(value, path)
        raise
    return text


def _encode_into(value: Any, path: str, out: list[str], depth: int, limit: int | None) -> None:
    # Order matters: bool is a subclass of int.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        out.append(_int_text(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(path, f"{value!r} has no JSON form; Ruby cannot read it")
        out.append(format_float(value))
    elif isinstance(value, (list, tuple)):
        _check_depth(path, depth, limit)
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode_into(item, f"{path}[{i}]", out, depth + 1, limit)
        out.append("]")
    elif isinstance(value, Mapping):
        _check_depth(path, depth, limit)
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgument(
                    f"{path}[{key!r}]",
                    f"object keys must be strings (got {type(key).__name__}); "
                    "JSON and Ruby would turn it into a string",
                )
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _encode_into(item, f"{path}[{key!r}]", out, depth + 1, limit)
        out.append("}")
    else:
        raise InvalidArgument(
            path,
            f"{type(value).__name__} is not JSON; pass str, int, float, bool, None, "
            "list or dict (e.g. an ISO 8601 string for a time)",
        )


def _check_depth(path: str, depth: int, limit: int | None) -> None:
    if limit is not None and depth > limit:
        raise InvalidArgument(path, f"nested deeper than {limit} levels, which Ruby's JSON parser refuses")


def _find_bad_string(value: Any, path: str) -> None:
    """Raise InvalidArgument at the first string that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(path, f"string is not valid Unicode ({exc.reason})") from None
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _find_bad_string(item, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _find_bad_string(key, f"{path} key {key!r}")
            _find_bad_string(item, f"{path}[{key!r}]")


def decode(text: str | bytes) -> Any:
    """Parse JSON as Ruby's json gem would accept it (no NaN or Infinity).

    Raises ``ValueError``, and only that, for anything the json gem would
    refuse, for documents nested deeper than :data:`MAX_DECODE_NESTING`, and
    for any other failure of the parser on hostile text.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        value = _DECODER.decode(text)
    except ValueError:
        raise
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DECODE_NESTING} levels") from None
    except ResqueError:
        raise  # TermException from a signal handler is not about the text
    except Exception as exc:  # noqa: BLE001 - MemoryError and the like: the text is the problem
        raise ValueError(f"the JSON parser failed: {type(exc).__name__}: {exc}") from None
    if text.count("[") + text.count("{") > MAX_DECODE_NESTING and nesting_depth(value) > MAX_DECODE_NESTING:
        raise ValueError(f"nested deeper than {MAX_DECODE_NESTING} levels")
    if _SURROGATE_ESCAPE.search(text):
        # "\\ud800" alone decodes to a string no UTF-8 can carry; the json gem refuses it.
        _find_lone_surrogate(value)
    return value


def nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded value, as Ruby's parser counts.

    ``1`` for ``[1]`` or ``{}``, ``0`` for a scalar. Iterative, so any depth
    is measured without recursion.
    """
    depth = 0
    level = [value] if isinstance(value, (list, dict)) else []
    while level:
        depth += 1
        below: list[Any] = []
        for item in level:
            below.extend(v for v in (item.values() if isinstance(item, dict) else item) if isinstance(v, (list, dict)))
        level = below
    return depth


def _find_lone_surrogate(value: Any) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a \\u escape is a lone UTF-16 surrogate, which is not a character") from None
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every payload: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int)


@dataclass(frozen=True)
class Payload:
    """One Resque job on the wire: ``{"class": ..., "args": [...], ...extra}``.

    ``extra`` holds fields other clients add (php-resque's ``id``, pyres's
    ``enqueue_timestamp``...) so they survive a decode/encode round trip.
    ``key_order`` is the field order a decoded payload had, so re-encoding it
    keeps that order as Ruby's Hash does (``class`` then ``args`` first when
    empty).
    """

    class_name: str
    args: list[Any] = field(default_factory=list)
    extra: Mapping[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        canonical = {"class": self.class_name, "args": self.args, **self.extra}
        if not self.key_order:
            return canonical
        ordered = {k: canonical[k] for k in self.key_order if k in canonical}
        ordered.update(canonical)  # anything not in key_order goes last
        return ordered

    def encode(self) -> str:
        if self.key_order:
            _check_class_name(self.class_name)
            return encode(self.to_dict(), "payload")
        return encode_job(self.class_name, self.args, self.extra)


def encode_job(class_name: str, args: Any, extra: Mapping[str, Any] | None = None) -> str:
    """The exact bytes Ruby writes for ``Resque.enqueue(Klass, *args)``."""
    _check_class_name(class_name)
    head = '{"class":' + _encode_string(class_name) + ',"args":'
    body = encode(list(args), "args", depth=2)  # args sits inside the payload object
    tail = ""
    if extra:
        tail = "," + encode(dict(extra), "payload")[1:-1]
    return head + body + tail + "}"


def _check_class_name(class_name: Any) -> None:
    if not isinstance(class_name, str) or not class_name:
        raise InvalidArgument("class", f"a job class name must be a non-empty string, not {class_name!r}")
    _find_bad_string(class_name, "class")


def decode_job(raw: str | bytes) -> Payload:
    """A :class:`Payload` from queue bytes, or :class:`MalformedPayload` (which
    keeps ``raw`` exactly, bytes that are not UTF-8 included).

    Ruby runs a job whose ``args`` is missing or null with no arguments, so we
    do too; any other non-list ``args`` is refused rather than guessed at.
    """
    try:
        data = decode(raw)
    except ValueError as exc:
        raise MalformedPayload(f"payload is not valid JSON: {exc}", raw) from None
    if not isinstance(data, dict):
        raise MalformedPayload(f"payload is a JSON {_json_type(data)}, not an object", raw)
    class_name = data.get("class")
    if not isinstance(class_name, str) or not class_name:
        raise MalformedPayload('payload has no "class" string', raw, data)
    args = data.get("args")
    if args is None:
        args = []
    elif not isinstance(args, list):
        raise MalformedPayload(f'payload "args" is a JSON {_json_type(args)}, not a list', raw, data)
    extra = {k: v for k, v in data.items() if k not in ("class", "args")}
    order = tuple(data)
    if not extra and order[:2] == ("class", "args"):
        order = ()  # the usual shape: nothing to remember
    return Payload(class_name, args, extra, order)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


@dataclass(frozen=True)
class Job:
    """A payload taken from a queue, with the queue it came from.

    ``raw`` is the payload as queued. It is text, yet exactly the queued
    bytes: only valid UTF-8 decodes into a job, so nothing is replaced on the
    way (and a forked child gets it back through its pipe unchanged). Empty
    when the job was not read from a queue.
    """

    queue: str
    payload: Payload
    raw: str = ""

    @property
    def class_name(self) -> str:
        return self.payload.class_name

    @property
    def args(self) -> list[Any]:
        return self.payload.args
