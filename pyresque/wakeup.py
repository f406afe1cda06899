"""Waking an idle worker the moment a job arrives, from Ruby or Python.

Ruby Resque polls every 5 seconds. pyresque instead asks Redis (>= 6) to
*tell* it when a queue changes, using client-side caching in broadcast mode:
one connection subscribes to ``__redis__:invalidate``; another turns on
``CLIENT TRACKING ... REDIRECT <subscriber> BCAST`` for the prefixes of the
queue lists, the ``queues`` set and the ``pause-all-workers`` key. Any write
to those keys by anyone (a Ruby ``RPUSH`` included) sends the subscriber a
message. This needs no server configuration and no cooperation from
enqueuers.

The worker waits on that socket *and* on a signal wake-up pipe with
``select``, so signals are handled at once and the wait also ends when a
heartbeat or the polling interval is due. Where tracking is unavailable the
watcher degrades to a plain interruptible sleep, i.e. Ruby's polling.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from typing import Any

import redis as redis_py

from pyresque.connection import as_name, raw_connection
from pyresque.keys import Keys

log = logging.getLogger(__name__)

_CHANNEL = "__redis__:invalidate"

# Seconds between attempts to turn notifications back on after Redis was unreachable.
_RETRY_S = 1.0
# The most written keys remembered between two calls of QueueWatcher.changes().
_MAX_CHANGED = 10_000


class SignalPipe:
    """A pipe the C-level signal handler writes to, so ``select`` wakes on signals."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._previous = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous if self._previous != self.write_fd else -1)
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class QueueWatcher:
    """Blocks until a watched key changes, a signal arrives, or a timeout."""

    def __init__(self, client: redis_py.Redis, keys: Keys, signals: SignalPipe | None,
                 prefixes: list[str] | None = None) -> None:
        self._client = client
        # The worker watches its queues; the scheduler passes its own keys.
        self._prefixes = prefixes or [keys.queue_prefix, keys.queues, keys.pause_all]
        self._signals = signals
        self._subscriber: Any = None
        self._tracker: Any = None
        self.tracking = False
        # When to try again after Redis could not be reached (None: don't).
        self._retry_at: float | None = None
        # The watched keys written since changes() was last asked; True: any may have been.
        self._changed: set[bytes] = set()
        self._all_changed = True

    def start(self) -> bool:
        """Turn notifications on; False (and polling) if this Redis cannot."""
        self._all_changed = True  # nothing was watched until now
        try:
            self._connect()
            self.tracking = True
            self._retry_at = None
        except (redis_py.RedisError, OSError) as exc:
            self.close()
            self.tracking = False
            # A Redis that refuses tracking (< 6) will not change its mind; one
            # that is down or restarting will come back, and so must tracking,
            # or the worker would poll every interval from then on.
            unreachable = isinstance(exc, (redis_py.ConnectionError, redis_py.TimeoutError, OSError))
            if self._retry_at is None and not unreachable:  # an outage is the worker's to report
                log.warning("queue change notifications unavailable (%s); polling instead", exc)
            self._retry_at = time.monotonic() + _RETRY_S if unreachable else None
        return self.tracking

    def _connect(self) -> None:
        self._subscriber = raw_connection(self._client)
        self._subscriber.send_command("CLIENT", "ID")
        subscriber_id = self._subscriber.read_response()
        self._subscriber.send_command("SUBSCRIBE", _CHANNEL)
        self._subscriber.read_response()
        self._tracker = raw_connection(self._client)
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "REDIRECT", subscriber_id, "BCAST"]
        for prefix in self._prefixes:
            args += ["PREFIX", prefix]
        self._tracker.send_command(*args)
        self._tracker.read_response()

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``. True if a watched key changed (or may have)."""
        if not self.tracking and self._retry_at is not None:
            # Notifications are off since Redis went away: try again when due,
            # not only after a whole polling interval.
            until_retry = self._retry_at - time.monotonic()
            if until_retry > 0 and until_retry < timeout_s:
                if self._sleep_for_signal(until_retry):
                    return False
                timeout_s -= until_retry
            if time.monotonic() >= self._retry_at and self.start():
                return True  # notifications were off: the queues may have changed
        if self.tracking and self._pending():
            return True
        fds = []
        sock = getattr(self._subscriber, "_sock", None) if self.tracking else None
        if sock is not None:
            fds.append(sock)
        # The tracking connection never receives anything (its notifications
        # go to the subscriber), so it readable means Redis closed it: idle
        # ``timeout``, CLIENT KILL, a proxy. Its tracking died with it, and
        # nothing else would tell us: watch it too.
        tracker_sock = getattr(self._tracker, "_sock", None) if self.tracking else None
        if tracker_sock is not None:
            fds.append(tracker_sock)
        if self._signals is not None:
            fds.append(self._signals.read_fd)
        if not fds:
            return _sleep(timeout_s)
        try:
            ready, _, _ = select.select(fds, [], [], max(0.0, timeout_s))
        except InterruptedError:
            return False
        if self._signals is not None and self._signals.read_fd in ready:
            self._signals.drain()
        if tracker_sock is not None and tracker_sock in ready:
            self._reconnect()
            return True
        if sock is not None and sock in ready:
            try:
                return self._pending() or True
            except (redis_py.RedisError, OSError):
                self._reconnect()
                return True
        return False

    def _sleep_for_signal(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True if a signal cut it short."""
        fds = [self._signals.read_fd] if self._signals is not None else []
        try:
            ready, _, _ = select.select(fds, [], [], max(0.0, timeout_s))
        except InterruptedError:
            return True
        if ready:
            self._signals.drain()  # type: ignore[union-attr]
            return True
        return False

    def changes(self) -> tuple[bool, set[bytes]]:
        """What was written since the last call: (anything may have been, the keys written).

        Without notifications anything may have changed, always. Drains the
        messages that have arrived, without waiting.
        """
        if self.tracking:
            self._pending()
        if not self.tracking:
            return True, set()
        changes = (self._all_changed, self._changed)
        self._all_changed, self._changed = False, set()
        return changes

    def _pending(self) -> bool:
        """Consume every message already received; True if there was one."""
        seen = False
        try:
            while self._subscriber.can_read(timeout=0):
                self._note(self._subscriber.read_response())
                seen = True
        except (redis_py.RedisError, OSError):
            self._reconnect()
            return True
        return seen

    def _note(self, message: Any) -> None:
        # ["message", "__redis__:invalidate", [key, ...]]; None for the keys
        # when Redis flushed everything.
        if isinstance(message, list) and len(message) == 3 and message[0] in (b"message", "message"):
            keys = message[2]
            if self._all_changed:
                return  # the keys would add nothing to "anything may have changed"
            if isinstance(keys, list):
                self._changed.update(k if isinstance(k, bytes) else str(k).encode() for k in keys)
                if len(self._changed) <= _MAX_CHANGED:
                    return
            # A flush; or more keys than worth keeping (nobody asked for
            # changes() in a while, as the scheduler never does).
            self._all_changed = True
            self._changed.clear()

    def _reconnect(self) -> None:
        # A lost notification connection must never lose a job: the caller
        # re-checks the queues whenever this returns True.
        self.close()
        self.start()

    def close(self) -> None:
        self._all_changed = True
        for conn in (self._tracker, self._subscriber):
            if conn is not None:
                try:
                    conn.disconnect()
                except Exception:  # noqa: BLE001 - closing must not fail
                    pass
        self._tracker = self._subscriber = None


