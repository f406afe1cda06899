"""The scheduler master lock, on resque-scheduler's own key and value.

Exactly one scheduler, Ruby or Python, moves delayed jobs and fires
recurring ones: the one holding ``<ns>:[<prefix>:]resque_scheduler_master_lock``
(namespaced again, so the namespace appears twice). Its value is
``<hostname>:<pid>``, the hostname resolved as Ruby resolves it, and it lives
``LOCK_TIMEOUT`` seconds (180 by default) unless its holder renews it, which
every scheduler does once per loop. After a ``kill -9`` of the master,
another takes over when the lock expires.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pyresque.errors import WorkerError
from pyresque.keys import Keys
from pyresque.scripts import source

DEFAULT_TIMEOUT_S = 180


def lock_value(pid: int | None = None) -> str:
    """``<hostname>:<pid>`` as Ruby writes it.

    Ruby takes the first address of the host name and asks for that
    address's name back (``Addrinfo.getaddrinfo(host, 'http').first.getnameinfo``),
    falling back to the plain host name.
    """
    host = socket.gethostname()
    try:
        address = socket.getaddrinfo(host, "http")[0][4]
        host = socket.getnameinfo(address, 0)[0]
    except OSError:
        pass
    return f"{host}:{os.getpid() if pid is None else pid}"


def _whole_seconds(timeout_s: Any) -> int:
    # EXPIRE takes whole seconds; 0 would drop the lock the moment it is taken.
    try:
        seconds = int(timeout_s)
    except (TypeError, ValueError, OverflowError):  # None, NaN, infinity
        seconds = 0
    if seconds < 1:
        raise WorkerError(f"the master lock's timeout (LOCK_TIMEOUT) must be a whole number of seconds "
                          f"of at least 1, not {timeout_s!r}")
    return seconds


class MasterLock:
    """resque-scheduler's master lock for one keyspace.

    ``lock_prefix`` is ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``: schedulers
    with different prefixes elect separate masters.
    """

    def __init__(self, client: Any, keys: Keys, *, timeout_s: int = DEFAULT_TIMEOUT_S,
                 lock_prefix: str = "", value: str | None = None) -> None:
        self.timeout_s = _whole_seconds(timeout_s)
        self.key = keys.master_lock(lock_prefix)
        self.value = value or lock_value()
        self._acquire = client.register_script(source("master_lock_acquire"))
        self._renew = client.register_script(source("master_lock_renew"))
        self._release = client.register_script(source("master_lock_release"))
        self._client = client

    def acquire_or_renew(self) -> bool:
        """Ruby's ``master?``: take the lock if free, else renew it if ours. True when we are master."""
        args = [self.value, self.timeout_s]
        return bool(int(self._acquire(keys=[self.key], args=args)) or int(self._renew(keys=[self.key], args=args)))

    def release(self) -> bool:
        """Give the lock up if we hold it (on shutdown)."""
        return bool(int(self._release(keys=[self.key], args=[self.value])))

    def holder(self) -> str | None:
        """Who is master now (``<hostname>:<pid>``), or None."""
        value = self._client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
