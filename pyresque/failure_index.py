"""An in-process index of failure lists, so a filtered page does not read 100,000 records.

Resque keeps failures in plain Redis lists and no index; answering "every
failure of class Archive" from Redis means reading and decoding every
record. A long-lived reader (the dashboard) keeps, per failure list, what
filters look at for each position: queue, wire class, real (ActiveJob)
class, exception, error message (lowercased), retried or not.

Keeping it current costs one atomic round trip per request. Failures are
only ever appended (``RPUSH``), so when the list is longer and the records
at position 0 and at the old last position are still the ones indexed (a
64-bit hash of their bytes), only the new tail is read and parsed. Any other
change (a removal, a clear, a retry of an end record) rebuilds the index
from one atomic read of the whole list, re-parsing only records whose bytes
are new. A retry elsewhere in the list (``LSET``, which only adds
``retried_at``) keeps the ends: so a filter on *retried* always reads the
whole list and checks each record's bytes against the index, while filters
on the other fields (which a retry never changes) trust the index.

The index never decides what is shown on its own: the records of a page are
read fresh, in the same atomic round trip that checks the list still is
what the index saw, and each is matched against the filter again (see
:meth:`pyresque.failed_admin.FailedAdmin.page`); a mismatch throws the index
away and the page is asked again.

Memory is bounded: at most ``max_records`` records (all lists together,
300,000 by default) and ``max_message_chars`` characters of error messages
(30 million) are indexed; beyond either, :meth:`FailureIndex.matches`
answers None and callers scan as they would without an index, until the
lists are smaller than they were then. A record costs about 200 bytes plus
its message (queue, class and exception names are shared): 20 MB for
100,000 records with short messages, about 100 MB at the bounds.
Thread-safe: one lock guards the state; a query holds it while it brings
the index up to date and matches (milliseconds once warm), not while the
page's records are read.
"""

from __future__ import annotations

import json
import operator
import sys
import threading
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import redis as redis_py

from pyresque.browse import job_classes
from pyresque.keys import Keys

if TYPE_CHECKING:
    from pyresque.failed_admin import FailureFilter

MAX_RECORDS = 300_000
MAX_MESSAGE_CHARS = 30_000_000
_CHUNK = 2000  # records per LRANGE of a full read
_TAIL = 5000  # new records fetched with the freshness check; more than that rebuilds


# A record's (queue, wire class, real class, exception, error lowercased, retried, is a JSON object).
Row = tuple[Any, Any, Any, Any, str, bool, bool]
_raw_decode = json.JSONDecoder().raw_decode


def load_record(raw: bytes) -> dict[str, Any] | None:
    """A record decoded for matching only, exactly as ``json.loads`` reads it (None when
    it is not a JSON object): the C parser on UTF-8 text, ``json.loads`` for anything unusual."""
    try:
        text = raw.decode("utf-8")
        data, end = _raw_decode(text)
        if end != len(text):
            raise ValueError("more after the value")
    except (ValueError, UnicodeDecodeError, RecursionError):
        try:  # leading or trailing blanks, a BOM, UTF-16 ... or not JSON at all
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
    return data if isinstance(data, dict) else None


def _fields(raw: bytes) -> Row:
    """(queue, wire class, real class, exception, error lowercased, retried, is a JSON object)
    of a record, as :meth:`FailureFilter.matches_data` reads them."""
    data = load_record(raw)
    if data is None:
        return None, None, None, None, "", False, False
    cls, real = job_classes(data.get("payload"))
    return (_shared(data.get("queue")), _shared(cls), _shared(real), _shared(data.get("exception")),
            str(data.get("error") or "").lower(), bool(data.get("retried_at")), True)


def _shared(value: Any) -> Any:
    """One copy of each queue, class and exception name, however many records repeat it."""
    return sys.intern(value) if type(value) is str else value


