"""Which queues a worker works, in which order: Ruby Resque's rules exactly.

A worker is given patterns (``QUEUES=critical,*,!low``):

* ``!name`` entries are skip patterns; they are not part of the worker id.
* Without skip patterns or wildcard characters (``* ? [ ] { }``) the list is
  used verbatim, whether or not the queues exist yet.
* Otherwise the list is *dynamic*: each pattern, in order, picks the names in
  the ``queues`` set that it matches and no skip pattern matches, sorted by
  bytes; later duplicates are dropped. Matching is Ruby's ``File.fnmatch``
  without flags: ``*`` crosses ``/``, a leading ``.`` must be matched
  literally, ``\\`` escapes, and braces are literal characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

_WILDCARDS = set("*?{}[]")


class QueueList:
    """A worker's queue patterns, resolved against the ``queues`` set."""

    def __init__(self, patterns: Sequence[str]) -> None:
        cleaned = [p.strip() for p in patterns if p and p.strip()]
        self.skips = [p[1:] for p in cleaned if p.startswith("!")]
        self.patterns = [p for p in cleaned if not p.startswith("!")]
        self.dynamic = bool(self.skips) or any(_WILDCARDS & set(p) for p in self.patterns)

    @classmethod
    def parse(cls, text: str) -> "QueueList":
        """From Resque's comma-separated ``QUEUES`` form."""
        return cls(text.split(","))

    @property
    def id_part(self) -> str:
        """The queue part of the worker id: the patterns as given, skips left out."""
        return ",".join(self.patterns)

    def resolve(self, existing: Iterable[str] = ()) -> list[str]:
        """The queues to try, highest priority first."""
        if not self.dynamic:
            return list(self.patterns)
        names = sorted(set(existing), key=_bytes)
        chosen: list[str] = []
        seen: set[str] = set()
        for pattern in self.patterns:
            for name in names:
                if name in seen or not fnmatch(pattern, name):
                    continue
                if any(fnmatch(skip, name) for skip in self.skips):
                    continue
                seen.add(name)
                chosen.append(name)
        return chosen


def fnmatch(pattern: str, name: str) -> bool:
    """Ruby's ``File.fnmatch(pattern, name)`` with no flags."""
    regex, literal_dot = _compile(pattern)
    if name.startswith(".") and not literal_dot:
        return False
    return regex.fullmatch(name) is not None


@lru_cache(maxsize=512)
def _compile(pattern: str) -> tuple[re.Pattern[str], bool]:
    """A regex for ``pattern`` and whether it starts with a literal ``.``."""
    out: list[str] = []
    i = 0
    literal_dot = pattern.startswith(".") or pattern.startswith("\\.")
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end, cls = _bracket(pattern, i)
            if end is None:
                out.append(re.escape(c))
            else:
                out.append(cls)
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL), literal_dot


def _bracket(pattern: str, start: int) -> tuple[int | None, str]:
    """Parse ``[...]`` at ``start``: the index of its ``]`` and a regex class."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            items.append(f"{re.escape(c)}-{re.escape(pattern[i + 2])}")
            i += 3
            continue
        items.append(re.escape(c))
        i += 1
    if i >= len(pattern) or not items:
        return None, ""
    return i, "[" + ("^" if negate else "") + "".join(items) + "]"


def _bytes(name: str) -> bytes:
    return name.encode("utf-8", errors="surrogateescape")
