"""Settings from Resque's environment variables, one way: env -> dataclass -> constructors.

Library classes never read ``os.environ``; the CLI builds these settings from
the environment, lets flags override them, and passes them on. The variable
names are Ruby Resque's, so an existing ``rake resque:work`` setup carries over.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Mapping

from pyresque import timeouts
from pyresque.connection import RedisTimeouts
from pyresque.errors import ConnectionFailed, WorkerError


def default_environment(env: Mapping[str, str] | None = None) -> str:
    """What Ruby's ``Resque.info`` calls the environment: RAILS_ENV || RACK_ENV || development."""
    env = os.environ if env is None else env
    return env.get("RAILS_ENV") or env.get("RACK_ENV") or "development"


@dataclass
class ClientSettings:
    """Where the keyspace is: ``REDIS_URL``, ``RESQUE_NAMESPACE``, ``FAILURE_BACKEND``.

    And how long to wait on it: ``PYRESQUE_REDIS_TIMEOUT`` (seconds for any
    reply) and ``PYRESQUE_REDIS_CONNECT_TIMEOUT``; unset means
    :class:`RedisTimeouts`' defaults.
    """

    redis: str | None = None
    namespace: str = "resque"
    failure_backend: str = "redis"
    environment: str = "development"
    redis_timeout_s: float | None = None
    redis_connect_timeout_s: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ClientSettings":
        return cls(
            redis=env.get("REDIS_URL") or None,
            namespace=env.get("RESQUE_NAMESPACE") or "resque",
            failure_backend=env.get("FAILURE_BACKEND") or "redis",
            environment=default_environment(env),
            redis_timeout_s=_redis_timeout(env, "PYRESQUE_REDIS_TIMEOUT"),
            redis_connect_timeout_s=_redis_timeout(env, "PYRESQUE_REDIS_CONNECT_TIMEOUT"),
        )

    def redis_timeouts(self, timeout_s: float | None = None, connect_timeout_s: float | None = None) -> RedisTimeouts:
        """The Redis timeouts: the arguments (flags) over these settings over the defaults."""
        chosen = {
            "timeout_s": timeout_s if timeout_s is not None else self.redis_timeout_s,
            "connect_timeout_s": connect_timeout_s if connect_timeout_s is not None else self.redis_connect_timeout_s,
        }
        return dataclasses.replace(RedisTimeouts(), **{k: v for k, v in chosen.items() if v is not None})


