"""Job timeouts: how long a job may run, and how it is stopped when it runs longer.

A job's own ``@pyresque.job(timeout=SECONDS)`` wins over its worker's
default (``Worker(job_timeout_s=...)``, ``--job-timeout``,
``PYRESQUE_JOB_TIMEOUT``). Neither is set by default: jobs run as long as
they run, as in Ruby Resque.

Two parts, one per process:

* :class:`Alarm`, in the process that runs the job (the worker with
  ``--no-fork``, or the forked child): SIGALRM raises
  :class:`~pyresque.errors.JobTimeout` inside the job, where it is stuck, so
  the job's ``on_failure`` hooks run and the failure record carries that
  backtrace, as for any exception. SIGALRM is delivered to Python's main
  thread only: a worker running without fork in another thread runs its
  jobs without their timeout, and says so once in its log.
* :class:`Deadline`, in a forking worker: a child can catch the exception
  and carry on, or be stuck where no Python code runs. At the timeout plus
  a grace the worker sends its child SIGTERM, a grace later SIGKILL, and if
  the child never reported, records the ``JobTimeout`` itself.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Callable

from pyresque.errors import JobTimeout

if TYPE_CHECKING:  # the registry imports this module
    from pyresque.registry import Registry

log = logging.getLogger(__name__)


def validated(value: Any, what: str) -> float | None:
    """``value`` as seconds, or None for "no timeout".

    Raises :class:`ValueError` naming ``what`` unless ``value`` is a
    positive, finite number: a zero or negative timeout is a mistake, not a
    way to say "none".
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


def for_job(registry: "Registry", class_name: Any, default_s: float | None) -> float | None:
    """The timeout of the job registered as ``class_name``, else ``default_s``."""
    spec = registry.get(class_name) if isinstance(class_name, str) else None
    return spec.timeout_s if spec is not None and spec.timeout_s is not None else default_s


_warned_off_main_thread = False


class Alarm:
    """Raise :class:`JobTimeout` in this process's main thread after ``timeout_s``.

    Used as ``with Alarm(t): run_the_job()``; ``None`` means no timeout. It
    fires once: a job that catches the exception runs on (a forked job's
    worker then stops it, see :class:`Deadline`). ``on_expiry`` runs in the
    signal handler just before the exception is raised. The previous
    SIGALRM handler is put back afterwards.
    """

    def __init__(self, timeout_s: float | None, on_expiry: Callable[[JobTimeout], None] | None = None) -> None:
        self.timeout_s = timeout_s
        self.on_expiry = on_expiry
        self._armed = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "Alarm":
        if self.timeout_s is None:
            return self
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            _warn_unenforced(self.timeout_s)
            return self
        self._previous = signal.signal(signal.SIGALRM, self._expire)
        self._installed = True
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # Disarm first: a signal landing from here on is ignored by _expire,
        # so a job that finished in time is never failed on its way out.
        self._armed = False
        if self._installed:
            self._installed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous if self._previous is not None else signal.SIG_DFL)

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        if not self._armed:
            return
        self._armed = False
        assert self.timeout_s is not None
        exc = JobTimeout(self.timeout_s)
        if self.on_expiry is not None:
            self.on_expiry(exc)
        raise exc


def _warn_unenforced(timeout_s: float) -> None:
    global _warned_off_main_thread
    if not _warned_off_main_thread:
        _warned_off_main_thread = True
        log.warning("job timeouts (here %gs) are not enforced for jobs run in a thread other than the main "
                    "one without fork: only the main thread receives SIGALRM", timeout_s)


class Deadline:
    """The worker's side of a forked job's timeout.

    ``timeout_s + grace_s`` after the job was handed to child ``pid`` (the
    child's own :class:`Alarm` should have ended it by then), :meth:`poll`
    sends the child SIGTERM; ``grace_s`` later, SIGKILL. The wait loop calls
    :meth:`poll` and sleeps no longer than :meth:`due_in`.
    """

    def __init__(self, pid: int, timeout_s: float | None, grace_s: float) -> None:
        self.pid = pid
        self.timeout_s = timeout_s
        self.grace_s = max(grace_s, 0.0)
        self._due: float | None = None if timeout_s is None else time.monotonic() + timeout_s + self.grace_s
        self.sent: list[signal.Signals] = []

    @property
    def expired(self) -> bool:
        """True once the worker has had to signal the child."""
        return bool(self.sent)

    def due_in(self) -> float | None:
        """Seconds until :meth:`poll` has something to do; None if never."""
        return None if self._due is None else max(self._due - time.monotonic(), 0.0)

    def poll(self) -> None:
        if self._due is None or time.monotonic() < self._due:
            return
        sig = signal.SIGKILL if self.sent else signal.SIGTERM
        if not self.sent:
            log.warning("child %s is still running %gs past its job's %gs timeout; sending SIGTERM",
                        self.pid, self.grace_s, self.timeout_s)
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        self.sent.append(sig)
        self._due = time.monotonic() + self.grace_s if sig == signal.SIGTERM else None
