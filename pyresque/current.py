"""The client of the job running now, for code that re-enqueues from inside a job.

A retry (resque-retry's ``try_again``, ActiveJob's ``retry_on``) enqueues
the job again through the keyspace it came from. Ruby reaches for the global
``Resque.redis``; pyresque has no global client, so the worker says which
client runs the job, for the duration of the job only.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from pyresque.client import Resque

_client: contextvars.ContextVar[Any] = contextvars.ContextVar("pyresque_current_client", default=None)


def client() -> "Resque":
    """The :class:`~pyresque.client.Resque` of the worker running the current job."""
    found = _client.get()
    if found is None:
        raise LookupError("no current Resque client: this is only available while a worker runs a job")
    return found


@contextlib.contextmanager
def running_with(resque: "Resque | None") -> Iterator[None]:
    """Make ``resque`` the current client inside the block (no-op for None)."""
    if resque is None:
        yield
        return
    token = _client.set(resque)
    try:
        yield
    finally:
        _client.reset(token)
