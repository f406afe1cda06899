"""resque-retry for Python jobs, on resque-retry's keys and with its meanings.

    @pyresque.job("Fetch", queue="net", retry_limit=3, retry_delay=60)
    def fetch(url): ...

    @pyresque.job("Sync", queue="net", backoff=[0, 60, 600])    # ExponentialBackoff
    def sync(account_id): ...

The attempt counter is resque-retry's ``resque-retry:<Class>[:<id>]`` key,
``<id>`` being the SHA1 of Ruby's ``args.join('-')``, so a job retried by
Ruby and Python workers in turn keeps one counter. Before each run the
counter is created at -1 and incremented (0 is the first run); success
deletes it. On failure: if the limit is not reached and the exception
qualifies, the job is enqueued again (at once, or through resque-scheduler
after the delay) and no failure is recorded, as resque-retry's
``MultipleWithRetrySuppression`` backend does; otherwise the counter is
deleted and the failure recorded as usual.

``args.join('-')`` is Ruby's text of each argument: for strings, numbers,
nil (empty), booleans and arrays (flattened) every Ruby agrees; a Hash is
its ``inspect``, which Ruby 3.4 changed (``{"a" => 1}`` instead of
``{"a"=>1}``). :func:`ruby_join` writes Ruby 3.1-3.3's form (what the
compat tests run); pass ``ruby_version="3.4"`` for the newer one.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pyresque import current, failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque.errors import DirtyExit, NoQueueError

if TYPE_CHECKING:
    from pyresque.registry import JobSpec

log = logging.getLogger("pyresque.retry")

# resque-retry's ExponentialBackoff default strategy (seconds).
DEFAULT_BACKOFF = (0, 60, 600, 3600, 10800, 21600)


@dataclass(frozen=True)
class RetryPolicy:
    """resque-retry's settings for one job class.

    ``retry_limit`` (default 1; 0 never retries, -1 forever), ``retry_delay``
    seconds (0: enqueue at once), ``backoff`` (a list of delays: the limit is
    its length, as ExponentialBackoff), ``retry_exceptions`` (exception
    classes, or a mapping class -> delay or list of delays), or
    ``fatal_exceptions`` (never retried; not both), and
    ``expire_retry_key_after`` (seconds past the delay the counter lives).
    """

    retry_limit: int | None = None
    retry_delay: float = 0
    backoff: Sequence[float] | None = None
    retry_exceptions: Sequence[type] | Mapping[type, Any] | None = None
    fatal_exceptions: Sequence[type] | None = None
    expire_retry_key_after: float | None = None

    def __post_init__(self) -> None:
        if self.retry_exceptions is not None and self.fatal_exceptions is not None:
            raise ValueError("give retry_exceptions or fatal_exceptions, not both (resque-retry refuses both)")

    @property
    def limit(self) -> int:
        if self.retry_limit is not None:
            return self.retry_limit
        if self.backoff is not None:
            return len(self.backoff)
        if isinstance(self.retry_exceptions, Mapping):
            lengths = [len(v) for v in self.retry_exceptions.values() if isinstance(v, (list, tuple))]
            return max([1, *lengths])
        return 1

    def delay_for(self, exc: BaseException, attempt: int) -> float:
        if self.backoff is not None:
            return float(self.backoff[attempt] if attempt < len(self.backoff) else self.backoff[-1])
        if isinstance(self.retry_exceptions, Mapping):
            for cls in type(exc).__mro__:  # the closest class wins
                if cls in self.retry_exceptions:
                    delay = self.retry_exceptions[cls]
                    if isinstance(delay, (list, tuple)):
                        return float(delay[attempt] if attempt < len(delay) else delay[-1])
                    return float(delay)
            return 0.0
        return float(self.retry_delay)

    def qualifies(self, exc: BaseException) -> bool:
        if self.fatal_exceptions is not None:
            return not isinstance(exc, tuple(self.fatal_exceptions))
        if self.retry_exceptions is None:
            return True
        return isinstance(exc, tuple(self.retry_exceptions))

    def limit_reached(self, attempt: int) -> bool:
        limit = self.limit
        return limit == 0 or (limit > 0 and attempt >= limit)


# Ruby's Array#join and inspect --------------------------------------------------
def ruby_join(args: Sequence[Any], sep: str = "-", ruby_version: str = "3.1") -> str:
    """Ruby's ``args.join(sep)`` for JSON values."""
    parts: list[str] = []
    for value in args:
        if isinstance(value, list):
            parts.append(ruby_join(value, sep, ruby_version))  # join flattens nested arrays
        else:
            parts.append(_to_s(value, ruby_version))
    return sep.join(parts)


