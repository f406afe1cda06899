"""Running Rails' ActiveJob jobs in Python, and enqueuing them for Rails.

Rails' Resque adapter enqueues every job as the one Resque class
``ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper`` with a single
argument, ``job_data``. pyresque registers a :class:`Dispatcher` under that
name; it reads ``job_data``, finds the Python handler registered for
``job_data["job_class"]`` and calls it with the deserialized arguments.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from pyresque import times
from pyresque.activejob import arguments, rescue
from pyresque.errors import ActiveJobDeserializationError, ResqueError, UnknownActiveJob
from pyresque.registry import JobSpec, Registry, default_registry
from pyresque.scheduler.delayed import seconds_of

if TYPE_CHECKING:
    from pyresque.client import Resque

WRAPPER_CLASS = "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper"
DEFAULT_QUEUE = "default"


@dataclass(frozen=True)
class JobInfo:
    """What a Rails job knows about itself (``job_id``, ``executions``...).

    Inside a handler (see :func:`current_job`) the fields read as they do
    inside a Rails job's ``perform``: ``executions`` counts this run, so it
    is 1 the first time. ``enqueued_at``/``scheduled_at`` are aware UTC
    datetimes. ``job_data`` is the hash exactly as it was queued.
    """

    job_class: str
    job_id: str
    queue_name: str
    priority: int | None = None
    executions: int = 0
    exception_executions: Mapping[str, int] = field(default_factory=dict, hash=False)
    locale: str | None = None
    timezone: str | None = None
    enqueued_at: datetime | None = None
    scheduled_at: datetime | None = None
    provider_job_id: str | None = None
    job_data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_job_data(cls, data: Mapping[str, Any], performing: bool = False) -> "JobInfo":
        """The job described by ``data``; ``performing`` counts the run about to happen."""
        try:
            executions = data.get("executions") or 0
            if not isinstance(executions, int):
                raise ValueError(f"executions is {executions!r}")
            return cls(
                job_class=data["job_class"],
                job_id=data.get("job_id"),
                queue_name=data.get("queue_name"),
                priority=data.get("priority"),
                executions=executions + 1 if performing else executions,
                exception_executions=dict(data.get("exception_executions") or {}),
                locale=data.get("locale"),
                timezone=data.get("timezone"),
                enqueued_at=_time_or_none(data.get("enqueued_at")),
                scheduled_at=_time_or_none(data.get("scheduled_at")),
                provider_job_id=data.get("provider_job_id"),
                job_data=data,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ActiveJobDeserializationError(f"malformed ActiveJob job_data ({exc}): {dict(data)!r}") from None


def _time_or_none(text: Any) -> datetime | None:
    return arguments.parse_time(text) if text else None


_current: contextvars.ContextVar[JobInfo | None] = contextvars.ContextVar("pyresque_activejob_current", default=None)


def current_job() -> JobInfo:
    """The :class:`JobInfo` of the ActiveJob job the calling handler is running."""
    info = _current.get()
    if info is None:
        raise LookupError("current_job() is only available while an ActiveJob handler runs")
    return info


# Enqueuing --------------------------------------------------------------------------
@dataclass(frozen=True)
class RailsJob:
    """An ActiveJob class, by name, with the options ``Job.set(...)`` would give it.

        charge = RailsJob("Billing::ChargeJob", queue="billing")
        charge.perform_later(resque, invoice, amount=Decimal("9.99"))
        charge.set(priority=10).perform_later(resque, invoice)

    Every keyword argument of :meth:`perform_later` is a keyword argument of
    the job; options go through :meth:`set`. ``locale`` and ``timezone``
    are what Rails writes from ``I18n.locale`` and ``Time.zone`` (Rails'
    defaults are ``"en"`` and ``"UTC"``).
    """

    name: str
    queue: str = DEFAULT_QUEUE
    priority: int | None = None
    locale: str = "en"
    timezone: str | None = "UTC"
    # When the job is due, epoch nanoseconds (``set(wait=...)``/``wait_until``);
    # None: at once. Rails: ``scheduled_at``.
    scheduled_at_ns: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("an ActiveJob class name must be a non-empty string")
        if self.priority is not None and (isinstance(self.priority, bool) or not isinstance(self.priority, int)):
            raise TypeError(f"priority must be an int or None, not {self.priority!r}")

    def set(self, **options: Any) -> "RailsJob":
        """A copy with other options (``queue``, ``priority``, ``locale``, ``timezone``,
        ``wait`` in seconds or a ``timedelta``, ``wait_until`` an aware ``datetime``).

        As Rails' ``set``, ``wait`` counts from now, the moment ``set`` is called;
        a delayed job goes through resque-scheduler (``enqueue_at_with_queue``).
        """
        unknown = set(options) - {"queue", "priority", "locale", "timezone", "wait", "wait_until"}
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                            "use queue, priority, locale, timezone, wait or wait_until")
        wait, wait_until = options.pop("wait", None), options.pop("wait_until", None)
        if wait is not None:
            options["scheduled_at_ns"] = time.time_ns() + int(round(seconds_of(wait) * 1e9))
        if wait_until is not None:
            options["scheduled_at_ns"] = _epoch_ns(wait_until)
        return dataclasses.replace(self, **options)

    def job_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The ``job_data`` Rails 7.2 would write for ``perform_later(*args, **kwargs)``.

        Keys in Rails' order; a new UUID v4 ``job_id`` and ``enqueued_at`` each call.
        """
        return {
            "job_class": self.name,
            "job_id": str(uuid.uuid4()),
            "provider_job_id": None,
            "queue_name": self.queue,
            "priority": self.priority,
            "arguments": arguments.serialize(args, kwargs),
            "executions": 0,
            "exception_executions": {},
            "locale": self.locale,
            "timezone": self.timezone,
            "enqueued_at": times.utc_iso8601_from_ns(),
            "scheduled_at": None if self.scheduled_at_ns is None else times.utc_iso8601_from_ns(self.scheduled_at_ns),
        }

    def perform_later(self, resque: "Resque", /, *args: Any, **kwargs: Any) -> JobInfo:
        """Enqueue the job as Rails does; the job as Rails would return it.

        Arguments that ActiveJob cannot carry raise
        :class:`~pyresque.errors.InvalidArgument` before anything is written.
        """
        data = self.job_data(*args, **kwargs)
        if self.scheduled_at_ns is None:
            resque.enqueue_to(self.queue, WRAPPER_CLASS, data)
        else:
            # Rails' adapter: enqueue_at_with_queue(queue, scheduled_at.to_f, JobWrapper, job_data)
            resque.enqueue_at_with_queue(self.queue, self.scheduled_at_ns / 1e9, WRAPPER_CLASS, data)
        return JobInfo.from_job_data(data)


