"""Acting on one item of a Redis list by its content, not by its index alone.

Queues and failure lists are addressed by position, and positions shift
whenever anyone pushes, pops, retries or removes. An action therefore names
an item by its position *and* the SHA-1 of its bytes (:func:`browse.digest`):
:func:`locate` finds it at that position, or wherever it has moved to, or
reports it gone; the write then acts on the exact bytes (``LREM`` by value,
or a script that checks ``LINDEX`` first), so it can never hit a neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis as redis_py

from pyresque.browse import digest
from pyresque.errors import ItemChanged
from pyresque.keys import Keys
from pyresque.scripts import source

_CHUNK = 1000


@dataclass(frozen=True)
class Located:
    index: int
    raw: bytes


def locate(client: redis_py.Redis, key: str, index: int, sha: str) -> Located | None:
    """The item with digest ``sha``: at ``index`` if still there, else the first in the list."""
    if index >= 0:
        raw = client.lindex(key, index)
        if raw is not None and digest(raw) == sha:
            return Located(index, raw)
    size = int(client.llen(key))
    for start in range(0, size, _CHUNK):
        for i, raw in enumerate(client.lrange(key, start, start + _CHUNK - 1)):
            if digest(raw) == sha:
                return Located(start + i, raw)
    return None


def remove(client: redis_py.Redis, key: str, index: int, sha: str, what: str) -> Located:
    """Remove the item ``(index, sha)`` names; :class:`ItemChanged` if it is gone.

    ``LREM key 1 <bytes>`` removes the first item with exactly those bytes:
    an identical twin is the same job, so whichever goes is the one meant.
    """
    found = locate(client, key, index, sha)
    if found is None or not client.lrem(key, 1, found.raw):
        raise ItemChanged(f"{what} is no longer there (someone else removed or changed it); nothing was done")
    return found


def remove_queue_if_empty(client: redis_py.Redis, keys: Keys, queue: str) -> None:
    """Forget ``queue`` (SREM from ``queues``) only while it has no jobs."""
    script = client.register_script(source("remove_empty_queue"))
    result = int(script(keys=[keys.queues, keys.queue(queue)], args=[queue]))
    if result == 0:
        raise ItemChanged(f"queue {queue!r} is not empty; clear it first (nothing was done)")
    if result < 0:
        raise ItemChanged(f"there is no queue {queue!r}")


def clear_queue(client: redis_py.Redis, keys: Keys, queue: str) -> int:
    """Drop every job of ``queue`` but keep its name (resque-web's Clear); returns how many."""
    pipe = client.pipeline(transaction=True)
    pipe.llen(keys.queue(queue))
    pipe.delete(keys.queue(queue))
    size, _ = pipe.execute()
    return int(size)
