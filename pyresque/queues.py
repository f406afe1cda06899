"""Which queues a worker works, in which order: Ruby Resque's rules exactly.

A worker is given patterns (``QUEUES=critical,*,!low``):

* ``!name`` entries are skip patterns; they are not part of the worker id.
* Without skip patterns or wildcard characters (``* ? [ ] { }``) the list is
  used verbatim, whether or not the queues exist yet.
* Otherwise the list is *dynamic*: each pattern, in order, picks the names in
  the ``queues`` set that it matches and no skip pattern matches, sorted by
  bytes; later duplicates are dropped. Matching is Ruby's ``File.fnmatch``
  without flags (see :func:`fnmatch`): ``*`` crosses ``/``, a leading ``.``
  must be matched literally, ``\\`` escapes, and braces are literal characters.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from pyresque.connection import name_bytes

_WILDCARDS = set("*?{}[]")


class QueueList:
    """A worker's queue patterns, resolved against the ``queues`` set."""

    def __init__(self, patterns: Sequence[str]) -> None:
        # Stripped but kept when empty, as Ruby keeps them: QUEUES=a,,b is the
        # worker id "host:pid:a,,b" and works a queue named "" too.
        cleaned = [p.strip() for p in patterns]
        self.skips = [p[1:] for p in cleaned if p.startswith("!")]
        self.patterns = [p for p in cleaned if not p.startswith("!")]
        self.dynamic = bool(self.skips) or any(_WILDCARDS & set(p) for p in self.patterns)

    @classmethod
    def parse(cls, text: str) -> "QueueList":
        """From Resque's comma-separated ``QUEUES`` form, split as Ruby's ``split(',')``.

        Empty entries stay, except trailing ones, which Ruby's split drops.
        """
        parts = text.split(",")
        while parts and parts[-1] == "":
            parts.pop()
        return cls(parts)

    @property
    def id_part(self) -> str:
        """The queue part of the worker id: the patterns as given, skips left out."""
        return ",".join(self.patterns)

    def resolve(self, existing: Iterable[str] = ()) -> list[str]:
        """The queues to try, highest priority first."""
        if not self.dynamic:
            return list(self.patterns)
        names = sorted(set(existing), key=name_bytes)
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
    """Ruby's ``File.fnmatch(pattern, name)`` with no flags.

    A direct walk over the pattern with Ruby's rules, including its corner
    cases: a trailing ``\\`` is ignored; an unterminated or empty ``[...]``
    never matches (it is not a literal ``[``); ``]`` right after ``[`` or
    ``[!`` closes the class, so ``[!]`` matches any one character; a range
    matches its two ends and what lies between them, so a reversed range
    such as ``[z-a]`` matches ``z`` and ``a`` only; ``*`` and ``?`` cross
    ``/``; a leading ``.`` of the name must be matched by a literal ``.``.
    """
    n_pat, n_name = len(pattern), len(name)
    first = _unescape(pattern, 0)
    if name.startswith(".") and (first >= n_pat or pattern[first] != "."):
        return False
    pi = si = 0
    star_pi: int | None = None
    star_si = 0
    while True:
        c = pattern[pi] if pi < n_pat else ""
        if c == "*":
            while pi < n_pat and pattern[pi] == "*":
                pi += 1
            if _unescape(pattern, pi) >= n_pat:
                return True
            if si >= n_name:
                return False
            star_pi, star_si = pi, si
            continue
        if c == "?":
            if si >= n_name:
                return False
            pi += 1
            si += 1
            continue
        if c == "[":
            if si >= n_name:
                return False
            after = _bracket(pattern, pi + 1, name[si])
            if after is not None:
                pi = after
                si += 1
                continue
        else:
            pi = _unescape(pattern, pi)
            if si >= n_name:
                return pi >= n_pat
            if pi < n_pat and pattern[pi] == name[si]:
                pi += 1
                si += 1
                continue
        # No match here: let the last '*' swallow one more character.
        if star_pi is None:
            return False
        pi = star_pi
        star_si += 1
        si = star_si


def _unescape(pattern: str, i: int) -> int:
    """Skip a ``\\`` at ``i`` (a trailing one runs off the end, as in Ruby)."""
    return i + 1 if i < len(pattern) and pattern[i] == "\\" else i


def _bracket(pattern: str, i: int, ch: str) -> int | None:
    """Match ``ch`` against the class starting after ``[`` at ``i``: the index after its ``]``, or None."""
    n = len(pattern)
    if i >= n:
        return None
    negate = pattern[i] in "!^"
    if negate:
        i += 1
    ok = False
    while True:
        if i >= n:
            return None
        if pattern[i] == "]":
            break
        lo = _unescape(pattern, i)
        if lo >= n:
            return None
        i = lo + 1
        if i >= n:
            return None
        if pattern[i] == "-" and (i + 1 >= n or pattern[i + 1] != "]"):
            hi = _unescape(pattern, i + 1)
            if hi >= n:
                return None
            i = hi + 1
            if not ok and (ch == pattern[lo] or ch == pattern[hi] or pattern[lo] <= ch <= pattern[hi]):
                ok = True
        elif not ok and ch == pattern[lo]:
            ok = True
    return i + 1 if ok != negate else None