@dataclass
class WorkerSettings:
    """Everything ``pyresque work`` takes, with Ruby's defaults."""

    queues: str = ""
    interval_s: float = 5.0
    min_interval_s: float | None = None
    max_interval_s: float | None = None
    backoff_interval_s: float = 0.1
    count: int = 1
    pidfile: str | None = None
    background: bool = False
    fork_per_job: bool | None = None
    prefork: bool = True
    jobs_per_child: int = 1
    imports: list[str] = field(default_factory=list)
    log_level: int = logging.WARNING
    procline_prefix: str = ""
    term_child: bool = False
    graceful_term: bool = False
    pre_shutdown_timeout_s: float = 0.0
    term_timeout_s: float = 4.0
    heartbeat_interval_s: float = 60.0
    prune_after_s: float = 300.0
    job_timeout_s: float | None = None
    unknown_jobs: str = ""
    requeue_on_term: bool = False
    log_format: str = "text"
    log_level_name: str = ""
    logfile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WorkerSettings":
        level = logging.WARNING
        if env.get("LOGGING") or env.get("VERBOSE"):
            level = logging.INFO
        if env.get("VVERBOSE"):
            level = logging.DEBUG
        fork = env.get("FORK_PER_JOB")
        return cls(
            queues=env.get("QUEUES") or env.get("QUEUE") or "",
            interval_s=_float(env, "INTERVAL", 5.0),
            min_interval_s=_opt_float(env, "MIN_INTERVAL"),
            max_interval_s=_opt_float(env, "MAX_INTERVAL"),
            backoff_interval_s=_float(env, "BACKOFF_INTERVAL", 0.1),
            count=int(_float(env, "COUNT", 1)),
            pidfile=env.get("PIDFILE") or None,
            background=bool(env.get("BACKGROUND")),
            # Ruby forks unless FORK_PER_JOB is exactly "false".
            fork_per_job=None if fork is None else fork != "false",
            prefork=(env.get("PYRESQUE_PREFORK") or "1") not in ("0", "false", "no"),
            jobs_per_child=_count(env, "PYRESQUE_JOBS_PER_CHILD", 1),
            imports=[m.strip() for m in (env.get("PYRESQUE_JOBS") or "").split(",") if m.strip()],
            log_level=level,
            procline_prefix=env.get("RESQUE_PROCLINE_PREFIX") or "",
            term_child=bool(env.get("TERM_CHILD")),
            graceful_term=bool(env.get("GRACEFUL_TERM")),
            pre_shutdown_timeout_s=_float(env, "RESQUE_PRE_SHUTDOWN_TIMEOUT", 0.0),
            term_timeout_s=_float(env, "RESQUE_TERM_TIMEOUT", 4.0),
            # Ruby's Resque.heartbeat_interval and Resque.prune_interval, which
            # Ruby sets in code: these names are pyresque's.
            heartbeat_interval_s=_float(env, "PYRESQUE_HEARTBEAT_INTERVAL", 60.0),
            prune_after_s=_float(env, "PYRESQUE_PRUNE_INTERVAL", 300.0),
            job_timeout_s=_timeout(env, "PYRESQUE_JOB_TIMEOUT"),
            unknown_jobs=_choice(env, "PYRESQUE_UNKNOWN_JOBS", ("requeue", "fail")),
            requeue_on_term=(env.get("PYRESQUE_REQUEUE_ON_TERM") or "") not in ("", "0", "false", "no"),
            log_format=_choice(env, "PYRESQUE_LOG_FORMAT", ("text", "json")) or "text",
            log_level_name=_choice(env, "PYRESQUE_LOG_LEVEL", ("debug", "info", "warning", "error")),
            logfile=env.get("PYRESQUE_LOGFILE") or None,
        )


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _opt_float(env, name)
    return default if value is None else value


def _redis_timeout(env: Mapping[str, str], name: str) -> float | None:
    """A Redis timeout from ``env``: unset or empty is None (the default), zero is refused."""
    text = env.get(name)
    if not text:
        return None
    try:
        return timeouts.validated(float(text), name)
    except ValueError:
        raise ConnectionFailed(f"{name}={text!r} is not a positive number of seconds") from None


def _opt_float(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise WorkerError(f"{name}={text!r} is not a number") from None


def _timeout(env: Mapping[str, str], name: str) -> float | None:
    # Unset or empty: no timeout. Zero is refused rather than read as "none".
    try:
        return timeouts.validated(_opt_float(env, name), name)
    except ValueError:
        raise WorkerError(f"{name}={env[name]!r} is not a positive number of seconds") from None


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise WorkerError(f"{name}={text!r} is not a whole number of at least 1")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or ""
    if value and value not in choices:
        raise WorkerError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


# QUIET: resque-scheduler sets its logger to FATAL, which even errors do not pass.
QUIET_LEVEL = logging.CRITICAL

# resque-scheduler's booleans (Resque::Scheduler::Configuration#to_bool).
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "on", "ON"})
# What a person means by "off". resque-scheduler's rake task and executable
# take any value of DYNAMIC_SCHEDULE or VERBOSE that is set as on, even these;
# pyresque reads them as off, and says so (see _switch).
_OFF_WORDS = frozenset({"0", "false", "no", "off", "n", "f"})


