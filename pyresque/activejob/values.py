"""Python values for the Ruby types ActiveJob arguments can carry.

Most ActiveJob argument types map onto a standard Python type (``Time`` ->
aware ``datetime``, ``Date`` -> ``date``, ``BigDecimal`` -> ``Decimal``...).
The classes here cover what Python has no exact word for, so that a value
taken from a Rails job and sent back arrives in Ruby as the same type:

* :class:`Symbol` - a ``str`` that Ruby sees as ``:name``; as a ``dict`` key
  it makes a symbol key (``{Symbol("id"): 1}`` is Ruby's ``{id: 1}``);
* :class:`IndifferentDict` - ``ActiveSupport::HashWithIndifferentAccess``;
* :class:`DateTime` - Ruby's ``DateTime`` (a plain aware ``datetime`` is a ``Time``);
* :class:`Duration` - ``ActiveSupport::Duration``, a ``timedelta`` that keeps its parts;
* :class:`Module` - a Ruby class or module, by name;
* :class:`Range` - a Ruby ``Range`` (``1..10``, ``1...10``, endless ranges);
* :class:`GlobalID` - a record reference, ``gid://app/Model/id``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator, Mapping


class Symbol(str):
    """A Ruby Symbol. Compares and hashes like the ``str`` it wraps.

    ``Symbol("pending") == "pending"``, so code that receives one can treat it
    as text; sending it back to Rails gives ``:pending`` again.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


def symbolize_keys(mapping: Mapping[str, Any]) -> dict[Symbol, Any]:
    """A copy of ``mapping`` whose keys are Symbols: Ruby's ``{a: 1, b: 2}``."""
    return {Symbol(key): value for key, value in mapping.items()}


class IndifferentDict(dict):  # type: ignore[type-arg]
    """An ``ActiveSupport::HashWithIndifferentAccess``: string keys, sent with its marker."""

    def __repr__(self) -> str:
        return f"IndifferentDict({dict.__repr__(self)})"


class DateTime(datetime):
    """A Ruby ``DateTime`` (rather than a ``Time``). Build one with :meth:`of`."""

    @classmethod
    def of(cls, moment: datetime) -> "DateTime":
        """``moment`` as a :class:`DateTime`, same instant and zone."""
        return cls(
            moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second, moment.microsecond, moment.tzinfo, fold=moment.fold,
        )


# The fixed-length units, longest first, that a timedelta is split into
# when it has no parts of its own (months and years vary in length).
_FIXED_PARTS = (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60))


class Duration(timedelta):
    """An ``ActiveSupport::Duration``: a length of time plus how it was written.

    ``parts`` are ``(unit, amount)`` pairs, e.g. ``(("months", 1), ("days", 2))``;
    Rails uses them for calendar arithmetic (``1.month`` is not 30 days). A
    Duration received from Rails keeps them and sends them back unchanged.
    """

    parts: tuple[tuple[str, int | float], ...]

    def __new__(cls, *args: Any, parts: Any = None, **kwargs: Any) -> "Duration":
        self = super().__new__(cls, *args, **kwargs)
        self.parts = tuple((str(unit), amount) for unit, amount in (parts or ())) or _split(self)
        return self

    @classmethod
    def of(cls, delta: timedelta) -> "Duration":
        """``delta`` as a Duration, split into weeks, days, hours, minutes and seconds."""
        if isinstance(delta, Duration):
            return delta
        return cls(days=delta.days, seconds=delta.seconds, microseconds=delta.microseconds)

    def __repr__(self) -> str:
        shown = ", ".join(f"{unit}={amount!r}" for unit, amount in self.parts)
        return f"Duration({shown})"

    def __reduce__(self) -> Any:
        return (_duration, (self.days, self.seconds, self.microseconds, self.parts))


def _duration(days: int, seconds: int, microseconds: int, parts: Any) -> Duration:
    return Duration(days=days, seconds=seconds, microseconds=microseconds, parts=parts)


def _split(delta: timedelta) -> tuple[tuple[str, int | float], ...]:
    # Like ActiveSupport::Duration.build, minus the variable-length units.
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    sign = -1 if micros < 0 else 1
    micros = abs(micros)
    parts: list[tuple[str, int | float]] = []
    for unit, size in _FIXED_PARTS:
        count, micros = divmod(micros, size * 1_000_000)
        if count:
            parts.append((unit, sign * count))
    if micros or not parts:
        seconds = micros / 1_000_000 if micros % 1_000_000 else micros // 1_000_000
        parts.append(("seconds", sign * seconds))
    return tuple(parts)


@dataclass(frozen=True)
class Module:
    """A Ruby class or module, by its constant name (``"Billing::Invoice"``)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Range:
    """A Ruby Range: ``Range(1, 10)`` is ``1..10``, ``Range(1, 10, exclude_end=True)`` is ``1...10``.

    ``begin`` or ``end`` may be None (beginless/endless ranges). ``x in r``
    works for anything comparable with the ends; integer ranges iterate.
    A Python ``range`` with step 1 is sent as ``start...stop``.
    """

    begin: Any
    end: Any
    exclude_end: bool = False

    def __contains__(self, item: Any) -> bool:
        if self.begin is not None and item < self.begin:
            return False
        if self.end is None:
            return True
        return bool(item < self.end) if self.exclude_end else bool(item <= self.end)

    def __iter__(self) -> Iterator[int]:
        if not isinstance(self.begin, int):
            raise TypeError(f"can't iterate from {type(self.begin).__name__}")
        if self.end is None:
            n = self.begin
            while True:
                yield n
                n += 1
        yield from range(self.begin, self.end if self.exclude_end else self.end + 1)


@dataclass(frozen=True)
class GlobalID:
    """A reference to a record, ``gid://<app>/<model>/<id>``, as ActiveJob sends records.

    Rails passes an ActiveRecord model as its GlobalID and finds it again on
    the other side; a Python handler gets this object and looks the record up
    itself. ``id`` is a string (a tuple of strings for a composite key).
    Any object with a ``to_global_id()`` method returning one can be passed
    to :func:`~pyresque.activejob.perform_later` in place of a record.
    """

    app: str
    model: str
    id: str | tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, uri: str) -> "GlobalID":
        """The GlobalID of a ``gid://`` URI; ``ValueError`` if it is not one."""
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "gid" or not parts.netloc:
            raise ValueError(f"not a gid:// URI: {uri!r}")
        _, model, ids = (parts.path.split("/", 2) + ["", ""])[:3]
        id_parts = tuple(urllib.parse.unquote_plus(p) for p in ids.split("/") if p)
        if not model or not id_parts:
            raise ValueError(f"expected a URI like gid://app/Person/1234: {uri!r}")
        params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        return cls(parts.netloc, model, id_parts[0] if len(id_parts) == 1 else id_parts, params)

    @property
    def uri(self) -> str:
        ids = self.id if isinstance(self.id, tuple) else (self.id,)
        path = "/".join(urllib.parse.quote_plus(str(i)) for i in ids)
        query = "?" + urllib.parse.urlencode(dict(self.params)) if self.params else ""
        return f"gid://{self.app}/{self.model}/{path}{query}"

    def __str__(self) -> str:
        return self.uri
