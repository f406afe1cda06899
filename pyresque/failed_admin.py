"""Browsing, filtering and acting on failure records, for dashboards and the CLI.

Works over every failure list of the configured backend (``failed``, or the
``<q>_failed`` lists of ``redis_multi_queue``) as one sequence, newest
first by default. Pages read only the records they show (pipelined
``LINDEX``). A filtered page asks the in-process :class:`FailureIndex` when
the admin keeps one (``indexed=True``, as the dashboard does), then reads
only the records it shows; without one (the CLI, or lists over the index's
memory bound) a filter scans the lists in chunks of ``LRANGE`` and decodes
only the records whose text could match, so 100,000 records cost one pass.

Every action names a record by list, index *and* digest (see
:mod:`pyresque.listitems`): retrying runs a script that checks the record is
still the one read, and removing is ``LREM`` by value, so an action never
hits a record the user did not see. A record that moved is found again by
its digest; one that changed or went away raises :class:`ItemChanged`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterator

import redis as redis_py

from pyresque import payload as codec
from pyresque.browse import JobView, describe_payload, digest, job_classes
from pyresque.connection import as_text
from pyresque.errors import FailureNotFound, ItemChanged
# One definition of what Retry pushes, shared with Failures.requeue and the CLI.
from pyresque.failure import FailureBackend, encode_record
from pyresque import failure as failure_mod
from pyresque.failure_index import FailureIndex, load_record as _loads
from pyresque.keys import Keys
from pyresque.listitems import locate
from pyresque.scripts import source

_CHUNK = 2000
_BATCH = 500  # actions per pipelined round trip


@dataclass(frozen=True)
class FailureView:
    """One failure record as read: where it is, its exact text and what it says."""

    list: str
    index: int
    raw: str
    digest: str
    data: dict[str, Any] | None
    raw_bytes: bytes = dataclasses.field(default=b"", repr=False, compare=False)

    def field(self, name: str) -> Any:
        return self.data.get(name) if self.data else None

    @property
    def job(self) -> JobView:
        return describe_payload(self.field("payload"))

    @property
    def retried(self) -> bool:
        return bool(self.field("retried_at"))

    def to_json(self, full: bool = False) -> dict[str, Any]:
        job = self.job
        out = {"list": self.list, "index": self.index, "digest": self.digest,
               "failed_at": self.field("failed_at"), "retried_at": self.field("retried_at"),
               "queue": self.field("queue"), "worker": self.field("worker"),
               "exception": self.field("exception"), "error": self.field("error"),
               "class": job.class_name, "job_class": job.job_class, "args": job.args,
               "valid": self.data is not None}
        if full:
            out["backtrace"] = self.field("backtrace")
            out["payload"] = self.field("payload")
            out["raw_payload"] = self.field("raw_payload")
            out["raw"] = self.raw
        return out


def _view(bare: str, index: int, raw: bytes | str) -> FailureView:
    text = as_text(raw)
    try:
        data = codec.decode(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    blob = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    return FailureView(bare, index, text, digest(raw), data if isinstance(data, dict) else None, blob)


@dataclass(frozen=True)
class FailureFilter:
    """Which records to show or act on. Empty fields match everything.

    ``queue``, ``job_class`` (the wire class or ActiveJob's real class) and
    ``exception`` match exactly; ``text`` is a case-insensitive substring of
    the error message; ``retried`` keeps only retried (True) or not yet
    retried (False) records.
    """

    queue: str = ""
    job_class: str = ""
    exception: str = ""
    text: str = ""
    retried: bool | None = None

    @property
    def empty(self) -> bool:
        return not (self.queue or self.job_class or self.exception or self.text) and self.retried is None

    def matches(self, view: FailureView) -> bool:
        return self.matches_data(view.data)

    def matches_data(self, data: dict[str, Any] | None) -> bool:
        """Whether a decoded record matches (a record that is not a JSON object matches only an empty filter)."""
        if data is None:
            return self.empty
        if self.queue and data.get("queue") != self.queue:
            return False
        if self.exception and data.get("exception") != self.exception:
            return False
        if self.job_class and self.job_class not in job_classes(data.get("payload")):
            return False
        if self.text and self.text.lower() not in str(data.get("error") or "").lower():
            return False
        if self.retried is not None and bool(data.get("retried_at")) != self.retried:
            return False
        return True

    def could_match(self, raw: bytes) -> bool:
        """A cheap test on the bytes: False only when the record surely does not match.

        JSON may escape any character (``\\u003c``), so a record with an
        escape is always decoded; otherwise every wanted value appears
        literally in the text.
        """
        if b"\\" in raw:
            return True
        lowered = raw.lower()
        for needle in (self.queue, self.job_class, self.exception, self.text):
            if needle and needle.lower().encode("utf-8", "surrogateescape") not in lowered:
                return False
        if self.retried and b'"retried_at"' not in raw:
            return False
        return True

    def to_args(self) -> dict[str, str]:
        out = {"queue": self.queue, "class": self.job_class, "exception": self.exception, "q": self.text}
        if self.retried is not None:
            out["retried"] = "yes" if self.retried else "no"
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class FailurePage:
    total: int
    start: int
    items: list[FailureView]
    scanned: int  # records looked at (all of them when filtering)


class FailedAdmin:
    """Failure records of one keyspace, under its configured backend."""

    def __init__(self, client: redis_py.Redis, keys: Keys, backend: FailureBackend, *,
                 indexed: bool = False) -> None:
        """``indexed`` keeps a :class:`FailureIndex` for filtered pages: worth it in a
        long-lived process that shows many filtered pages (a dashboard), not in a one-shot one."""
        self.client = client
        self.keys = keys
        self.backend = backend
        self.index = FailureIndex(client, keys) if indexed else None

    def lists(self) -> list[tuple[str, int]]:
        """Each failure list's bare name and length, in one round trip."""
        names = self.backend.failed_queues()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.llen(self.keys.failed_list(name))
        return list(zip(names, (int(n) for n in pipe.execute())))

    def _names(self, only: str | None) -> list[tuple[str, int]]:
        lists = self.lists()
        if only:
            lists = [(n, c) for n, c in lists if n == only]
        return lists

    def count(self, only: str | None = None) -> int:
        return sum(c for _, c in self._names(only))

    def page(self, start: int = 0, count: int = 20, *, only: str | None = None,
             flt: FailureFilter | None = None, newest_first: bool = True) -> FailurePage:
        """Records ``start``..``start+count-1`` in display order, optionally filtered."""
        start = max(0, start)
        if flt is not None and not flt.empty:
            return self._filtered_page(start, count, only, flt, newest_first)
        lists = self._names(only)
        total = sum(c for _, c in lists)
        # Display position -> (list, index): lists in order, each oldest first, reversed if newest first.
        spots = []
        for pos in range(start, min(total, start + max(0, count))):
            p = total - 1 - pos if newest_first else pos
            for name, size in lists:
                if p < size:
                    spots.append((name, p))
                    break
                p -= size
        pipe = self.client.pipeline(transaction=False)
        for name, index in spots:
            pipe.lindex(self.keys.failed_list(name), index)
        items = [_view(name, index, raw) for (name, index), raw in zip(spots, pipe.execute()) if raw is not None]
        return FailurePage(total, start, items, len(items))

    def _scan(self, only: str | None, flt: FailureFilter, newest_first: bool = True) -> Iterator[FailureView]:
        """Every record the filter matches, as views. Matching decodes with the C
        JSON parser and builds nothing; only matches become views."""
        found = [_view(name, index, raw) for name, index, raw in self._matches(only, flt)]
        return reversed(found) if newest_first else iter(found)

    def _matches(self, only: str | None, flt: FailureFilter) -> list[tuple[str, int, bytes]]:
        found = []
        for name, size in self._names(only):
            key = self.keys.failed_list(name)
            for chunk_start in range(0, size, _CHUNK):
                for i, raw in enumerate(self.client.lrange(key, chunk_start, chunk_start + _CHUNK - 1)):
                    if flt.could_match(raw) and flt.matches_data(_loads(raw)):
                        found.append((name, chunk_start + i, raw))
        return found

    def _filtered_page(self, start: int, count: int, only: str | None, flt: FailureFilter,
                       newest_first: bool) -> FailurePage:
        page = self._indexed_page(start, count, only, flt, newest_first) if self.index is not None else None
        if page is not None:
            return page
        matches = self._matches(only, flt)
        if newest_first:
            matches.reverse()
        items = [_view(name, index, raw) for name, index, raw in matches[start:start + count]]
        return FailurePage(len(matches), start, items, self.count(only))

    def _indexed_page(self, start: int, count: int, only: str | None, flt: FailureFilter,
                      newest_first: bool) -> FailurePage | None:
        """A filtered page from the index, its records read fresh and matched again; None to scan.

        The index only says where to look. If a list changed under it, or a
        record it pointed at no longer matches (rewritten in place), it is
        brought up to date (or thrown away) and asked again."""
        assert self.index is not None
        lists = [name for name, _ in self.lists()]
        self.index.retain(lists)  # a redis_multi_queue list may have gone
        names = [name for name in lists if not only or name == only]
        for attempt in range(3):
            found = self.index.matches(names, flt)
            if found is None:
                return None  # over the index's memory bound
            chosen = found.pick(start, count, newest_first)
            raws = self.index.fetch(found, chosen)
            if raws is None:
                continue  # a list changed between the two round trips: look again
            if all(raw is not None and flt.matches_data(_loads(raw)) for raw in raws):
                items = [_view(name, index, raw) for (name, index), raw in zip(chosen, raws) if raw is not None]
                return FailurePage(found.total, start, items, found.total_records)
            self.index.stale(names)  # a record was rewritten in place: read everything next time
        return None

    def get(self, name: str, index: int) -> FailureView:
        self._check_list(name)
        raw = self.client.lindex(self.keys.failed_list(name), index)
        if raw is None:
            raise ItemChanged(f"there is no failure {index} in {name!r}")
        return _view(name, index, raw)

    def _check_list(self, name: str) -> None:
        if name not in self.backend.failed_queues():
            raise ItemChanged(f"there is no failure list {name!r}")

    # Actions -----------------------------------------------------------------
    def retry(self, name: str, index: int, sha: str) -> FailureView:
        """Queue the record's job again and stamp it ``retried_at``, as Ruby's Retry does."""
        self._check_list(name)
        key = self.keys.failed_list(name)
        for _ in range(5):
            found = locate(self.client, key, index, sha)
            if found is None:
                raise ItemChanged(f"failure {index} of {name!r} is no longer there or has changed "
                                  "(someone else retried or removed it); nothing was done")
            if int(self._retry_at(name, found.index, found.raw)):
                return _view(name, found.index, found.raw)
            index = found.index
        raise ItemChanged(f"failure {index} of {name!r} keeps moving; nothing was done, try again")

    def _retry_at(self, name: str, index: int, raw: bytes, client: Any = None) -> Any:
        """Run (or, with a pipeline as ``client``, queue) the script that retries the record
        at ``index`` if it still has the bytes ``raw``; its reply is 1 when done."""
        view = _view(name, index, raw)
        if view.data is None:
            raise ItemChanged(f"failure {index} of {name!r} is not valid JSON and cannot be retried")
        data = dict(view.data)
        job = requeued_job(index, data)
        queue = str(data.get("queue") or "")
        if not queue:
            raise ItemChanged(f"failure {index} of {name!r} names no queue to retry on")
        data["retried_at"] = self.backend.retried_at()
        script = self.client.register_script(source("retry_failure"))
        return script(keys=[self.keys.failed_list(name), self.keys.queues, self.keys.queue(queue)],
                      args=[index, raw, encode_record(data), queue, job], client=client)

    def remove(self, name: str, index: int, sha: str) -> None:
        self._check_list(name)
        key = self.keys.failed_list(name)
        found = locate(self.client, key, index, sha)
        if found is None or not self.client.lrem(key, 1, found.raw):
            raise ItemChanged(f"failure {index} of {name!r} is no longer there or has changed; nothing was done")

    def retry_matching(self, flt: FailureFilter, only: str | None = None) -> int:
        """Retry every record the filter matches (all of them for an empty filter), oldest first.

        The checked retries go in pipelined batches; a record that moved in
        the meantime is found again by its digest, one that changed or went
        away is left alone.
        """
        n = 0
        moved = []
        matches = self._matches(only, flt)
        for start in range(0, len(matches), _BATCH):
            pipe = self.client.pipeline(transaction=False)
            sent = []
            for name, index, raw in matches[start:start + _BATCH]:
                try:
                    self._retry_at(name, index, raw, client=pipe)
                except ItemChanged:
                    continue  # not retryable (no class, no queue, not JSON): as a single retry says
                sent.append((name, index, raw))
            for (name, index, raw), done in zip(sent, pipe.execute()):
                if int(done):
                    n += 1
                else:
                    moved.append((name, index, raw))
        for name, index, raw in moved:
            try:
                self.retry(name, index, digest(raw))
                n += 1
            except ItemChanged:
                pass  # gone or changed under us: not ours to retry any more
        return n

    def remove_matching(self, flt: FailureFilter, only: str | None = None) -> int:
        """Remove every record the filter matches, by value, in pipelined batches."""
        views = list(self._scan(only, flt, newest_first=False))
        n = 0
        for start in range(0, len(views), _BATCH):
            pipe = self.client.pipeline(transaction=False)
            for view in views[start:start + _BATCH]:
                pipe.lrem(self.keys.failed_list(view.list), 1, view.raw_bytes)
            n += sum(int(x) for x in pipe.execute())
        return n

    def clear(self, only: str | None = None) -> int:
        """Delete every record (of one list or all); returns how many."""
        lists = self._names(only)
        pipe = self.client.pipeline(transaction=True)
        for name, _ in lists:
            pipe.delete(self.keys.failed_list(name))
        pipe.execute()
        return sum(c for _, c in lists)

    def clear_retried(self, only: str | None = None) -> int:
        return self.remove_matching(FailureFilter(retried=True), only)


def requeued_job(index: int, data: dict[str, Any]) -> str | bytes:
    """What Retry pushes for a record: exactly what ``Failures.requeue`` pushes (the
    queued bytes when the record keeps them, else ``class`` and ``args``, as Ruby)."""
    try:
        return failure_mod.requeued_job(index, data)
    except FailureNotFound as exc:
        raise ItemChanged(f"{exc}; nothing was done") from None