def _epoch_ns(moment: Any) -> int:
    if isinstance(moment, datetime):
        whole = int(moment.replace(microsecond=0).timestamp())
        return whole * 1_000_000_000 + moment.microsecond * 1000
    if isinstance(moment, (int, float)) and not isinstance(moment, bool):
        return int(round(moment * 1e9))
    raise TypeError(f"wait_until must be a datetime or epoch seconds, not {moment!r}")


def perform_later(
    resque: "Resque",
    job_class: "str | RailsJob",
    /,
    *args: Any,
    queue: str | None = None,
    priority: int | None = None,
    wait: Any = None,
    wait_until: Any = None,
    **kwargs: Any,
) -> JobInfo:
    """Enqueue the ActiveJob job ``job_class`` for whatever worker runs it, Ruby or Python.

        activejob.perform_later(resque, "ArchiveJob", repo_id, branch="main")

    is Rails' ``ArchiveJob.perform_later(repo_id, branch: "main")``. ``queue``
    defaults to the queue of a Python handler registered for ``job_class``,
    else ``"default"``. ``wait`` (seconds or a ``timedelta``) or ``wait_until``
    (a ``datetime``) delays it through resque-scheduler, as Rails'
    ``set(wait: 5.minutes)``. Other keyword arguments are the job's own; for a job
    keyword called ``queue``, ``priority``, ``wait`` or ``wait_until``, use
    ``RailsJob(...).set(...).perform_later``.
    """
    job = job_class if isinstance(job_class, RailsJob) else _known(resque.registry, job_class)
    options: dict[str, Any] = {}
    if queue is not None:
        options["queue"] = queue
    if priority is not None:
        options["priority"] = priority
    if wait is not None:
        options["wait"] = wait
    if wait_until is not None:
        options["wait_until"] = wait_until
    return job.set(**options).perform_later(resque, *args, **kwargs)


def _known(registry: Registry, name: str) -> RailsJob:
    spec = registry.get(WRAPPER_CLASS)
    if spec is not None and isinstance(spec.target, Dispatcher) and name in spec.target.handlers:
        return spec.target.handlers[name]
    return RailsJob(name)


