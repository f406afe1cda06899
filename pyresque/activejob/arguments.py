"""ActiveJob's argument format, both ways: ``arguments`` in ``job_data``.

Rails 7.2 writes plain JSON values as they are, hashes with a marker key
that lists their Symbol keys (``_aj_symbol_keys``; ``_aj_ruby2_keywords``
for keyword arguments; ``_aj_hash_with_indifferent_access``), records as
``{"_aj_globalid": "gid://..."}`` and every other type as
``{"_aj_serialized": "<serializer class>", ...}``. This module turns those
into Python values (see :mod:`pyresque.activejob.values`) and back, writing
what Rails itself writes for the same Ruby values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyresque.activejob.values import DateTime, Duration, GlobalID, IndifferentDict, Module, Range, Symbol
from pyresque.errors import ActiveJobDeserializationError, InvalidArgument

GLOBALID_KEY = "_aj_globalid"
SYMBOL_KEYS_KEY = "_aj_symbol_keys"
RUBY2_KEYWORDS_KEY = "_aj_ruby2_keywords"
INDIFFERENT_ACCESS_KEY = "_aj_hash_with_indifferent_access"
SERIALIZER_KEY = "_aj_serialized"
RESERVED_KEYS = frozenset({GLOBALID_KEY, SYMBOL_KEYS_KEY, RUBY2_KEYWORDS_KEY, INDIFFERENT_ACCESS_KEY, SERIALIZER_KEY})

_NS = "ActiveJob::Serializers::"
SYMBOL = _NS + "SymbolSerializer"
DURATION = _NS + "DurationSerializer"
DATE_TIME = _NS + "DateTimeSerializer"
DATE = _NS + "DateSerializer"
TIME_WITH_ZONE = _NS + "TimeWithZoneSerializer"
TIME = _NS + "TimeSerializer"
MODULE = _NS + "ModuleSerializer"
RANGE = _NS + "RangeSerializer"
BIG_DECIMAL = _NS + "BigDecimalSerializer"


class Keywords(dict):  # type: ignore[type-arg]
    """Keyword arguments: the hash Rails appends for ``perform_later(..., key: value)``."""


# Custom serializers -----------------------------------------------------------
@dataclass(frozen=True)
class _Custom:
    name: str
    type: type
    serialize: Callable[[Any], Mapping[str, Any]]
    deserialize: Callable[[dict[str, Any]], Any]


_custom: dict[str, _Custom] = {}


def add_serializer(
    name: str,
    type_: type,
    serialize: Callable[[Any], Mapping[str, Any]],
    deserialize: Callable[[dict[str, Any]], Any],
) -> None:
    """Teach pyresque one of the app's own ActiveJob serializers.

    ``name`` is the Ruby serializer class (``"MoneySerializer"``). Instances
    of ``type_`` are sent as ``{"_aj_serialized": name, **serialize(value)}``
    (values in the mapping are serialized as arguments too); received hashes
    naming ``name`` become ``deserialize(fields)`` (the hash without
    ``_aj_serialized``, its values already deserialized).
    """
    _custom[name] = _Custom(name, type_, serialize, deserialize)


def remove_serializer(name: str) -> None:
    _custom.pop(name, None)


# Times --------------------------------------------------------------------------
_ISO8601 = re.compile(
    r"(?P<y>-?\d{4,})-(?P<mo>\d\d)-(?P<d>\d\d)"
    r"T(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:[.,](?P<frac>\d+))?"
    r"(?P<zone>Z|[+-]\d\d:?\d\d)\Z"
)


def parse_time(text: str, cls: type[datetime] = datetime) -> datetime:
    """An aware datetime from Ruby's ``iso8601(n)``; digits past microseconds are dropped.

    ``Z`` gives ``timezone.utc``; a numeric offset gives a fixed-offset zone
    (``+00:00`` stays distinct from ``Z``, as Ruby keeps ``utc?`` apart).
    """
    m = _ISO8601.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    zone = m["zone"]
    tz: tzinfo
    if zone == "Z":
        tz = timezone.utc
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
        tz = timezone(offset, zone) if not offset else timezone(offset)
    micro = int((m["frac"] or "0")[:6].ljust(6, "0"))
    return cls(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), micro, tz)


def format_time(moment: datetime, z_for_utc: bool = True) -> str:
    """Ruby's ``iso8601(9)``: ``2020-01-02T03:04:05.123456000Z`` or ``...+05:30``.

    A naive datetime is local time, as Python treats it (and as Ruby's
    ``Time.now`` is): it is written with the machine's current offset.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.astimezone()
        z_for_utc = False
    head = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}000"
    )
    if z_for_utc and _is_utc(moment):
        return head + "Z"
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{head}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _is_utc(moment: datetime) -> bool:
    if moment.tzinfo is timezone.utc:
        return True
    # ActiveSupport::TimeWithZone#utc? looks at the zone abbreviation.
    return isinstance(moment.tzinfo, ZoneInfo) and moment.tzname() in ("UTC", "UCT")


