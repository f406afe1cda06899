"""What a worker does with a job whose class no Python code is registered for.

In a team that shares queues with Ruby, a Python worker working ``*`` takes
Ruby's jobs too. Ruby's own answer, failing them (``fail``), turns every such
job into a failure record; pyresque's default, ``requeue``, puts the job back
at the tail of its queue for a worker that can run it, uncounted and without
a failure record, so the jobs behind it are not blocked.

Putting jobs back must not become a busy loop: when a queue comes round to
the first job this worker put back, everything in it is for other workers,
so the worker leaves that queue alone for a while (``rest_s``) and says so
once.
"""

from __future__ import annotations

import logging
import time

POLICIES = ("requeue", "fail")
DEFAULT = "requeue"

log = logging.getLogger("pyresque.worker")


class Requeuer:
    """The ``requeue`` policy's memory: per queue, the first job put back, and rests."""

    def __init__(self, rest_s: float) -> None:
        self.rest_s = rest_s
        self._first_put_back: dict[str, bytes | str] = {}
        self._resting_until: dict[str, float] = {}
        self._warned: set[str] = set()

    def put_back(self, queue: str, class_name: str, raw: bytes | str) -> None:
        """Note that ``raw`` from ``queue`` goes back to its tail."""
        if class_name not in self._warned:
            self._warned.add(class_name)
            log.warning("no job is registered for class %r: putting its jobs back on their queue for "
                        "another worker (--unknown-jobs fail records them as failures instead)", class_name)
        first = self._first_put_back.get(queue)
        if first is None:
            self._first_put_back[queue] = raw
        elif first == raw:
            del self._first_put_back[queue]
            self._resting_until[queue] = time.monotonic() + self.rest_s
            log.info("queue %s holds only jobs for other workers; leaving it alone for %.0f s", queue, self.rest_s)

    def ran(self, queue: str) -> None:
        """A job of ``queue`` ran here: the queue is not (only) other workers' any more."""
        self._first_put_back.pop(queue, None)

    def awake(self, queues: list[str]) -> list[str]:
        """``queues`` without those resting now."""
        if not self._resting_until:
            return queues
        now = time.monotonic()
        for queue, until in list(self._resting_until.items()):
            if until <= now:
                del self._resting_until[queue]
        return [q for q in queues if q not in self._resting_until]