# Running ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Handler(RailsJob):
    """A Python handler for an ActiveJob class; also enqueues it (it is a :class:`RailsJob`).

    Calling it calls the function directly, as a Rails job's ``perform_now`` would.
    """

    target: Any = None
    # Rails' retry_on / discard_on rules (pyresque.activejob.rescue), in declaration order.
    rescue_rules: tuple[Any, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def run(self, info: JobInfo, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if inspect.isclass(self.target):
            instance = self.target()
            instance.job = info
            return instance.perform(*args, **kwargs)
        return self.target(*args, **kwargs)


class Dispatcher:
    """The Resque job ``JobWrapper``: runs ``job_data`` with its registered handler."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def handles(self, wrapper_args: Any) -> bool:
        """Whether a handler is registered for the Rails job class in these args."""
        return (isinstance(wrapper_args, list) and len(wrapper_args) == 1 and isinstance(wrapper_args[0], dict)
                and wrapper_args[0].get("job_class") in self.handlers)

    def perform(self, *wrapper_args: Any) -> Any:
        if len(wrapper_args) != 1 or not isinstance(wrapper_args[0], dict):
            raise ActiveJobDeserializationError(
                f"{WRAPPER_CLASS} takes one job_data object, got {list(wrapper_args)!r}"
            )
        data = wrapper_args[0]
        job_class = data.get("job_class")
        if not isinstance(job_class, str) or not job_class:
            raise ActiveJobDeserializationError(f"ActiveJob job_data has no job_class: {data!r}")
        handler = self.handlers.get(job_class)
        if handler is None:
            raise UnknownActiveJob(job_class)
        info = JobInfo.from_job_data(data, performing=True)
        args, kwargs = arguments.deserialize(data.get("arguments", []))
        token = _current.set(info)
        try:
            return handler.run(info, args, kwargs)
        except Exception as exc:
            # As Rails' rescue_from: a retried or discarded job ends normally.
            if handler.rescue_rules and rescue.handle(handler.rescue_rules, exc, data, info.executions, WRAPPER_CLASS):
                return None
            raise
        finally:
            _current.reset(token)


def dispatcher(registry: Registry | None = None) -> Dispatcher:
    """The dispatcher registered as ``JobWrapper`` in ``registry``, registering it if needed."""
    registry = registry if registry is not None else default_registry
    spec = registry.get(WRAPPER_CLASS)
    if spec is None:
        found = Dispatcher()
        registry.register(JobSpec(name=WRAPPER_CLASS, perform=found.perform, target=found))
        return found
    if not isinstance(spec.target, Dispatcher):
        raise ResqueError(f"{WRAPPER_CLASS} is registered as something other than pyresque's ActiveJob dispatcher")
    return spec.target


def job(
    name: str,
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int | None = None,
    registry: Registry | None = None,
    retry_on: Any = None,
    discard_on: Any = None,
) -> Callable[[Any], Any]:
    """Run the ActiveJob class ``name`` with the decorated function or class.

        @activejob.job("ArchiveJob", queue="archive")
        def archive(repo_id, *, branch="main"): ...

    Arguments arrive as Python values, keyword arguments as keywords. A class
    needs a ``perform`` method; each job gets a fresh instance whose ``job``
    attribute is its :class:`JobInfo` (functions call :func:`current_job`).
    ``queue`` and ``priority`` are used when Python enqueues the job.
    ``retry_on``/``discard_on`` are lists of :class:`~pyresque.activejob.RetryOn`
    and :class:`~pyresque.activejob.DiscardOn` (or bare exception classes),
    Rails' ``retry_on``/``discard_on``; a later rule wins over an earlier one.
    Functions come back as a :class:`Handler` (callable, with ``perform_later``);
    classes come back unchanged.
    """

    rules = rescue.as_rules(retry_on, discard_on)

    def register(target: Any) -> Any:
        if inspect.isclass(target):
            if not callable(getattr(target, "perform", None)):
                raise TypeError(f"ActiveJob handler class {target.__name__} has no perform method")
        elif not callable(target):
            raise TypeError(f"cannot register {target!r} as an ActiveJob handler: it is not callable")
        handler = Handler(name=name, queue=queue, priority=priority, target=target, rescue_rules=rules)
        dispatcher(registry).handlers[name] = handler
        return target if inspect.isclass(target) else handler

    return register
