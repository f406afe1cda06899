"""``pyresque work``: the worker, its supervisor for ``--count``, pidfiles and daemonizing."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Any

import redis as redis_py

from pyresque import logs, prune
from pyresque import workers as worker_records
from pyresque.cli.common import UsageError, at_least_one, client_from, seconds
from pyresque.cli.supervise import Supervisor, child_argv, child_env, hostname
from pyresque.client import Resque
from pyresque.config import WorkerSettings
from pyresque.connection import describe
from pyresque.errors import ConnectionFailed, InvalidQueueName, ResqueError, WorkerError
from pyresque.queues import QueueList
from pyresque.registry import default_registry
from pyresque.unknown_jobs import DEFAULT as DEFAULT_UNKNOWN_JOBS
from pyresque.unknown_jobs import POLICIES as UNKNOWN_JOB_POLICIES

log = logging.getLogger("pyresque.cli")
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


ENVIRONMENT = """environment variables (a flag wins over its variable):
  QUEUES, QUEUE          -q           INTERVAL, MIN_INTERVAL, MAX_INTERVAL, BACKOFF_INTERVAL  -i and co.
  COUNT                  --count      PIDFILE, BACKGROUND                  --pidfile, --background
  FORK_PER_JOB=false     --no-fork    PYRESQUE_PREFORK=0                   --no-prefork
  PYRESQUE_JOBS_PER_CHILD               --jobs-per-child
  PYRESQUE_JOBS          --import     PYRESQUE_JOB_TIMEOUT                 --job-timeout
  PYRESQUE_UNKNOWN_JOBS  --unknown-jobs                PYRESQUE_REQUEUE_ON_TERM=1  --requeue-on-term
  PYRESQUE_LOG_FORMAT    --log-format PYRESQUE_LOGFILE                     --logfile
  PYRESQUE_LOG_LEVEL     --log-level
  PYRESQUE_HEARTBEAT_INTERVAL  --heartbeat-interval    PYRESQUE_PRUNE_INTERVAL     --prune-interval
  REDIS_URL              --redis      RESQUE_NAMESPACE                     --namespace
  VVERBOSE               -v           FAILURE_BACKEND (redis, redis_multi_queue)
  TERM_CHILD, GRACEFUL_TERM, RESQUE_TERM_TIMEOUT, RESQUE_PRE_SHUTDOWN_TIMEOUT, RESQUE_PROCLINE_PREFIX: as in Ruby
