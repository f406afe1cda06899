"""What every part of the check shares: collecting findings, and reading values as Ruby reads them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import redis as redis_py

from pyresque.check.schemas import SCHEMA_READER, schema_errors
from pyresque.findings import ERROR, NOTE, R_NONE, WARNING, Problem
from pyresque.keys import Keys

# How many items to read from each end of a long list.
SAMPLE = 100
# Ruby prunes a worker whose heartbeat is older than this (Resque.prune_interval).
STALE_HEARTBEAT_S = 300
# A heartbeat this far in the future means a writer uses its own clock, not Redis TIME.
FUTURE_HEARTBEAT_S = 60
# Ruby's JSON parser refuses documents nested deeper than this.
MAX_NESTING = 100
INT64_RANGE = (-(2**63), 2**63 - 1)


class CheckerBase:
    """Findings collected while walking one namespace, and the reads every check makes."""

    def __init__(self, client: redis_py.Redis, keys: Keys, sample: int) -> None:
        self.r = client
        self.keys = keys
        self.sample = max(1, sample)
        self.problems: list[Problem] = []

    def add(self, severity: str, key: str, message: str, reader: str, section: str) -> None:
        self.problems.append(Problem(severity, key, message, reader, section))

    def error(self, key: str, message: str, reader: str, section: str) -> None:
        self.add(ERROR, key, message, reader, section)

    def warn(self, key: str, message: str, reader: str, section: str) -> None:
        self.add(WARNING, key, message, reader, section)

    def note(self, key: str, message: str, reader: str = R_NONE, section: str = "") -> None:
        self.add(NOTE, key, message, reader, section)

    def members(self, key: str) -> list[str]:
        return [t for t in (as_str(m) for m in self.r.sscan_iter(key, count=1000)) if t is not None]

    def sampled(self, key: str) -> list[tuple[int, bytes]]:
        """(index, item) for the whole list, or its first and last ``sample`` items."""
        length = int(self.r.llen(key))
        if length <= 2 * self.sample:
            return list(enumerate(self.r.lrange(key, 0, -1)))
        head = self.r.lrange(key, 0, self.sample - 1)
        tail = self.r.lrange(key, -self.sample, -1)
        first_tail = length - len(tail)
        return list(enumerate(head)) + [(first_tail + i, v) for i, v in enumerate(tail)]

    def decoded(self, key: str, where: str, raw: Any, schema: str) -> tuple[bool, Any]:
        """(ok, value): ``raw`` parsed as Ruby's JSON parser would, or an error reported."""
        reader, section = SCHEMA_READER[schema]
        text = utf8_or_none(raw)
        if text is None:
            self.error(key, f"{where} is not valid UTF-8", reader, section)
            return False, None
        try:
            value = json.loads(text, parse_constant=no_constant, parse_int=big_int)
        except (ValueError, RecursionError) as exc:
            self.error(key, f"{where} is not valid JSON ({exc}): {shortened(text)}", reader, section)
            return False, None
        depth = nesting_depth(value)
        if depth > MAX_NESTING:
            self.error(key, f"{where} is nested {depth} levels deep; Ruby's JSON parser refuses more than {MAX_NESTING}",
                       reader, section)
            return False, None
        return True, value

    def json_against(self, schema: str, key: str, where: str, raw: Any) -> Any:
        """Parse ``raw`` as Ruby would, then check it against ``schema``; the value, or None."""
        ok, value = self.decoded(key, where, raw, schema)
        if ok:
            self.against(schema, key, where, value)
            return value
        return None

    def against(self, schema: str, key: str, where: str, value: Any) -> bool:
        reader, section = SCHEMA_READER[schema]
        errors = schema_errors(schema, value)
        for message in errors:
            self.error(key, f"{where} violates {schema}: {message}", reader, section)
        return not errors


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def utf8_or_none(value: Any) -> str | None:
    """The value as text, or None when its bytes are not UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)


def big_int(digits: str) -> int:
    # Ruby reads integers of any length; int(str) stops at 4300 digits.
    return int(Decimal(digits))


def no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def nesting_depth(value: Any) -> int:
    """Nesting depth as Ruby's parser counts it: each array or object is one level."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def shortened(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
