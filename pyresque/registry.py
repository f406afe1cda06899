"""Which Python code runs for which wire class name: the allow-list.

A payload's ``class`` is only ever looked up here. Nothing imports a module
or resolves an attribute named by a payload, so a queue that anyone can push
to cannot make a worker run code that was not registered on purpose.

    @pyresque.job("Mailers::Welcome", queue="mail")
    def welcome(user_id): ...

    @pyresque.job("Reports::Build", timeout=300)   # seconds; see pyresque.timeouts
    def build(report_id): ...

    @pyresque.job(queue="archive")
    class Archive:
        @staticmethod
        def perform(repo_id, branch): ...

Job hooks are methods named with a hook prefix (``before_perform_log``...),
as in Resque, or are added to a function job with its decorators
(``@welcome.before_enqueue``). Worker hooks are registered on the registry
(``@pyresque.before_fork``...).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from pyresque import timeouts
from pyresque.errors import UnknownJob
from pyresque.hooks import JOB_HOOKS, WORKER_HOOKS

T = TypeVar("T")


@dataclass
class JobSpec:
    """A registered job: its wire name, default queue, timeout, perform callable and hooks.

    ``timeout_s`` (None: the worker's default, if any) is how long the job
    may run before it fails with :class:`~pyresque.errors.JobTimeout`.
    ``hooks`` maps each job hook kind to its callables, in run order. Function
    jobs add hooks with decorators named after the kind:
    ``@welcome.before_enqueue``.
    """

    name: str
    perform: Callable[..., Any]
    queue: str | None = None
    target: Any = None
    timeout_s: float | None = None
    hooks: dict[str, list[Callable[..., Any]]] = field(
        default_factory=lambda: {kind: [] for kind in JOB_HOOKS}
    )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A decorated function stays callable as a plain function.
        return self.perform(*args, **kwargs)


def _hook_decorator(kind: str) -> Callable[[JobSpec, Callable[..., T]], Callable[..., T]]:
    def add(self: JobSpec, fn: Callable[..., T]) -> Callable[..., T]:
        self.hooks[kind].append(fn)
        return fn

    add.__name__ = kind
    add.__doc__ = f"Register ``fn`` as a ``{kind}`` hook of this job."
    return add


for _kind in JOB_HOOKS:
    setattr(JobSpec, _kind, _hook_decorator(_kind))


class Registry:
    """Wire class name -> :class:`JobSpec`, plus the worker hooks."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobSpec] = {}
        self.worker_hooks: dict[str, list[Callable[..., Any]]] = {kind: [] for kind in WORKER_HOOKS}

    def register(
        self, target: Any, name: str | None = None, queue: str | None = None, timeout_s: float | None = None
    ) -> JobSpec:
        """Register a function, or a class with a ``perform`` method, under ``name``.

        ``timeout_s`` must be a positive number of seconds (or None):
        anything else raises :class:`ValueError` here, not when a job runs.
        """
        timeout_s = timeouts.validated(timeout_s, "a job's timeout")
        if isinstance(target, JobSpec):
            spec = target
        elif inspect.isclass(target):
            spec = _spec_for_class(target, name, queue)
        elif callable(target):
            spec = JobSpec(name=name or target.__name__, perform=target, queue=queue, target=target)
        else:
            raise TypeError(f"cannot register {target!r} as a job: it is not callable")
        if timeout_s is not None:
            spec.timeout_s = timeout_s
        existing = self._jobs.get(spec.name)
        if existing is not None and not _same_code(existing.target, spec.target):
            raise ValueError(f"job {spec.name!r} is registered twice: by {_place(existing.target)} "
                             f"and by {_place(spec.target)}; give one of them another name")
        self._jobs[spec.name] = spec
        return spec

    def resolve(self, name: str) -> JobSpec:
        """The job registered as ``name``, or :class:`UnknownJob`."""
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJob(name) from None

    def get(self, name: str) -> JobSpec | None:
        return self._jobs.get(name)

    def handles(self, name: Any, args: Any) -> bool:
        """Whether a job of class ``name`` with ``args`` has code here to run it
        (for ActiveJob's wrapper: a handler for the Rails job class inside)."""
        spec = self._jobs.get(name) if isinstance(name, str) else None
        if spec is None:
            return False
        check = getattr(spec.target, "handles", None)
        return bool(check(args)) if callable(check) else True

    def spec_for(self, job: Any) -> JobSpec | None:
        """The spec of a job given as a wire name, a JobSpec or a registered object."""
        if isinstance(job, JobSpec):
            return job
        if isinstance(job, str):
            return self._jobs.get(job)
        for spec in self._jobs.values():
            if spec.target is job:
                return spec
        return None

    def names(self) -> list[str]:
        return sorted(self._jobs)

    def add_worker_hook(self, kind: str, fn: Callable[..., T]) -> Callable[..., T]:
        if kind not in self.worker_hooks:
            raise ValueError(f"unknown worker hook {kind!r}; one of {', '.join(WORKER_HOOKS)}")
        self.worker_hooks[kind].append(fn)
        return fn

    def unregister(self, name: str) -> None:
        self._jobs.pop(name, None)


def _same_code(a: Any, b: Any) -> bool:
    """The same object, or the same function defined again (a module imported twice)."""
    if a is b:
        return True
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == \
        (getattr(b, "__module__", None), getattr(b, "__qualname__", None)) and getattr(a, "__qualname__", None) is not None


def _place(target: Any) -> str:
    """``module.name (file:line)`` of a registered function or class."""
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    try:
        return f"{name} ({inspect.getsourcefile(target)}:{inspect.getsourcelines(target)[1]})"
    except (OSError, TypeError):
        return name


def _spec_for_class(cls: type, name: str | None, queue: str | None) -> JobSpec:
    if not hasattr(cls, "perform"):
        raise TypeError(f"job class {cls.__name__} has no perform method")
    static = inspect.getattr_static(cls, "perform")
    # Resque calls the class method ``Klass.perform``; a plain method here
    # means "make an instance per job", which reads more naturally in Python.
    if isinstance(static, (staticmethod, classmethod)):
        perform = cls.perform
    else:
        def perform(*args: Any) -> Any:
            return cls().perform(*args)

    def hooks_of(prefix: str) -> list[Callable[..., Any]]:
        # Resque: every method whose name starts with the hook kind, sorted by name.
        return [
            _unbound(cls, n) for n in sorted(dir(cls))
            if n.startswith(prefix) and callable(getattr(cls, n, None))
        ]

    spec = JobSpec(
        name=name or cls.__name__,
        perform=perform,
        queue=queue if queue is not None else getattr(cls, "queue", None),
        target=cls,
    )
    for kind in JOB_HOOKS:
        spec.hooks[kind].extend(hooks_of(kind))
    return spec


def _unbound(cls: type, attr: str) -> Callable[..., Any]:
    static = inspect.getattr_static(cls, attr)
    if isinstance(static, (staticmethod, classmethod)):
        return getattr(cls, attr)
    return lambda *args: getattr(cls(), attr)(*args)


default_registry = Registry()


def job(
    name: str | None = None,
    queue: str | None = None,
    *,
    timeout: float | None = None,
    registry: Registry | None = None,
    retry_limit: int | None = None,
    retry_delay: float | None = None,
    backoff: Any = None,
    retry_exceptions: Any = None,
    fatal_exceptions: Any = None,
    expire_retry_key_after: float | None = None,
) -> Callable[[Any], Any]:
    """Register a function or class as a job under the wire class ``name``.

    ``name`` is what Ruby calls the class (``"Mailers::Welcome"``); it
    defaults to the Python name. ``queue`` is where :meth:`Resque.enqueue`
    puts it. ``timeout`` is how many seconds the job may run before it fails
    with :class:`~pyresque.errors.JobTimeout`; it wins over the worker's
    ``job_timeout_s``, and a zero or negative one raises :class:`ValueError`
    at once. Functions come back as a :class:`JobSpec` that is still callable
    and takes hook decorators; classes come back unchanged.

    ``retry_limit``, ``retry_delay``, ``backoff``, ``retry_exceptions``,
    ``fatal_exceptions`` and ``expire_retry_key_after`` give the job
    resque-retry's retries, on its keys (see :mod:`pyresque.retry`).
    """
    if callable(name) and queue is None and timeout is None and registry is None:
        # Used bare: @pyresque.job
        return job()(name)
    timeout_s = timeouts.validated(timeout, "timeout")
    retry_options = {k: v for k, v in dict(
        retry_limit=retry_limit, retry_delay=retry_delay, backoff=backoff, retry_exceptions=retry_exceptions,
        fatal_exceptions=fatal_exceptions, expire_retry_key_after=expire_retry_key_after).items() if v is not None}
    policy = None
    if retry_options:
        from pyresque.retry import RetryPolicy

        policy = RetryPolicy(**retry_options)  # a bad combination fails here, not when a job runs

    def register(target: Any) -> Any:
        spec = (registry or default_registry).register(target, name=name, queue=queue, timeout_s=timeout_s)
        if policy is not None:
            from pyresque.retry import attach

            attach(spec, policy)
        return target if inspect.isclass(target) else spec

    return register


def _worker_hook(kind: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    def decorator(fn: Callable[..., T]) -> Callable[..., T]:
        return default_registry.add_worker_hook(kind, fn)

    decorator.__name__ = kind
    decorator.__doc__ = f"Register ``fn`` as a ``{kind}`` worker hook on the default registry."
    return decorator


before_first_fork = _worker_hook("before_first_fork")
before_fork = _worker_hook("before_fork")
after_fork = _worker_hook("after_fork")
before_pause = _worker_hook("before_pause")
after_pause = _worker_hook("after_pause")
queue_empty = _worker_hook("queue_empty")
worker_exit = _worker_hook("worker_exit")
shutdown = _worker_hook("shutdown")
