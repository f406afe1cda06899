"""Every exception pyresque raises on purpose, under one root.

Catch :class:`ResqueError` to handle them all. Each class says when it is
raised; the CLI turns any of them into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from typing import Any


class ResqueError(Exception):
    """Root of every error pyresque raises deliberately."""


class ConnectionFailed(ResqueError):
    """Redis cannot be reached, or a connection string cannot be understood."""


class InvalidQueueName(ResqueError):
    """A queue name is empty or contains ``,`` (which splits worker ids)."""


class InvalidArgument(ResqueError):
    """A job argument cannot travel as JSON that Ruby reads back identically.

    Raised at enqueue time, naming the offending argument by its path, e.g.
    ``args[1]['when']``, so nothing half-valid ever reaches a queue.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class NoQueueError(ResqueError):
    """A job was enqueued without a queue: neither given nor registered."""


class UnknownJob(ResqueError):
    """A payload names a job class that is not in the registry.

    pyresque never imports code named by a payload; register the class with
    :func:`pyresque.job` (and ``--import`` the module for workers).
    """

    def __init__(self, class_name: str) -> None:
        super().__init__(
            f"no job registered as {class_name!r}; register it with "
            f"@pyresque.job({class_name!r}) in a module the worker imports"
        )
        self.class_name = class_name


class MalformedPayload(ResqueError):
    """A queued payload is not a Resque job: bad JSON, not an object, no class...

    ``raw_bytes`` keeps the payload exactly as it was read, so it can be
    retried from its failure record; ``raw`` is the same as text, with
    U+FFFD for bytes that are not UTF-8. ``payload`` is the parsed object
    when the payload is a JSON object (its failure record shows it), so
    nobody parses hostile text twice.
    """

    def __init__(self, problem: str, raw: str | bytes, payload: dict[str, Any] | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.payload = payload
        self.raw_bytes = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        self.raw = self.raw_bytes.decode("utf-8", "replace")


class InvalidSchedule(ResqueError):
    """A time, delay, cron line, ``every`` duration or schedule entry cannot be understood.

    Raised by the delayed-job calls for a ``when`` or ``delay`` that is not a
    time, and by :mod:`pyresque.scheduler.schedule` for a bad entry, with
    the entry's name in the message.
    """


class DontPerform(ResqueError):
    """Raise in a ``before_perform`` hook to skip the job (Resque::Job::DontPerform).

    A skipped job still counts as processed, not failed, as in Ruby.
    """


class DirtyExit(ResqueError):
    """A job ended without finishing: its process died or its worker went away.

    Recorded under Ruby's name ``Resque::DirtyExit``.
    """

    ruby_name = "Resque::DirtyExit"


class PruneDeadWorkerDirtyExit(DirtyExit):
    """A dead worker was pruned while its job was still recorded as running."""

    ruby_name = "Resque::PruneDeadWorkerDirtyExit"


class TermException(ResqueError):
    """Raised inside a running job when the worker is told to stop (TERM_CHILD).

    Recorded under Ruby's name ``Resque::TermException``.
    """

    ruby_name = "Resque::TermException"


class JobTimeout(ResqueError):
    """A job ran longer than its timeout (``@pyresque.job(timeout=...)`` or
    the worker's ``job_timeout_s``).

    Raised inside the job, where it is stuck, by the process running it, so
    the job's ``on_failure`` hooks run and the record carries that
    backtrace. When a forked job does not stop, its worker kills the child
    and records this failure itself, with no backtrace. Either way it is
    recorded as ``pyresque.JobTimeout`` and counts in ``stat:failed``.
    """

    def __init__(self, timeout_s: float, detail: str = "") -> None:
        super().__init__(f"Job exceeded its {timeout_s:g}s timeout" + (f"; {detail}" if detail else ""))
        self.timeout_s = timeout_s


class FailureNotFound(ResqueError):
    """A failure index does not point at a record (the list moved or shrank)."""


class ItemChanged(ResqueError):
    """A list item an action named (by position and content digest) is no longer
    there: someone else removed, retried or moved it first. Nothing was done."""


class WorkerError(ResqueError):
    """A worker or scheduler cannot start: bad settings, an unusable pidfile, no queues."""


class UnknownActiveJob(UnknownJob):
    """An ActiveJob payload names a job class that has no Python handler.

    Register one with ``@pyresque.activejob.job("ArchiveJob")`` in a module
    the worker imports.
    """

    def __init__(self, class_name: str) -> None:
        ResqueError.__init__(
            self,
            f"no ActiveJob handler registered for {class_name!r}; register one with "
            f"@pyresque.activejob.job({class_name!r}) in a module the worker imports",
        )
        self.class_name = class_name


class ActiveJobDeserializationError(ResqueError):
    """ActiveJob ``job_data`` or one of its arguments cannot become a Python value.

    An unknown ``_aj_serialized`` serializer, a malformed time or GlobalID, a
    ``job_data`` that is not an object... Recorded under Rails' own name,
    ``ActiveJob::DeserializationError``, as a Ruby worker would record it.
    """

    ruby_name = "ActiveJob::DeserializationError"