@dataclass
class _List:
    """One list's columns, position by position, and what its ends looked like."""

    hashes: list[int] = field(default_factory=list)
    queues: list[Any] = field(default_factory=list)
    classes: list[Any] = field(default_factory=list)
    job_classes: list[Any] = field(default_factory=list)
    exceptions: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retried: list[bool] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    message_chars: int = 0

    @property
    def size(self) -> int:
        return len(self.hashes)

    @classmethod
    def assemble(cls, hashes: list[int], parsed: dict[int, Row], old: "_List | None") -> "_List":
        """The index of a list read whole: ``hashes`` of every record, the fields of those
        ``old`` did not have (``parsed``, by position); the rest come from ``old``."""
        if old is not None and len(hashes) >= old.size and all(
                i in parsed or old.hashes[i] == h for i, h in enumerate(hashes[:old.size])):
            for i, row in sorted(parsed.items()):  # rewritten in place, or appended
                old.put(i, hashes[i], row)
            return old
        lst = cls(hashes=hashes)
        if old is None:
            for column, values in zip(lst._columns(), zip(*(parsed[i] for i in range(len(hashes))))):
                column.extend(values)
        else:  # moved (a removal shifted them): find each record's fields by its bytes' hash
            known = {h: i for i, h in enumerate(old.hashes)}
            where = [-1 if i in parsed else known[h] for i, h in enumerate(hashes)]
            for column, before in zip(lst._columns(), old._columns()):
                column.extend([before[i] if i >= 0 else None for i in where])
            for i, row in parsed.items():
                for column, value in zip(lst._columns(), row):
                    column[i] = value
        lst.message_chars = sum(map(len, lst.errors))
        return lst

    def append(self, raw: bytes) -> None:
        """Index ``raw`` as the next position."""
        self.put(self.size, hash(raw), _fields(raw))

    def put(self, i: int, h: int, row: Row) -> None:
        """Index position ``i`` (an existing one, rewritten in place, or the next one)."""
        if i == self.size:
            self.hashes.append(h)
            for column, value in zip(self._columns(), row):
                column.append(value)
            self.message_chars += len(row[4])
            return
        self.message_chars += len(row[4]) - len(self.errors[i])
        self.hashes[i] = h
        for column, value in zip(self._columns(), row):
            column[i] = value

    def _columns(self) -> tuple[list[Any], ...]:
        # In _fields' order.
        return (self.queues, self.classes, self.job_classes, self.exceptions, self.errors, self.retried, self.valid)

    def ends(self) -> tuple[int, int]:
        return self.hashes[0], self.hashes[-1]


@dataclass(frozen=True)
class Matches:
    """The records a filter matched, list by list (positions ascending), and what each list looked like."""

    positions: list[tuple[str, list[int]]]
    states: dict[str, tuple[int, int, int]]  # name -> (size, hash at 0, hash at size-1)
    total_records: int

    @property
    def total(self) -> int:
        return sum(len(p) for _, p in self.positions)

    def pick(self, start: int, count: int, newest_first: bool) -> list[tuple[str, int]]:
        """Matches ``start``..``start+count-1`` in display order: lists in order, each oldest
        first, the whole sequence reversed when newest first."""
        out: list[tuple[str, int]] = []
        lists = reversed(self.positions) if newest_first else iter(self.positions)
        for name, found in lists:
            if count <= 0:
                break
            if start >= len(found):
                start -= len(found)
                continue
            if newest_first:
                chosen = found[len(found) - 1 - start::-1][:count]
            else:
                chosen = found[start:start + count]
            out.extend((name, i) for i in chosen)
            count -= len(chosen)
            start = 0
        return out


