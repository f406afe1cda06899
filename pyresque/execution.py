"""How one job runs: in the worker process (:class:`InProcess`, here), or in
a forked child per job (:class:`pyresque.forking.Forking`).

Either way the result is an :class:`Outcome`, which the worker writes to Redis
in one round trip together with its stats.

A job with a timeout (see :mod:`pyresque.timeouts`) is interrupted where it
runs; a forked one is also stopped by its worker if it does not stop itself.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import current, timeouts
from pyresque.errors import DirtyExit, DontPerform, JobTimeout, TermException, WorkerError
from pyresque.payload import Job
from pyresque.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of a job: nothing to record, a failure record, or "put it back".

    ``counts_as_failed`` is Ruby's rule: only an exception raised by the job
    (or its hooks) increments ``stat:failed``; a child killed by a signal or
    a worker that went away does not. ``requeue`` (``head`` or ``tail``)
    puts the job back on its queue uncounted: a class this worker cannot
    run, or a job stopped by ``--requeue-on-term``.
    """

    record: dict[str, Any] | None = None
    counts_as_failed: bool = False
    requeue: str | None = None

    @property
    def failed(self) -> bool:
        return self.record is not None


SUCCESS = Outcome()
RETRYING = Outcome(counts_as_failed=True)


def perform(
    job: Job,
    registry: Registry,
    worker_id: str,
    timeout_s: float | None = None,
    on_timeout: Callable[[JobTimeout], None] | None = None,
    client: Any = None,
) -> Outcome:
    """Run ``job`` here and now, inside its hooks, catching everything it raises.

    With ``timeout_s``, :class:`JobTimeout` is raised inside the job (and its
    perform hooks) once it has run that long; ``on_timeout`` runs just before.
    """
    try:
        spec = registry.resolve(job.class_name)
        with timeouts.Alarm(timeout_s, on_timeout), current.running_with(client):
            hook_runner.perform_with_hooks(spec.perform, job.args, spec.hooks)
        return SUCCESS
    except DontPerform:
        return SUCCESS  # Resque counts a skipped job as processed, not failed
    except _PutBack:
        raise  # not the job's failure: its worker stopped it to put it back
    except BaseException as exc:  # noqa: BLE001 - every job error becomes a record
        if hook_runner.retry_scheduled(exc):
            # A retry is scheduled: no failure record (resque-retry's
            # suppression), but counted as failed, as Ruby's worker counts it.
            return RETRYING
        return Outcome(failure_mod.record_for_job(job, exc, worker_id), True)


def dirty_exit(job: Job, worker_id: str, message: str, registry: Registry | None = None) -> Outcome:
    """The record of a job whose process died before it could report.

    As Ruby's ``Job#fail``, the job's ``on_failure`` hooks run first (here,
    in the parent), with the :class:`DirtyExit`. Not counted in ``stat:failed``.
    """
    return recorded_by_parent(job, worker_id, DirtyExit(message), registry, counts_as_failed=False)


def recorded_by_parent(
    job: Job, worker_id: str, exc: BaseException, registry: Registry | None, counts_as_failed: bool
) -> Outcome:
    """The record of ``exc``, a failure the job's process could not report itself.

    The job's ``on_failure`` hooks run first, here, as in Ruby's ``Job#fail``.
    There is no backtrace: nothing was raised where the job ran.
    """
    if registry is not None:
        run_failure_hooks(registry, job.class_name, job.args, exc)
    return Outcome(failure_mod.record_for_job(job, exc, worker_id), counts_as_failed)


def run_failure_hooks(registry: Registry, class_name: Any, args: Any, exc: BaseException) -> None:
    """Run a job's ``on_failure`` hooks for a failure the job itself did not raise.

    Ruby's ``Job#fail`` runs them before recording *any* failure: a child
    killed by a signal, a worker that exits mid-job, a dead worker pruned by
    another (whichever worker prunes, if it knows the class). A job that
    raised already ran them inside :func:`perform`, so this is never a
    second run. A hook that raises stops the others, as in Ruby, and is only
    logged: the failure record is written regardless.
    """
    spec = registry.get(class_name) if isinstance(class_name, str) else None
    if spec is None:
        return
    if args is None:
        args = []
    elif not isinstance(args, (list, tuple)):
        args = [args]
    try:
        for hook in spec.hooks["on_failure"]:
            hook(exc, *args)
    except Exception:  # noqa: BLE001 - a failing hook must not lose the record
        log.exception("on_failure hook of %s raised while recording %s", class_name, type(exc).__name__)


