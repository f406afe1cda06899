"""The worker's heartbeat: Ruby's format, Ruby's clock, Ruby's interval.

Every ``interval_s`` (60 s, as Ruby) the parent writes
``HSET workers:heartbeat <id> <time>`` where the time comes from Redis
``TIME`` (so every worker shares one clock) formatted as Ruby's
``Time#iso8601``. Ruby workers prune any worker whose heartbeat is older than
300 s, so the beat runs in a thread and keeps going while a long job runs.

Once the worker has registered, every beat also re-registers it (``SADD
workers``, ``SET worker:<id>:started NX``): after a Redis restart that lost
them, or a prune while this process was frozen, Ruby and resque-web see the
worker again at the next beat. The thread watches its connection, so a
restart (which closes it) brings that beat at once rather than a minute
later; a failed beat is retried within seconds, with backoff.

The thread has its own connection: a forked child then never inherits a
pool whose lock the thread happened to hold.
"""

from __future__ import annotations

import logging
import os
import select
import threading

import redis as redis_py

from pyresque import times
from pyresque.connection import clone
from pyresque.keys import Keys
from pyresque.outage import Outage

log = logging.getLogger(__name__)

INTERVAL_S = 60.0
PRUNE_AFTER_S = 300.0


def beat(client: redis_py.Redis, keys: Keys, worker_id: str, reregister: bool = False) -> None:
    """Write one heartbeat now; with ``reregister``, restore the registration too."""
    server_s, _ = client.time()
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.heartbeat, worker_id, times.heartbeat(server_s))
    if reregister:
        pipe.sadd(keys.workers, worker_id)
        pipe.set(keys.worker_started(worker_id), times.started(server_s), nx=True)
    pipe.execute()


class Heartbeat:
    """A daemon thread that beats until :meth:`stop`."""

    def __init__(self, client: redis_py.Redis, keys: Keys, worker_id: str, interval_s: float = INTERVAL_S,
                 outage: Outage | None = None) -> None:
        self._client = clone(client, single_connection_client=True)
        self._keys = keys
        self._worker_id = worker_id
        self._interval_s = interval_s
        # Set once the worker has registered: from then on beats re-register.
        self.registered = False
        # Shared with the worker loop, so an outage is logged once, not once per thread.
        self._outage = outage if outage is not None else Outage(f"heartbeat of {worker_id}", log)
        self._stopped = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="pyresque-heartbeat", daemon=True)

    def start(self) -> None:
        """Clear any old beat, write the first one now, then keep beating."""
        self._client.hdel(self._keys.heartbeat, self._worker_id)
        beat(self._client, self._keys, self._worker_id)
        self._thread.start()

    def beat_soon(self) -> None:
        """Beat (and so re-register) now rather than at the next interval."""
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass

    def _run(self) -> None:
        delay_s = self._interval_s
        while self._sleep(delay_s):
            try:
                beat(self._client, self._keys, self._worker_id, self.registered)
                self._outage.succeeded()
                delay_s = self._interval_s
            except redis_py.RedisError as exc:
                delay_s = min(self._outage.failed(exc), self._interval_s)
            except Exception:  # noqa: BLE001 - the thread must outlive any one failed beat
                log.exception("heartbeat of %s failed; trying again", self._worker_id)
                delay_s = self._interval_s

    def _sleep(self, timeout_s: float) -> bool:
        """Wait for the next beat: False once stopped.

        Also wakes when Redis closes the connection (a restart): the next
        beat then reconnects and re-registers at once.
        """
        sock = getattr(self._client.connection, "_sock", None)
        fds = [self._wake_r] + ([sock] if sock is not None else [])
        try:
            ready, _, _ = select.select(fds, [], [], timeout_s)
        except (OSError, ValueError):  # the socket was closed under us
            ready = []
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 512)
            except OSError:
                pass
        if sock is not None and sock in ready:
            self._client.connection.disconnect()  # closed by Redis: reconnect on the next beat
        return not self._stopped

    def stop(self) -> None:
        self._stopped = True
        self.beat_soon()
        if self._thread.is_alive():
            # A beat stuck on a Redis that does not answer is not waited
            # for: the thread is a daemon, and closing its client ends it.
            self._thread.join(1)
        self._client.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
