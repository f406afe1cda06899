"""Rails' ``retry_on`` and ``discard_on`` for Python ActiveJob handlers.

    @activejob.job("FetchJob", retry_on=[activejob.RetryOn(TimeoutError, wait=5, attempts=3,
                                                           key="[Net::OpenTimeout]")],
                   discard_on=[activejob.DiscardOn(KeyError)])
    def fetch(url): ...

A retry re-enqueues the same ``job_data`` through resque-scheduler exactly as
Rails' ``retry_job`` does: same ``job_id`` and arguments, ``executions``
counting every run so far, ``exception_executions[key]`` counting this
rule's failures, new ``enqueued_at``, ``scheduled_at`` = now + wait. So a
job retried by a Ruby worker and a Python worker in turn counts its attempts
once. ``key`` is Rails' own name for the rule, ``exceptions.to_s`` of the
Ruby ``retry_on`` it mirrors (``"[Net::OpenTimeout, Timeout::Error]"``); by
default the Python exception names in that form.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from pyresque import current
from pyresque import times

# Rails apps' default jitter (config.active_job.retry_jitter since load_defaults 6.1).
DEFAULT_JITTER = 0.15


def _as_tuple(exceptions: Any) -> tuple[type[BaseException], ...]:
    found = tuple(exceptions) if isinstance(exceptions, (list, tuple)) else (exceptions,)
    if not found or not all(isinstance(e, type) and issubclass(e, BaseException) for e in found):
        raise TypeError(f"retry_on/discard_on take exception classes, not {exceptions!r}")
    return found


@dataclass(frozen=True, init=False)
class RetryOn:
    """Rails' ``retry_on``: ``wait`` seconds, a ``timedelta``, a callable of the
    execution count, or ``"polynomially_longer"``; ``attempts`` an int or
    ``"unlimited"``; ``queue``/``priority`` for the retry; ``jitter``."""

    exceptions: tuple[type[BaseException], ...]
    wait: Any
    attempts: int | str
    queue: str | None
    priority: int | None
    jitter: float
    key: str

    def __init__(self, *exceptions: Any, wait: Any = 3, attempts: int | str = 5, queue: str | None = None,
                 priority: int | None = None, jitter: float = DEFAULT_JITTER, key: str | None = None) -> None:
        found = _as_tuple(exceptions[0] if len(exceptions) == 1 and isinstance(exceptions[0], (list, tuple)) else exceptions)
        if attempts != "unlimited" and (not isinstance(attempts, int) or attempts < 1):
            raise ValueError(f"attempts must be a positive int or 'unlimited', not {attempts!r}")
        object.__setattr__(self, "exceptions", found)
        object.__setattr__(self, "wait", wait)
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "jitter", float(jitter))
        # Rails keys exception_executions by the Ruby text of the rule's class list.
        default_key = "[" + ", ".join(getattr(e, "ruby_name", e.__name__) for e in found) + "]"
        object.__setattr__(self, "key", key or default_key)

    def delay_s(self, executions: int) -> float:
        """Rails' ``determine_delay`` for this rule's ``executions``-th failure."""
        wait = self.wait
        if wait == "polynomially_longer":
            base = float(executions ** 4)
            return base + random.random() * base * self.jitter + 2
        if callable(wait):
            return float(wait(executions))
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        seconds = float(int(seconds))  # Rails: Duration/Integer#to_i
        return seconds + (random.random() * seconds * self.jitter if self.jitter else 0.0)


@dataclass(frozen=True, init=False)
class DiscardOn:
    """Rails' ``discard_on``: the job ends, not failed, when one of these is raised."""

    exceptions: tuple[type[BaseException], ...]

    def __init__(self, *exceptions: Any) -> None:
        found = _as_tuple(exceptions[0] if len(exceptions) == 1 and isinstance(exceptions[0], (list, tuple)) else exceptions)
        object.__setattr__(self, "exceptions", found)


def handle(rules: tuple[Any, ...], exc: BaseException, data: Mapping[str, Any], executions: int,
           wrapper_class: str) -> bool:
    """Apply the last matching rule (Rails searches rescue handlers newest first).

    Returns True when the exception is handled (discarded, or a retry is
    scheduled): the job then ends normally, as in Rails; False when it must
    fail the job.
    """
    for rule in reversed(rules):
        if not isinstance(exc, rule.exceptions):
            continue
        if isinstance(rule, DiscardOn):
            return True
        try:
            resque = current.client()
        except LookupError:
            return False  # not run by a worker (a direct call, inline mode): the error stands
        counts = dict(data.get("exception_executions") or {})
        counts[rule.key] = int(counts.get(rule.key) or 0) + 1
        if rule.attempts != "unlimited" and counts[rule.key] >= rule.attempts:
            return False  # attempts used up: Rails re-raises
        delay = rule.delay_s(counts[rule.key])
        now_ns = time.time_ns()
        due_ns = now_ns + int(delay * 1e9)
        retry = dict(data)
        retry.update({
            "queue_name": rule.queue or data.get("queue_name"),
            "priority": rule.priority if rule.priority is not None else data.get("priority"),
            "executions": executions,
            "exception_executions": counts,
            "enqueued_at": times.utc_iso8601_from_ns(now_ns),
            "scheduled_at": times.utc_iso8601_from_ns(due_ns),
        })
        resque.enqueue_at_with_queue(retry["queue_name"], due_ns / 1e9, wrapper_class, retry)
        return True
    return False


def as_rules(retry_on: Any, discard_on: Any) -> tuple[Any, ...]:
    rules = []
    for rule in list(retry_on or []):
        rules.append(rule if isinstance(rule, RetryOn) else RetryOn(rule))
    for rule in list(discard_on or []):
        rules.append(rule if isinstance(rule, DiscardOn) else DiscardOn(rule))
    return tuple(rules)


__all__ = ["RetryOn", "DiscardOn", "DEFAULT_JITTER"]
