"""``pyresque work``: the worker, its supervisor for ``--count``, pidfiles and daemonizing."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from pyresque.cli.common import UsageError, client_from, seconds
from pyresque.config import WorkerSettings
from pyresque.errors import ResqueError, WorkerError


def add_commands(command: Any) -> None:
    env = os.environ
    try:
        w = WorkerSettings.from_env(env)
        env_error = None
    except ResqueError as exc:
        # Reported by `work` only: a bad INTERVAL must not break `pyresque info`.
        w, env_error = WorkerSettings(), str(exc)
    p = command("work", cmd_work, "work queues as a Resque worker")
    p.add_argument("-q", "--queues", default=w.queues, help="comma-separated, in priority order; * globs and !skip (default: $QUEUES)")
    p.add_argument("-i", "--interval", type=float, default=w.interval_s, help="seconds between polls; 0 drains and exits (default: $INTERVAL or 5)")
    p.add_argument("--min-interval", type=float, default=w.min_interval_s)
    p.add_argument("--max-interval", type=float, default=w.max_interval_s)
    p.add_argument("--backoff-interval", type=float, default=w.backoff_interval_s)
    p.add_argument("--count", type=int, default=w.count, help="worker processes to run (default: $COUNT or 1)")
    p.add_argument("--pidfile", default=w.pidfile)
    p.add_argument("--background", action="store_true", default=w.background, help="detach and run in the background")
    p.add_argument("--fork", dest="fork_per_job", action="store_true", default=w.fork_per_job,
                   help="fork a child per job (the default where fork exists; FORK_PER_JOB=false turns it off)")
    p.add_argument("--no-fork", dest="fork_per_job", action="store_false")
    p.add_argument("--no-prefork", dest="prefork", action="store_false", default=w.prefork,
                   help="fork each job's child when the job arrives, not ahead of it ($PYRESQUE_PREFORK=0)")
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
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(worker_settings=w, env_error=env_error)


def cmd_work(args: argparse.Namespace) -> int:
    from pyresque.worker import Worker, check_settings

    s: WorkerSettings = args.worker_settings
    if args.env_error:
        raise UsageError(args.env_error)
    level = s.log_level if not args.verbose else (logging.INFO if args.verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.queues:
        raise UsageError("no queues: pass -q/--queues or set QUEUES, e.g. QUEUES=high,low or QUEUES=*")
    if args.count < 1:
        raise UsageError("--count must be at least 1")
    try:
        check_settings(args.interval, args.min_interval, args.max_interval, args.backoff_interval,
                       args.heartbeat_interval, args.prune_interval)
    except WorkerError as exc:
        raise UsageError(str(exc)) from None
    if args.count > 1:
        # The supervisor is the process to signal, so it owns the pidfile
        # and is what --background detaches.
        if args.background:
            daemonize()
        if args.pidfile:
            write_pidfile(args.pidfile)
        try:
            return supervise(args.count)
        finally:
            if args.pidfile:
                remove_pidfile(args.pidfile)
    sys.path.insert(0, os.getcwd())
    for module in args.imports:
        for name in [m.strip() for m in module.split(",") if m.strip()]:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise UsageError(f"cannot import job module {name!r}: {exc}") from None
    if args.background:
        daemonize()
    resque = client_from(args)
    try:
        worker = Worker(
            resque, args.queues,
            interval_s=args.interval, min_interval_s=args.min_interval, max_interval_s=args.max_interval,
            backoff_interval_s=args.backoff_interval, fork_per_job=args.fork_per_job, prefork=args.prefork,
            term_child=s.term_child, graceful_term=s.graceful_term,
            pre_shutdown_timeout_s=s.pre_shutdown_timeout_s, term_timeout_s=s.term_timeout_s,
            job_timeout_s=args.job_timeout, procline_prefix=s.procline_prefix,
            heartbeat_interval_s=args.heartbeat_interval, prune_after_s=args.prune_interval,
        )
    except WorkerError as exc:
        raise UsageError(str(exc)) from None
    pidfile = args.pidfile
    if pidfile:
        write_pidfile(pidfile)
    try:
        worker.work()
    finally:
        if pidfile:
            remove_pidfile(pidfile)
    return 0


def supervise(count: int) -> int:
    """Run ``count`` worker processes; signals reach them all, as with ``COUNT``."""
    argv = [sys.executable, "-m", "pyresque"] + _without_options(sys.argv[1:], {"--pidfile", "--count"}) + ["--count", "1"]
    env = dict(os.environ, COUNT="1")
    env.pop("PIDFILE", None)
    env.pop("BACKGROUND", None)
    argv = [a for a in argv if a != "--background"]
    children = [subprocess.Popen(argv, env=env) for _ in range(count)]

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT):
        signal.signal(sig, forward)
    codes = [child.wait() for child in children]
    return max((c for c in codes if c > 0), default=0)


def _without_options(argv: list[str], options: set[str]) -> list[str]:
    """``argv`` minus ``--opt VALUE`` and ``--opt=VALUE`` for each of ``options``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif arg.split("=", 1)[0] not in options or "=" not in arg:
            out.append(arg)
    return out


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