"""


def add_commands(command: Any) -> None:
    env = os.environ
    try:
        w = WorkerSettings.from_env(env)
        env_error = None
    except ResqueError as exc:
        # Reported by `work` only: a bad INTERVAL must not break `pyresque info`.
        w, env_error = WorkerSettings(), str(exc)
    p = command("work", cmd_work, "work queues as a Resque worker")
    p.epilog = ENVIRONMENT
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("-q", "--queues", default=w.queues, help="comma-separated, in priority order; * globs and !skip (default: $QUEUES)")
    p.add_argument("-i", "--interval", type=float, default=w.interval_s, help="seconds between polls; 0 drains and exits (default: $INTERVAL or 5)")
    p.add_argument("--min-interval", type=float, default=w.min_interval_s, metavar="SECONDS",
                   help="the shortest poll interval, right after a job (default: $MIN_INTERVAL or the interval)")
    p.add_argument("--max-interval", type=float, default=w.max_interval_s, metavar="SECONDS",
                   help="the longest poll interval, backed off to when idle (default: $MAX_INTERVAL or the interval)")
    p.add_argument("--backoff-interval", type=float, default=w.backoff_interval_s, metavar="SECONDS",
                   help="how much each empty poll adds to the interval (default: $BACKOFF_INTERVAL or 0.1)")
    p.add_argument("--count", type=int, default=w.count, help="worker processes to run (default: $COUNT or 1)")
    p.add_argument("--pidfile", default=w.pidfile, metavar="PATH",
                   help="write the worker's (or the supervisor's) pid here ($PIDFILE)")
    p.add_argument("--background", action="store_true", default=w.background, help="detach and run in the background")
    p.add_argument("--fork", dest="fork_per_job", action="store_true", default=w.fork_per_job,
                   help="fork a child per job (the default where fork exists; FORK_PER_JOB=false turns it off)")
    p.add_argument("--no-fork", dest="fork_per_job", action="store_false",
                   help="run jobs in the worker process (FORK_PER_JOB=false)")
    p.add_argument("--no-prefork", dest="prefork", action="store_false", default=w.prefork,
                   help="fork each job's child when the job arrives, not ahead of it ($PYRESQUE_PREFORK=0)")
    p.add_argument("--jobs-per-child", type=at_least_one, default=w.jobs_per_child, metavar="N",
                   help="let one forked child run up to N jobs in turn before it is replaced: faster, but a job "
                        "sees what earlier jobs left in the process (default: $PYRESQUE_JOBS_PER_CHILD or 1, "
                        "a fresh child per job, as Resque)")
    p.add_argument("--job-timeout", type=seconds, default=w.job_timeout_s, metavar="SECONDS",
                   help="fail a job that runs longer; a job's own timeout wins (default: $PYRESQUE_JOB_TIMEOUT or none)")
    p.add_argument("--import", dest="imports", action="append", default=list(w.imports), metavar="MODULE",
                   help="a module that registers jobs (repeatable; $PYRESQUE_JOBS, comma-separated)")
    p.add_argument("--heartbeat-interval", type=float, default=w.heartbeat_interval_s, metavar="SECONDS",
                   help="seconds between heartbeats, Ruby's Resque.heartbeat_interval (default: "
                        "$PYRESQUE_HEARTBEAT_INTERVAL or 60)")
    p.add_argument("--prune-interval", type=float, default=w.prune_after_s, metavar="SECONDS",
                   help="a worker whose heartbeat is older than this is dead and pruned, Ruby's "
                        "Resque.prune_interval (default: $PYRESQUE_PRUNE_INTERVAL or 300)")
    p.add_argument("--unknown-jobs", choices=UNKNOWN_JOB_POLICIES, default=w.unknown_jobs or DEFAULT_UNKNOWN_JOBS,
                   help="a job whose class no imported module registers: put it back on its queue for another "
                        "worker (requeue, the default) or record it as a failure, as Ruby does (fail) "
                        "($PYRESQUE_UNKNOWN_JOBS)")
    p.add_argument("--requeue-on-term", action="store_true", default=w.requeue_on_term,
                   help="on TERM, give the running job RESQUE_TERM_TIMEOUT seconds to end, then put it back "
                        "at the head of its queue instead of recording a DirtyExit ($PYRESQUE_REQUEUE_ON_TERM=1)")
    p.add_argument("--log-format", choices=logs.FORMATS, default=w.log_format,
                   help="text, or one JSON object per line ($PYRESQUE_LOG_FORMAT)")
    p.add_argument("--log-level", choices=list(LOG_LEVELS), default=w.log_level_name or "info",
                   help="info (the default: a line per job) or warning (failures and trouble only) "
                        "($PYRESQUE_LOG_LEVEL)")
    p.add_argument("--logfile", default=w.logfile, metavar="PATH",
                   help="write the log here instead of stderr ($PYRESQUE_LOGFILE); use it with --background")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="debug logging, and tracebacks with startup errors ($VVERBOSE)")
    p.set_defaults(worker_settings=w, env_error=env_error)


def cmd_work(args: argparse.Namespace) -> int:
    from pyresque.config import check_settings
    from pyresque.worker import Worker

    s: WorkerSettings = args.worker_settings
    if args.env_error:
        raise UsageError(args.env_error)
    level = logging.DEBUG if args.verbose or s.log_level == logging.DEBUG else LOG_LEVELS[args.log_level]
    try:
        formatter = logs.configure(level, args.log_format, args.logfile)
    except OSError as exc:
        raise UsageError(f"cannot write the log file {args.logfile}: {exc.strerror}") from None
    if not args.queues:
        raise UsageError("no queues: pass -q/--queues or set QUEUES, e.g. QUEUES=high,low or QUEUES=*")
    if args.count < 1:
        raise UsageError("--count must be at least 1")
    try:
        check_settings(args.interval, args.min_interval, args.max_interval, args.backoff_interval,
                       args.heartbeat_interval, args.prune_interval)
        patterns = QueueList.parse(args.queues).patterns
    except (WorkerError, InvalidQueueName) as exc:
        raise UsageError(str(exc)) from None
    import_jobs(args.imports, args.verbose)
    if not default_registry.names():
        raise UsageError("no job is registered: pass --import MODULE (or PYRESQUE_JOBS) naming the module "
                         "whose @pyresque.job functions this worker runs")
    resque = client_from(args)
    if args.count > 1:
        resque.ping()  # one clear error here, not one per child
        # The supervisor is the process to signal, so it owns the pidfile
        # and is what --background detaches.
        if args.background:
            daemonize()
        if args.pidfile:
            write_pidfile(args.pidfile)
        try:
            return Supervisor(child_argv(sys.argv[1:]), child_env(), args.count,
                              lambda pid: _forget(resque, patterns, pid)).run()
        finally:
            if args.pidfile:
                remove_pidfile(args.pidfile)
    if args.background:
        daemonize()
    try:
        worker = Worker(
            resque, args.queues,
            interval_s=args.interval, min_interval_s=args.min_interval, max_interval_s=args.max_interval,
            backoff_interval_s=args.backoff_interval, fork_per_job=args.fork_per_job, prefork=args.prefork,
            jobs_per_child=args.jobs_per_child,
            term_child=s.term_child, graceful_term=s.graceful_term,
            pre_shutdown_timeout_s=s.pre_shutdown_timeout_s, term_timeout_s=s.term_timeout_s,
            job_timeout_s=args.job_timeout, procline_prefix=s.procline_prefix,
            heartbeat_interval_s=args.heartbeat_interval, prune_after_s=args.prune_interval,
            unknown_jobs=args.unknown_jobs, requeue_on_term=args.requeue_on_term,
        )
    except WorkerError as exc:
        raise UsageError(str(exc)) from None
    if isinstance(formatter, logs.JsonFormatter):
        formatter.worker = worker.id
    pidfile = args.pidfile
    if pidfile:
        write_pidfile(pidfile)
    try:
        worker.work()
    except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
        raise ConnectionFailed(f"cannot reach Redis at {describe(resque.redis)}: {exc}") from None
    except (ResqueError, redis_py.RedisError):
        raise
    except Exception as exc:  # noqa: BLE001 - a hook or a bug at startup: one line, the traceback with -v
        log.debug("the worker stopped on an error", exc_info=True)
        raise WorkerError(f"worker {worker.id} stopped: {type(exc).__name__}: {exc}"
                          + ("" if args.verbose else " (run with -v for the traceback)")) from None
    finally:
        if pidfile:
            remove_pidfile(pidfile)
    return 0


def import_jobs(modules: list[str], verbose: int) -> None:
    """Import the modules that register jobs; a failure is one line (the traceback with -v)."""
    sys.path.insert(0, os.getcwd())
    for module in modules:
        for name in [m.strip() for m in module.split(",") if m.strip()]:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - whatever the module raises
                log.debug("importing %s failed", name, exc_info=True)
                where = ""
                tb = traceback.extract_tb(exc.__traceback__)
                if tb and not isinstance(exc, ModuleNotFoundError):
                    where = f" (at {tb[-1].filename}:{tb[-1].lineno})"
                raise UsageError(f"cannot import job module {name!r}: {type(exc).__name__}: {exc}{where}"
                                 + ("" if verbose or isinstance(exc, ModuleNotFoundError)
                                    else "; run with -v for the traceback")) from None


def _forget(resque: Resque, patterns: list[str], pid: int) -> None:
    """Unregister a dead child's worker, its job a DirtyExit failure (no ghost entry)."""
    wid = worker_records.worker_id(patterns, pid, hostname())
    try:
        prune.unregister(resque.redis, resque.layout, resque.failure_backend, wid, "dirty", resque.registry)
    except redis_py.RedisError as exc:
        log.error("supervisor: could not unregister dead worker %s: %s", wid, exc)


def daemonize() -> None:
    """Detach like Ruby's ``Process.daemon(true)``: keep the cwd, drop the terminal."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        raise UsageError(f"cannot write pidfile {path}: {exc.strerror}") from None


def remove_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass
