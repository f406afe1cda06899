"""Riding out a Redis outage: one log line when it starts, one when it ends.

The worker loop and the heartbeat thread each keep an :class:`Outage`. Every
failed call asks it how long to wait before trying again (a short delay that
doubles up to a cap, so a dead Redis costs a few calls a second at most and
a Redis that comes back is used again within the cap), and only the first
failure of an outage is logged, not one line per retry.
"""

from __future__ import annotations

import logging
import threading
import time

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 2.0


class Outage:
    """The current outage, if any, as seen by the users that share this
    object (the worker loop and its heartbeat thread: one line each way)."""

    def __init__(self, what: str, log: logging.Logger, first_delay_s: float = FIRST_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S) -> None:
        self.what = what
        self.log = log
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.since: float | None = None
        self._delay_s = first_delay_s
        self._lock = threading.Lock()

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failed call; the seconds to wait before the next try."""
        with self._lock:
            if self.since is None:
                self.since = time.monotonic()
                self.log.error("%s: lost Redis (%s); retrying until it is back", self.what, exc)
            delay, self._delay_s = self._delay_s, min(self._delay_s * 2, self.max_delay_s)
            return delay

    def succeeded(self) -> bool:
        """Note a call that worked; True when it ends an outage."""
        with self._lock:
            if self.since is None:
                return False
            self.log.warning("%s: Redis is back after %.1f s", self.what, time.monotonic() - self.since)
            self.since = None
            self._delay_s = self.first_delay_s
            return True
