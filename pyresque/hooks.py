"""Resque's hook points, with Resque's meanings.

Job hooks belong to a job (see :class:`pyresque.registry.JobSpec`); worker
hooks belong to a registry. This module only knows how to *run* them:

* ``before_enqueue``/``before_dequeue`` returning ``False`` cancels;
* ``before_perform`` raising :class:`~pyresque.errors.DontPerform` skips the job;
* ``around_perform`` hooks are generator functions that ``yield`` once where
  the job should run, the first registered outermost; one that never yields
  skips the job;
* ``after_perform`` runs unless something raised, even when an around hook
  skipped the job (Ruby runs it after the around chain either way);
* ``on_failure(exc, *args)`` runs once when the job raised; one that raises
  fails the job with a :class:`RuntimeError` naming both errors, as Ruby's
  "Additional error ... occurred in running failure hooks";
* ``always(*args)`` (Resque 3.1+) runs last, whatever happened: success,
  failure (after ``on_failure``), a skip by :class:`DontPerform` or by an
  around hook. When one raises after the job failed, the job fails with a
  :class:`RuntimeError` naming both errors (Ruby's "Additional error ...
  occurred in running always hooks"); after a success, its own exception
  fails the job.
* resque-scheduler's, as a delayed or recurring job comes due:
  ``before_schedule`` returning ``False`` cancels every other hook;
  ``before_enqueue`` returning ``False`` keeps the job off its queue, yet
  ``after_schedule`` still runs (see :func:`before_scheduled_enqueue`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Iterable, Mapping, Sequence

from pyresque.errors import DontPerform

JOB_HOOKS = (
    "before_enqueue",
    "after_enqueue",
    "before_dequeue",
    "after_dequeue",
    "before_perform",
    "around_perform",
    "after_perform",
    "on_failure",
    "always",
    # resque-scheduler's: before_schedule returning False drops a delayed
    # job; before_delayed_enqueue runs as the scheduler moves it (its result
    # is ignored, as in Ruby); after_schedule runs once it is scheduled.
    "before_schedule",
    "after_schedule",
    "before_delayed_enqueue",
)

WORKER_HOOKS = (
    "before_first_fork",
    "before_fork",
    "after_fork",
    "before_pause",
    "after_pause",
    "queue_empty",
    "worker_exit",
    "shutdown",
)


# Set on an exception by an on_failure hook that scheduled a retry of the job
# (resque-retry, ActiveJob retry_on): the worker then records no failure, as
# resque-retry's MultipleWithRetrySuppression backend does.
_RETRIED = "_pyresque_retry_scheduled"


def mark_retry_scheduled(exc: BaseException) -> None:
    """Say that ``exc`` was handled by scheduling a retry (no failure record)."""
    setattr(exc, _RETRIED, True)


def retry_scheduled(exc: BaseException) -> bool:
    return bool(getattr(exc, _RETRIED, False))


def all_allow(hooks: Iterable[Callable[..., Any]], *args: Any) -> bool:
    """Run every hook; ``False`` if any returned exactly ``False`` (Resque's cancel)."""
    allowed = True
    for hook in hooks:
        if hook(*args) is False:
            allowed = False
    return allowed


def run_all(hooks: Iterable[Callable[..., Any]], *args: Any) -> None:
    for hook in hooks:
        hook(*args)


class Scheduled(Enum):
    """What the before hooks decided for a delayed or recurring job coming due."""

    CANCELLED = "cancelled"  # a before_schedule hook returned False: no other hook runs
    DROPPED = "dropped"  # a before_enqueue hook returned False: not queued, after_schedule still runs
    QUEUED = "queued"


def before_scheduled_enqueue(hooks: Mapping[str, Sequence[Callable[..., Any]]], *args: Any) -> Scheduled:
    """resque-scheduler's order as a due job is enqueued (``enqueue_from_config``):
    ``before_schedule`` may cancel; then ``before_delayed_enqueue`` (its
    result ignored) and ``before_enqueue``, which may keep the job off its queue."""
    if not all_allow(hooks["before_schedule"], *args):
        return Scheduled.CANCELLED
    run_all(hooks["before_delayed_enqueue"], *args)
    return Scheduled.QUEUED if all_allow(hooks["before_enqueue"], *args) else Scheduled.DROPPED


def after_scheduled_enqueue(hooks: Mapping[str, Sequence[Callable[..., Any]]], outcome: Scheduled, *args: Any) -> None:
    """``after_enqueue`` when the job was queued, then ``after_schedule`` unless
    ``before_schedule`` cancelled: Ruby runs it around the enqueue, whatever
    ``before_enqueue`` said."""
    if outcome is Scheduled.QUEUED:
        run_all(hooks["after_enqueue"], *args)
    if outcome is not Scheduled.CANCELLED:
        run_all(hooks["after_schedule"], *args)


def perform_with_hooks(
    perform: Callable[..., Any], args: Sequence[Any], hooks: Mapping[str, Sequence[Callable[..., Any]]]
) -> bool:
    """Run ``perform(*args)`` inside the job's hooks. True if the job ran.

    ``hooks`` maps hook kinds to lists of callables (``JobSpec.hooks``). Exceptions from
    the job propagate after ``on_failure`` ran; :class:`DontPerform` from a
    ``before_perform`` hook propagates untouched for the caller to count.
    """
    try:
        run_all(hooks["before_perform"], *args)
        ran = _around(list(hooks["around_perform"]), perform, args)
        run_all(hooks["after_perform"], *args)  # as Resque::Job#perform: whether or not it ran
    except BaseException as exc:  # always hooks run on every way out, as Ruby's ensure
        failure = _run_failure_hooks(hooks["on_failure"], exc, args)
        _run_always(hooks.get("always", ()), args, failure)
        if failure is exc:
            raise
        raise failure from exc
    _run_always(hooks.get("always", ()), args, None)
    return ran


def _run_failure_hooks(on_failure: Sequence[Callable[..., Any]], exc: BaseException,
                       args: Sequence[Any]) -> BaseException:
    """Resque's ``run_failure_hooks``: the error the job ends with.

    A raising hook turns the failure into a RuntimeError naming both errors,
    and the remaining hooks are skipped, as in Ruby; always hooks still run.
    """
    if not isinstance(exc, Exception) or isinstance(exc, DontPerform):
        return exc
    try:
        run_all(on_failure, exc, *args)
    except Exception as hook_exc:
        failure = RuntimeError(_additional("failure", hook_exc, exc))
        if retry_scheduled(exc):
            mark_retry_scheduled(failure)  # a retry was already scheduled: still no failure record
        return failure
    return exc


def _run_always(always: Sequence[Callable[..., Any]], args: Sequence[Any], failure: BaseException | None) -> None:
    """Resque 3.1's ``run_always_hooks``: after a failure, a raising hook's error names both."""
    try:
        run_all(always, *args)
    except Exception as exc:
        if failure is None or isinstance(failure, DontPerform):
            raise
        raise RuntimeError(_additional("always", exc, failure)) from failure


def _additional(kind: str, hook_exc: BaseException, failure: BaseException) -> str:
    return (f"Additional error ({type(hook_exc).__name__}: {hook_exc}) occurred in running {kind} hooks; "
            f"original error that caused job failure was {type(failure).__name__}: {failure}")


def _around(arounds: list[Callable[..., Any]], perform: Callable[..., Any], args: Sequence[Any]) -> bool:
    if not arounds:
        perform(*args)
        return True
    generator = arounds[0](*args)
    try:
        next(generator)
    except StopIteration:
        return False  # the hook chose not to yield: the job is skipped
    try:
        ran = _around(arounds[1:], perform, args)
    except BaseException as exc:
        try:
            generator.throw(exc)
        except StopIteration:
            return True  # the hook swallowed the error
        raise
    try:
        next(generator)
    except StopIteration:
        pass
    return ran