def format_big_decimal(value: Decimal) -> str:
    """``BigDecimal#to_s`` as a Rails app prints it: ``1.5``, ``100.0``, ``-0.001``."""
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value < 0 else "Infinity"
    text = format(value.normalize(), "f") if value else ("-0" if value.is_signed() else "0")
    return text if "." in text else text + ".0"


# Python -> Ruby --------------------------------------------------------------------
def serialize(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> list[Any]:
    """``arguments`` for ``job_data``: ``args`` then, if any, ``kwargs`` as keywords."""
    out = [serialize_argument(a, f"arguments[{i}]") for i, a in enumerate(args)]
    if kwargs:
        out.append(serialize_argument(Keywords(kwargs), f"arguments[{len(out)}]"))
    return out


def serialize_argument(value: Any, path: str = "argument") -> Any:
    """One value in ActiveJob's format; :class:`InvalidArgument` names ``path`` if it cannot be."""
    # Order matters: bool is an int, datetime is a date, Symbol is a str...
    if value is None or value is True or value is False:
        return value
    if isinstance(value, Symbol):
        return _object(SYMBOL, value=str.__str__(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(path, f"{value!r} has no JSON form; Ruby cannot read it")
        return float(value)
    if isinstance(value, Decimal):
        return _object(BIG_DECIMAL, value=format_big_decimal(value))
    if isinstance(value, GlobalID):
        return {GLOBALID_KEY: value.uri}
    if isinstance(value, (list, tuple)):
        return [serialize_argument(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _serialize_hash(value, path)
    if isinstance(value, DateTime):
        return _object(DATE_TIME, value=format_time(value, z_for_utc=False))
    if isinstance(value, datetime):
        if isinstance(value.tzinfo, ZoneInfo):
            return _object(TIME_WITH_ZONE, value=format_time(value), time_zone=value.tzinfo.key)
        return _object(TIME, value=format_time(value))
    if isinstance(value, date):
        return _object(DATE, value=value.isoformat())
    if isinstance(value, timedelta):
        duration = Duration.of(value)
        micros = (duration.days * 86400 + duration.seconds) * 1_000_000 + duration.microseconds
        seconds: int | float = micros // 1_000_000 if micros % 1_000_000 == 0 else micros / 1_000_000
        parts = [[serialize_argument(Symbol(unit)), serialize_argument(amount, path)] for unit, amount in duration.parts]
        return _object(DURATION, value=seconds, parts=parts)
    if isinstance(value, Module):
        return _object(MODULE, value=value.name)
    if isinstance(value, Range):
        return _range(value.begin, value.end, value.exclude_end, path)
    if isinstance(value, range):
        if value.step != 1:
            raise InvalidArgument(path, f"{value!r} has a step; a Ruby Range cannot carry one")
        return _range(value.start, value.stop, True, path)
    for custom in _custom.values():
        if isinstance(value, custom.type):
            fields = {k: serialize_argument(v, f"{path}[{k!r}]") for k, v in custom.serialize(value).items()}
            return {SERIALIZER_KEY: custom.name, **fields}
    to_global_id = getattr(value, "to_global_id", None)
    if callable(to_global_id):
        gid = to_global_id()
        return {GLOBALID_KEY: gid.uri if isinstance(gid, GlobalID) else str(gid)}
    raise InvalidArgument(
        path,
        f"{type(value).__name__} cannot be an ActiveJob argument; pass JSON values, "
        "datetime, date, timedelta, Decimal, GlobalID or a pyresque.activejob value type "
        "(or register a serializer with pyresque.activejob.add_serializer)",
    )


def _object(serializer: str, **fields: Any) -> dict[str, Any]:
    return {SERIALIZER_KEY: serializer, **fields}


def _range(begin: Any, end: Any, exclude_end: bool, path: str) -> dict[str, Any]:
    return _object(
        RANGE,
        begin=serialize_argument(begin, f"{path}.begin"),
        end=serialize_argument(end, f"{path}.end"),
        exclude_end=bool(exclude_end),
    )


def _serialize_hash(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    symbol_keys: list[str] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidArgument(
                f"{path}[{key!r}]",
                f"hash keys must be str or Symbol (got {type(key).__name__}), as ActiveJob requires",
            )
        text = str.__str__(key)
        if text in RESERVED_KEYS:
            raise InvalidArgument(f"{path}[{text!r}]", f"{text!r} is a key ActiveJob reserves for itself")
        if isinstance(key, Symbol) or isinstance(value, Keywords):
            symbol_keys.append(text)
        out[text] = serialize_argument(item, f"{path}[{text!r}]")
    if isinstance(value, IndifferentDict):
        out[INDIFFERENT_ACCESS_KEY] = True
    elif isinstance(value, Keywords):
        out[RUBY2_KEYWORDS_KEY] = symbol_keys
    else:
        out[SYMBOL_KEYS_KEY] = symbol_keys
    return out


# Ruby -> Python --------------------------------------------------------------------
def deserialize(arguments: Any) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for a handler, from ``job_data["arguments"]``.

    A trailing keyword hash (``_aj_ruby2_keywords``) becomes the keyword
    arguments. Raises :class:`ActiveJobDeserializationError` naming the
    argument that could not be read.
    """
    if not isinstance(arguments, list):
        raise ActiveJobDeserializationError(f"job_data arguments is not a list: {arguments!r}")
    args = [deserialize_argument(a, f"arguments[{i}]") for i, a in enumerate(arguments)]
    kwargs: dict[str, Any] = {}
    if args and isinstance(args[-1], Keywords):
        kwargs = {str.__str__(k): v for k, v in args.pop().items()}
    return args, kwargs


def deserialize_argument(value: Any, path: str = "argument") -> Any:
    """One argument as a Python value (keyword hashes come back as :class:`Keywords`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [deserialize_argument(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1 and GLOBALID_KEY in value:
            try:
                return GlobalID.parse(value[GLOBALID_KEY])
            except (ValueError, TypeError) as exc:
                raise _bad(path, f"bad GlobalID: {exc}") from None
        if SERIALIZER_KEY in value:
            return _deserialize_object(value, path)
        return _deserialize_hash(value, path)
    raise _bad(path, f"{type(value).__name__} is not an ActiveJob argument")


def _bad(path: str, problem: str) -> ActiveJobDeserializationError:
    return ActiveJobDeserializationError(f"cannot deserialize {path}: {problem}")


def _deserialize_hash(value: dict[str, Any], path: str) -> Any:
    result = {k: deserialize_argument(v, f"{path}[{k!r}]") for k, v in value.items()}
    if result.pop(INDIFFERENT_ACCESS_KEY, None):
        result.pop(SYMBOL_KEYS_KEY, None)
        return IndifferentDict(result)
    for marker, cls in ((SYMBOL_KEYS_KEY, dict), (RUBY2_KEYWORDS_KEY, Keywords)):
        symbols = result.pop(marker, None)
        if symbols is not None:
            if not isinstance(symbols, list):
                raise _bad(path, f"{marker} is not a list")
            wanted = set(symbols)
            return cls((Symbol(k) if k in wanted else k, v) for k, v in result.items())
    return result


def _deserialize_object(value: dict[str, Any], path: str) -> Any:
    name = value[SERIALIZER_KEY]
    if not isinstance(name, str):
        raise _bad(path, f"{SERIALIZER_KEY} is not a serializer name: {name!r}")
    builtin = _DESERIALIZERS.get(name)
    if builtin is not None:
        try:
            return builtin(value, path)
        except ActiveJobDeserializationError:
            raise
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise _bad(path, f"malformed {name} value {value!r} ({type(exc).__name__}: {exc})") from None
    custom = _custom.get(name)
    if custom is None:
        raise _bad(
            path,
            f"unknown ActiveJob serializer {name!r}; teach pyresque the app's serializer with "
            "pyresque.activejob.add_serializer",
        )
    fields = {k: deserialize_argument(v, f"{path}[{k!r}]") for k, v in value.items() if k != SERIALIZER_KEY}
    try:
        return custom.deserialize(fields)
    except Exception as exc:
        raise _bad(path, f"{name} could not deserialize {value!r} ({type(exc).__name__}: {exc})") from exc


def _time_with_zone(value: dict[str, Any], path: str) -> datetime:
    moment = parse_time(value["value"])
    zone = value.get("time_zone")
    if isinstance(zone, str):
        try:
            return moment.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            pass  # not an IANA name: keep the offset, which is still the same instant
    return moment


def _duration(value: dict[str, Any], path: str) -> Duration:
    seconds = value["value"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError("value is not a number")
    parts = [deserialize_argument(p, f"{path}.parts") for p in value.get("parts") or []]
    pairs = [(str(unit), amount) for unit, amount in parts]
    return Duration(seconds=seconds, parts=pairs)


def _range_value(value: dict[str, Any], path: str) -> Range:
    return Range(
        deserialize_argument(value["begin"], f"{path}.begin"),
        deserialize_argument(value["end"], f"{path}.end"),
        bool(value["exclude_end"]),
    )


def _text(value: dict[str, Any]) -> str:
    text = value["value"]
    if not isinstance(text, str):
        raise TypeError("value is not a string")
    return text


_DESERIALIZERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    SYMBOL: lambda v, p: Symbol(_text(v)),
    TIME: lambda v, p: parse_time(v["value"]),
    DATE_TIME: lambda v, p: parse_time(v["value"], DateTime),
    DATE: lambda v, p: date.fromisoformat(_text(v)),
    TIME_WITH_ZONE: _time_with_zone,
    DURATION: _duration,
    BIG_DECIMAL: lambda v, p: Decimal(_text(v)),
    MODULE: lambda v, p: Module(_text(v)),
    RANGE: _range_value,
}