@dataclass
class SchedulerSettings:
    """Everything ``pyresque scheduler`` takes, under resque-scheduler's variable names.

    ``notes`` are the variables read differently from ``rake resque:scheduler``,
    one sentence each, for the scheduler to log at start."""

    interval_s: float = 5.0
    dynamic: bool = False
    lock_timeout_s: int = 180
    lock_prefix: str = ""
    # Items per move script; Ruby's default is 100 (see scheduler.move).
    batch_size: int = 1000
    app_name: str | None = None
    env: str | None = None
    logformat: str = "text"
    logfile: str | None = None
    log_level: int = logging.INFO
    schedule_file: str | None = None
    catch_up: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SchedulerSettings":
        notes: list[str] = []
        level = logging.INFO
        if _switch(env, "VERBOSE", notes):
            level = logging.DEBUG
        if env.get("QUIET") in _TRUE:  # Ruby reads QUIET with to_bool, even from its rake task
            level = QUIET_LEVEL
        return cls(
            interval_s=_float(env, "RESQUE_SCHEDULER_INTERVAL", 5.0),
            dynamic=_switch(env, "DYNAMIC_SCHEDULE", notes),
            lock_timeout_s=_count(env, "LOCK_TIMEOUT", 180),
            lock_prefix=env.get("RESQUE_SCHEDULER_MASTER_LOCK_PREFIX") or "",
            batch_size=_count(env, "DELAYED_REQUEUE_BATCH_SIZE", 1000),
            app_name=env.get("APP_NAME") or None,
            env=env.get("RAILS_ENV") or None,
            logformat=(env.get("LOGFORMAT") or "text").lower(),
            logfile=env.get("LOGFILE") or None,
            log_level=level,
            # pyresque's own: where the YAML schedule is, and whether a new
            # master enqueues the missed ticks of recurring jobs (else it logs them).
            schedule_file=env.get("RESQUE_SCHEDULE") or None,
            catch_up=env.get("PYRESQUE_SCHEDULE_CATCH_UP") in _TRUE,
            notes=notes,
        )


def _switch(env: Mapping[str, str], name: str, notes: list[str]) -> bool:
    """A resque-scheduler on/off variable, as its README says: on when set to
    anything (``1``, ``true``, ``yes``...), but ``0``, ``false``, ``no``,
    ``off`` (any case) and an empty value are off.

    Ruby's rake task reads even ``false`` as on. Someone who wrote ``false``
    meant off, so pyresque obeys the word, and leaves a note saying how
    Ruby read it, for whoever relied on that without knowing.
    """
    value = env.get(name)
    if value is None:
        return False
    if value.strip().lower() in _OFF_WORDS or not value.strip():
        notes.append(f"{name}={value!r} is read as off; rake resque:scheduler reads any value of "
                     f"{name} as on: unset it, or set it to 1 for on")
        return False
    return True


def check_scheduler_settings(s: SchedulerSettings) -> None:
    """Refuse scheduler settings that would spin, never poll, or lose the lock, with one clear line.

    The master renews its lock once per pass and a pass comes at least every
    interval, so an interval as long as the lock's timeout lets the lock
    expire under a live master and two schedulers take turns."""
    if not (math.isfinite(s.interval_s) and s.interval_s > 0):
        raise WorkerError(f"the scheduler interval (RESQUE_SCHEDULER_INTERVAL or --interval) must be a "
                          f"finite number of seconds above 0, not {s.interval_s:g}")
    if s.lock_timeout_s < 1:
        raise WorkerError(f"LOCK_TIMEOUT must be a whole number of seconds of at least 1, not {s.lock_timeout_s}")
    if s.interval_s >= s.lock_timeout_s:
        raise WorkerError(f"the scheduler interval ({s.interval_s:g} s) must be shorter than LOCK_TIMEOUT "
                          f"({s.lock_timeout_s} s): the master renews its lock once per interval")
    if s.batch_size < 1:
        raise WorkerError(f"DELAYED_REQUEUE_BATCH_SIZE must be a whole number of at least 1, not {s.batch_size}")


def check_settings(interval_s: float, min_interval_s: float | None, max_interval_s: float | None,
                    backoff_interval_s: float, heartbeat_interval_s: float, prune_after_s: float) -> None:
    """Refuse settings that would spin or never beat, with one clear line."""
    for name, value in (("interval", interval_s), ("min interval", min_interval_s),
                        ("max interval", max_interval_s), ("backoff interval", backoff_interval_s)):
        if value is not None and not value >= 0:  # NaN too
            raise WorkerError(f"{name} must be 0 or more seconds, not {value}")
    if not heartbeat_interval_s > 0:
        raise WorkerError(f"heartbeat interval must be more than 0 seconds, not {heartbeat_interval_s}")
    if not prune_after_s > heartbeat_interval_s:
        raise WorkerError(f"prune interval ({prune_after_s} s) must be longer than the heartbeat "
                          f"interval ({heartbeat_interval_s} s), or live workers get pruned")