def _to_s(value: Any, version: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _inspect(value, version)
    return _inspect(value, version)


def _inspect(value: Any, version: str) -> str:
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return codec.format_float(value)
    if isinstance(value, str):
        return _inspect_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(v, version) for v in value) + "]"
    if isinstance(value, dict):
        arrow = " => " if _at_least(version, 3, 4) else "=>"
        return "{" + ", ".join(_inspect(k, version) + arrow + _inspect(v, version) for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\v": "\\v",
            "\b": "\\b", "\a": "\\a", "\x1b": "\\e"}


def _inspect_string(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "#" and text[i + 1 : i + 2] in ("{", "$", "@"):
            out.append("\\#")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        elif not ch.isprintable() and ord(ch) > 0x7F:
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\u{{{ord(ch):X}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _at_least(version: str, major: int, minor: int) -> bool:
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (parts[0], parts[1]) >= (major, minor)


def retry_identifier(class_name: str, args: Sequence[Any], ruby_version: str = "3.1") -> str:
    """``<Class>[:<sha1 of args.join('-')>]`` with whitespace removed, as resque-retry's ``redis_retry_key``."""
    joined = ruby_join(args, "-", ruby_version)
    parts = [class_name] + ([hashlib.sha1(joined.encode("utf-8")).hexdigest()] if joined else [])
    return re.sub(r"[ \t\r\n\f\v]", "", ":".join(parts))


# The hooks ------------------------------------------------------------------------
def attach(spec: "JobSpec", policy: RetryPolicy, ruby_version: str = "3.1") -> None:
    """Give ``spec`` resque-retry's behaviour: its hooks run before the job's own."""
    attempts: dict[str, int] = {}

    def key_of(args: Sequence[Any]) -> str:
        return current.client().layout.retry(retry_identifier(spec.name, list(args), ruby_version))

    def failure_key_of(args: Sequence[Any]) -> str:
        return current.client().layout.retry_failure(retry_identifier(spec.name, list(args), ruby_version))

    def active() -> Any:
        # resque-retry does nothing inline; nor here, or outside a worker.
        try:
            resque = current.client()
        except LookupError:
            return None
        return None if resque.inline else resque

    def before_perform_retry(*args: Any) -> None:
        resque = active()
        if resque is None:
            return
        key = key_of(args)
        pipe = resque.redis.pipeline(transaction=True)
        pipe.setnx(key, -1)
        pipe.incr(key)
        if policy.expire_retry_key_after is not None:
            pipe.expire(key, int(policy.retry_delay + policy.expire_retry_key_after))
        attempts[key] = int(pipe.execute()[1])

    def after_perform_retry(*args: Any) -> None:
        resque = active()
        if resque is None:
            return
        key = key_of(args)
        attempts.pop(key, None)
        resque.redis.delete(key)

    def on_failure_retry(exc: BaseException, *args: Any) -> None:
        resque = active()
        if resque is None:
            return
        key = key_of(args)
        if isinstance(exc, DirtyExit) or key not in attempts:
            attempts[key] = int(resque.redis.get(key) or 0)  # the run died: Redis has the count
        attempt = attempts.pop(key)
        if policy.limit_reached(attempt) or not policy.qualifies(exc):
            # Give up: the failure is recorded as usual.
            resque.redis.delete(key, failure_key_of(args))
            return
        delay = policy.delay_for(exc, attempt)
        queue = spec.queue
        if not queue:
            raise NoQueueError(f"{spec.name} has no queue to retry on")
        resque.redis.setnx(key, -1)
        if delay <= 0:
            resque.enqueue_to(queue, spec.name, *args)
        else:
            resque.enqueue_in_with_queue(queue, delay, spec.name, *args)
            # What resque-retry's failure backend keeps for resque-web's Retry tab.
            details = {
                "failed_at": time.strftime("%Y/%m/%d %H:%M:%S"),
                "payload": {"class": spec.name, "args": list(args)},
                "exception": failure_mod.exception_name(exc),
                "error": str(exc),
                "backtrace": failure_mod.job_backtrace(exc),
                "worker": "",
                "queue": queue,
            }
            resque.redis.setex(failure_key_of(args), max(1, int(delay * 2)), codec.encode(details, "details"))
        log.info("%s failed (attempt %d), retrying in %gs", spec.name, attempt + 1, delay)
        hook_runner.mark_retry_scheduled(exc)

    spec.hooks["before_perform"].insert(0, before_perform_retry)
    spec.hooks["after_perform"].insert(0, after_perform_retry)
    spec.hooks["on_failure"].insert(0, on_failure_retry)