class Strategy(Protocol):
    """Runs one job and says how it ended."""

    forks: bool

    def run(self, job: Job) -> Outcome: ...

    def kill(self) -> None:
        """Stop the running job as Resque's USR1/TERM do (a no-op when idle)."""

    def prepare(self) -> None:
        """Get ready for the next job while the worker is idle (may do nothing)."""

    def close(self) -> None:
        """Release whatever :meth:`prepare` made; the worker is stopping."""


@dataclass
class Context:
    """What a strategy needs from its worker."""

    registry: Registry
    worker_id: str
    procline: Callable[[str], None]
    signal_fd: int | None = None
    # Runs the hooks a signal asked for (``shutdown``, ``before_pause``...)
    # while a forked job runs, so they run when the signal lands, as in Ruby.
    on_signal: Callable[[], None] | None = None
    term_child: bool = False
    pre_shutdown_timeout_s: float = 0.0
    # Also the grace a forked job past its timeout gets, before SIGTERM and
    # again before SIGKILL.
    term_timeout_s: float = 4.0
    # The timeout of jobs that have none of their own; None: no timeout.
    job_timeout_s: float | None = None
    # The worker's client, current while a job runs (see pyresque.current).
    client: Any = None
    # TERM gives a forked job term_timeout_s to end, then kills it and puts
    # it back at the head of its queue (instead of a DirtyExit).
    requeue_on_term: bool = False

    def __post_init__(self) -> None:
        try:
            self.job_timeout_s = timeouts.validated(self.job_timeout_s, "job_timeout_s")
        except ValueError as exc:
            raise WorkerError(str(exc)) from None

    def timeout_for(self, job: Job) -> float | None:
        """How long ``job`` may run: its own timeout, else the worker's."""
        return timeouts.for_job(self.registry, job.class_name, self.job_timeout_s)


class _PutBack(BaseException):
    """Raised inside an in-process job when ``--requeue-on-term``'s grace ends."""


class InProcess:
    """Run the job in the worker process (``FORK_PER_JOB=false``)."""

    forks = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.running = False
        self._grace: threading.Timer | None = None
        self._grace_over = False

    def run(self, job: Job) -> Outcome:
        self.running = True
        try:
            return perform(job, self.ctx.registry, self.ctx.worker_id, self.ctx.timeout_for(job), client=self.ctx.client)
        except _PutBack:
            return self._put_back(job)
        finally:
            self.running = False
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass

    def kill(self) -> None:
        # There is no child to kill. Ruby's shutdown! raises TermException in
        # the worker itself only with TERM_CHILD; without it, it calls
        # kill_child, which does nothing when there is no child, so the job
        # finishes and the worker then exits. Called from a signal handler,
        # so the exception surfaces inside the job's code.
        if self.running and self.ctx.term_child:
            raise TermException("SIGTERM")
        if self.running and self.ctx.requeue_on_term and self._grace is None:
            # The job gets the grace; then a signal to this (main) thread
            # interrupts it where it is, and it goes back on its queue.
            self._grace = threading.Timer(self.ctx.term_timeout_s, self._end_grace)
            self._grace.daemon = True
            self._grace.start()

    def _end_grace(self) -> None:
        self._grace_over = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)  # type: ignore[arg-type]

    def interrupt_if_due(self) -> None:
        """From the worker's USR1 handler: stop the job if its grace is over."""
        if self._grace_over and self.running:
            self._grace_over = False
            raise _PutBack()

    def _put_back(self, job: Job) -> Outcome:
        log.warning("%s did not end within %gs of TERM: put back at the head of %s",
                    job.class_name, self.ctx.term_timeout_s, job.queue)
        return Outcome(requeue="head")