class FailureIndex:
    """Filterable fields of every record of the failure lists it is asked about."""

    def __init__(self, client: redis_py.Redis, keys: Keys, *, max_records: int = MAX_RECORDS,
                 max_message_chars: int = MAX_MESSAGE_CHARS) -> None:
        self.client = client
        self.keys = keys
        self.max_records = max_records
        self.max_message_chars = max_message_chars
        self._lists: dict[str, _List] = {}
        self._stale: set[str] = set()
        self._over_bound_at: int | None = None  # records in all, when the lists last went over the bound
        self._lock = threading.Lock()
        self.rebuilds = 0  # full reads so far (for tests and the bench)

    def retain(self, names: Sequence[str]) -> None:
        """Forget every list but ``names`` (the failure lists that exist now)."""
        keep = set(names)
        with self._lock:
            for name in [n for n in self._lists if n not in keep]:
                del self._lists[name]

    def stale(self, names: Sequence[str]) -> None:
        """Mark ``names`` as changed in place: the next query reads them whole (re-parsing only what changed)."""
        with self._lock:
            self._stale.update(names)

    def matches(self, names: Sequence[str], flt: "FailureFilter") -> Matches | None:
        """The positions of the records matching ``flt`` in ``names``, brought up to date first.

        None when the lists are over the memory bound (scan instead)."""
        with self._lock:
            if not self._refresh(names, verify=flt.retried is not None):
                return None
            positions = []
            states = {}
            total = 0
            for name in names:
                lst = self._lists[name]
                total += lst.size
                states[name] = (lst.size, *lst.ends()) if lst.size else (0, 0, 0)
                positions.append((name, _positions(lst, flt)))
            return Matches(positions, states, total)

    def fetch(self, found: Matches, spots: Sequence[tuple[str, int]]) -> list[bytes | None] | None:
        """The records at ``spots``, read atomically with a check that each list still starts with
        what the index saw; None when a list changed otherwise (ask :meth:`matches` again)."""
        names = sorted({name for name, _ in spots})
        pipe = self.client.pipeline(transaction=True)
        for name in names:
            size, _, _ = found.states[name]
            key = self.keys.failed_list(name)
            pipe.llen(key)
            pipe.lindex(key, 0)
            pipe.lindex(key, size - 1)
        for name, index in spots:
            pipe.lindex(self.keys.failed_list(name), index)
        replies = pipe.execute()
        for n, name in enumerate(names):
            size, first, last = found.states[name]
            now, head, tail = replies[3 * n:3 * n + 3]
            # Appended-to is fine: every indexed position still holds its record.
            if now < size or head is None or tail is None or hash(head) != first or hash(tail) != last:
                return None
        return list(replies[3 * len(names):])

    # Keeping lists current -----------------------------------------------------
    def _refresh(self, names: Sequence[str], *, verify: bool) -> bool:
        """Bring every list of ``names`` up to date: one round trip checks them all and
        brings their new tails; a list that changed otherwise (or every list, with
        ``verify``) is read whole. False, keeping nothing, when over the memory bound."""
        if self._over_bound_at is not None:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.llen(self.keys.failed_list(name))
            if sum(pipe.execute()) >= self._over_bound_at:
                return False  # still as big as when it went over: don't read it all again to find out
            self._over_bound_at = None
        known = [n for n in names if n in self._lists and n not in self._stale and not verify]
        pipe = self.client.pipeline(transaction=True)
        for name in known:
            key, lst = self.keys.failed_list(name), self._lists[name]
            pipe.llen(key)
            pipe.lindex(key, 0)
            pipe.lindex(key, max(0, lst.size - 1))
            pipe.lrange(key, lst.size, lst.size + _TAIL - 1)
        replies = pipe.execute()
        current = set()
        for n, name in enumerate(known):
            lst = self._lists[name]
            size, head, last, tail = replies[4 * n:4 * n + 4]
            same_start = lst.size == 0 or (
                head is not None and last is not None and (hash(head), hash(last)) == lst.ends())
            if same_start and size >= lst.size and size - lst.size <= len(tail):
                for raw in tail[:size - lst.size]:
                    lst.append(raw)
                current.add(name)
        for name in names:
            if name not in current and not self._rebuild(name, self.keys.failed_list(name), self._lists.get(name)):
                return self._give_up(names)
        kept = self._lists.values()  # every list kept, not only those asked about now
        if sum(x.size for x in kept) > self.max_records or sum(x.message_chars for x in kept) > self.max_message_chars:
            return self._give_up(names)
        return True

    def _give_up(self, names: Sequence[str]) -> bool:
        """Over the memory bound: keep nothing, and remember how big the lists were."""
        self._lists.clear()
        self._stale.clear()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.llen(self.keys.failed_list(name))
        self._over_bound_at = sum(pipe.execute())
        return False

    def _rebuild(self, name: str, key: str, old: _List | None) -> bool:
        """Read the whole list; records whose bytes were indexed before keep their fields.

        One ``LRANGE`` per chunk, one after the other, each chunk hashed and
        let go: neither a transaction nor a pipeline, because redis-py reads a
        reply of many megabytes ten times slower than the same records in
        2,000-record replies (and holding 100,000 records at once costs a
        fresh 60 MB per request). So it is checked instead: the first
        ``size`` records are a true snapshot when, after the read, the list is
        no shorter and still starts with the same record (appends leave every
        earlier position alone). Otherwise it is read again."""
        for _ in range(3):
            pipe = self.client.pipeline(transaction=True)
            pipe.llen(key)
            pipe.lindex(key, 0)
            size, head = pipe.execute()
            if size > self.max_records:
                return False
            hashes: list[int] = []
            parsed: dict[int, Row] = {}
            known: set[int] | None = None
            for start in range(0, size, _CHUNK):
                chunk = self.client.lrange(key, start, min(size, start + _CHUNK) - 1)
                chunk_hashes = list(map(hash, chunk))
                hashes.extend(chunk_hashes)
                if old is not None and chunk_hashes == old.hashes[start:start + len(chunk)]:
                    continue  # unchanged, as nearly always
                for i, (raw, h) in enumerate(zip(chunk, chunk_hashes), start):
                    if old is not None and i < old.size and old.hashes[i] == h:
                        continue
                    if old is not None and i < old.size:
                        known = known if known is not None else set(old.hashes)
                        if h in known:
                            continue  # moved here: its fields come from where it was
                    parsed[i] = _fields(raw)
            pipe = self.client.pipeline(transaction=True)
            pipe.llen(key)
            pipe.lindex(key, 0)
            after, head_after = pipe.execute()
            if after < size or head != head_after or len(hashes) != size:
                continue  # removed from or rewritten while we read
            self._done(name, _List.assemble(hashes, parsed, old))
            return True
        return False  # too busy to read consistently: scan this time

    def _done(self, name: str, lst: _List) -> None:
        self._lists[name] = lst
        self._stale.discard(name)
        self.rebuilds += 1


def _positions(lst: _List, flt: "FailureFilter") -> list[int]:
    """Positions whose columns match ``flt``: :meth:`FailureFilter.matches_data`, column by
    column, each test a C-level pass over the column (a few ms for 100,000 records)."""
    tests: list[Iterator[Any]] = []
    if flt.queue:
        tests.append(map(operator.eq, lst.queues, repeat(flt.queue)))
    if flt.exception:
        tests.append(map(operator.eq, lst.exceptions, repeat(flt.exception)))
    if flt.job_class:
        tests.append(map(operator.or_, map(operator.eq, lst.classes, repeat(flt.job_class)),
                         map(operator.eq, lst.job_classes, repeat(flt.job_class))))
    if flt.text:
        tests.append(map(operator.contains, lst.errors, repeat(flt.text.lower())))
    if flt.retried is not None:
        tests.append(iter(lst.retried) if flt.retried else map(operator.not_, lst.retried))
    if not tests:  # an empty filter matches every record, JSON or not
        return list(range(lst.size))
    mask: Iterator[Any] = iter(lst.valid)  # a record that is not a JSON object matches no filter
    for test in tests:
        mask = map(operator.and_, mask, test)
    return list(compress(range(lst.size), mask))
