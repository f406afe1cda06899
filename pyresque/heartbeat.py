"""The worker's heartbeat: Ruby's format, Ruby's clock, Ruby's interval.

Every ``interval_s`` (60 s, as Ruby) the parent writes
``HSET workers:heartbeat <id> <time>`` where the time comes from Redis
``TIME`` (so every worker shares one clock) formatted as Ruby's
``Time#iso8601``. Ruby workers prune any worker whose heartbeat is older than
300 s, so the beat runs in a thread and keeps going while a long job runs.

The thread has its own connection pool: a forked child then never inherits
a pool whose lock the thread happened to hold.
"""

from __future__ import annotations

import logging
import threading

import redis as redis_py

from pyresque import times
from pyresque.connection import clone
from pyresque.keys import Keys

log = logging.getLogger(__name__)

INTERVAL_S = 60.0
PRUNE_AFTER_S = 300.0


def beat(client: redis_py.Redis, keys: Keys, worker_id: str) -> None:
    """Write one heartbeat now."""
    server_s, _ = client.time()
    client.hset(keys.heartbeat, worker_id, times.heartbeat(server_s))


class Heartbeat:
    """A daemon thread that beats until :meth:`stop`."""

    def __init__(self, client: redis_py.Redis, keys: Keys, worker_id: str, interval_s: float = INTERVAL_S) -> None:
        self._client = clone(client)
        self._keys = keys
        self._worker_id = worker_id
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyresque-heartbeat", daemon=True)

    def start(self) -> None:
        """Clear any old beat, write the first one now, then keep beating."""
        self._client.hdel(self._keys.heartbeat, self._worker_id)
        beat(self._client, self._keys, self._worker_id)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                beat(self._client, self._keys, self._worker_id)
            except redis_py.RedisError as exc:
                log.warning("heartbeat failed, will retry: %s", exc)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._client.close()