def _sleep(timeout_s: float) -> bool:
    select.select([], [], [], max(0.0, timeout_s))
    return False


class KnownEmpty:
    """The queues a worker saw empty since their last write, left out of its reserves.

    A worker on many queues (``*`` over hundreds) would otherwise send every
    queue's key with every reserve, and Redis check each, though most are
    empty. A queue the reserve script found empty is left out of the next
    reserves until a notification says its list was written: every write to
    a queue, by anyone, sends one (see :class:`QueueWatcher`), and the
    messages that have arrived are read before each reserve. A write after
    the script saw the queue empty is notified after its reply, so it is
    never missed. Without notifications (or after losing them) nothing is
    left out.
    """

    def __init__(self, watcher: QueueWatcher, keys: Keys) -> None:
        self._watcher = watcher
        self._keys = keys
        self._empty: set[str] = set()

    def among(self, queues: list[str]) -> list[str]:
        """``queues``, in order, less those known to be empty."""
        everything, written = self._watcher.changes()
        if everything:
            self._empty.clear()
        elif self._empty:
            for key in written:
                name = self._keys.queue_name(as_name(key))  # the exact bytes, as the worker names it
                if name is not None:
                    self._empty.discard(name)
        if not self._empty:
            return queues
        # Never none: the script reads the pause key only when asked for a job.
        return [q for q in queues if q not in self._empty] or queues[:1]

    def saw(self, asked: list[str], taken_from: str | None) -> None:
        """A reserve went through ``asked`` in order and took a job from ``taken_from``
        (None: from none): every queue before it was empty."""
        if not self._watcher.tracking:
            return
        if taken_from is None:
            self._empty.update(asked)
        else:
            self._empty.update(asked[:asked.index(taken_from)])
