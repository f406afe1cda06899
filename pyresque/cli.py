"""``pyresque``: the command line, over the same library as everything else.

    pyresque enqueue QUEUE CLASS [ARG...]   ARGs are JSON: 42 '"text"' '{"a":1}'
    pyresque info | queues | peek QUEUE | workers
    pyresque work -q QUEUES [--import MODULE] [-i INTERVAL] [--count N] ...
    pyresque failed list|show|retry|remove|clear|retry-all|clear-retried
    pyresque check

Common options: ``--redis`` (default ``$REDIS_URL``, else localhost:6379),
``--namespace`` (default ``$RESQUE_NAMESPACE``, else resque), ``--json``.
Every error is one line on stderr and a non-zero exit: 1 for a problem with
Redis or the data, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any, Callable, Sequence

import redis as redis_py

from pyresque import __version__, timeouts
from pyresque.client import Resque, validate_queue
from pyresque.config import ClientSettings, WorkerSettings
from pyresque.errors import ResqueError, WorkerError

EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr, like every other error."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args) or 0
    except UsageError as exc:
        print(f"pyresque: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ResqueError as exc:
        print(f"pyresque: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
        # The worker and check talk to Redis directly; say it as the client does.
        print(f"pyresque: error: cannot reach Redis: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except redis_py.RedisError as exc:
        print(f"pyresque: error: Redis: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    common = _Parser(add_help=False)
    common.add_argument("--redis", default=argparse.SUPPRESS,
                        help="redis:// or redis+sentinel:// URL, or host:port[:db][/namespace] (default: $REDIS_URL or localhost:6379)")
    common.add_argument("--redis-timeout", type=_seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="give up on a Redis reply after this long (default: $PYRESQUE_REDIS_TIMEOUT or 10)")
    common.add_argument("--redis-connect-timeout", type=_seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="give up connecting to Redis after this long (default: $PYRESQUE_REDIS_CONNECT_TIMEOUT or 5)")
    common.add_argument("--namespace", default=argparse.SUPPRESS,
                        help="key namespace (default: $RESQUE_NAMESPACE or resque)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    parser = _Parser(prog="pyresque", parents=[common],
                                     description="Resque-compatible jobs for Python.")
    parser.add_argument("--version", action="version", version=f"pyresque {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int | None], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = command("enqueue", cmd_enqueue, "enqueue a job for any worker, Ruby or Python")
    p.add_argument("queue")
    p.add_argument("job_class", metavar="CLASS", help='the wire class name, e.g. Archive or "Mailers::Welcome"')
    p.add_argument("args", nargs="*", metavar="ARG", help="each argument as JSON: 42, '\"text\"', '{\"a\":1}'")

    command("info", cmd_info, "show Resque.info: pending, processed, queues, workers, working, failed")
    command("queues", cmd_queues, "list queues and their sizes")
    p = command("peek", cmd_peek, "show jobs waiting in a queue without taking them")
    p.add_argument("queue")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=10)
    command("workers", cmd_workers, "list registered workers (Ruby and Python) and what they run")
    command("check", cmd_check, "check a live keyspace against the Resque protocol")

    p = command("failed", cmd_failed, "list, show, retry or remove failed jobs")
    p.add_argument("action", choices=["list", "show", "retry", "remove", "clear", "retry-all", "clear-retried"])
    p.add_argument("index", nargs="?", type=int, help="the failure's index (show, retry, remove)")
    p.add_argument("--queue", dest="failed_queue", help="a redis_multi_queue failure list, e.g. high_failed")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=20)

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
    p.add_argument("--job-timeout", type=_seconds, default=w.job_timeout_s, metavar="SECONDS",
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
    return parser


# Helpers --------------------------------------------------------------------
def client_from(args: argparse.Namespace) -> Resque:
    settings = ClientSettings.from_env(os.environ)
    redis_target = getattr(args, "redis", None) or settings.redis
    namespace = getattr(args, "namespace", None) or settings.namespace
    redis_timeouts = settings.redis_timeouts(getattr(args, "redis_timeout", None),
                                             getattr(args, "redis_connect_timeout", None))
    return Resque(redis_target, namespace, failure_backend=settings.failure_backend,
                  environment=settings.environment, timeouts=redis_timeouts)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if wants_json(args) else text)


def _seconds(text: str) -> float | None:
    """argparse type of a timeout: a positive number of seconds."""
    try:
        return timeouts.validated(float(text), "a timeout")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds") from None


def parse_json_arg(text: str, position: int) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"argument {position} is not JSON ({exc}): {text!r}; quote strings as '\"text\"'") from None


# Commands -------------------------------------------------------------------
def cmd_enqueue(args: argparse.Namespace) -> int:
    try:
        validate_queue(args.queue)
    except ResqueError as exc:
        raise UsageError(str(exc)) from None
    values = [parse_json_arg(a, i + 1) for i, a in enumerate(args.args)]
    resque = client_from(args)
    resque.enqueue_to(args.queue, args.job_class, *values)
    emit(args, {"queue": args.queue, "class": args.job_class, "args": values},
         f"enqueued {args.job_class} to {args.queue}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = client_from(args).info()
    emit(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def cmd_queues(args: argparse.Namespace) -> int:
    sizes = client_from(args).queue_sizes()
    width = max((len(q) for q in sizes), default=0)
    emit(args, sizes, "\n".join(f"{q:<{width}}  {n}" for q, n in sizes.items()) or "(no queues)")
    return 0


def cmd_peek(args: argparse.Namespace) -> int:
    items = client_from(args).peek(args.queue, args.start, args.count)
    emit(args, items, "\n".join(json.dumps(i, ensure_ascii=False) for i in items) or f"(queue {args.queue} is empty)")
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    workers = client_from(args).workers()
    rows = []
    for w in workers:
        doing = ""
        if w.job is not None:
            payload = w.job.get("payload") if isinstance(w.job.get("payload"), dict) else {}
            doing = f" {w.job.get('queue')} {payload.get('class')} since {w.job.get('run_at')}"
        rows.append(f"{w.id} ({w.state}){doing}  processed={w.processed} failed={w.failed}")
    data = [{"id": w.id, "state": w.state, "started": w.started, "heartbeat": w.heartbeat,
             "processed": w.processed, "failed": w.failed, "job": w.job} for w in workers]
    emit(args, data, "\n".join(rows) or "(no workers)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pyresque import check

    resque = client_from(args)
    problems = check.check(resque.redis, resque.layout)
    if wants_json(args):
        print(json.dumps([p.__dict__ for p in problems], ensure_ascii=False))
    else:
        print(check.format_problems(problems))
    return EXIT_ERROR if any(p.severity == "error" for p in problems) else 0


def cmd_failed(args: argparse.Namespace) -> int:
    failures = client_from(args).failures
    action, index, fq = args.action, args.index, args.failed_queue
    if action in ("show", "retry", "remove") and index is None:
        raise UsageError(f"failed {action} needs the failure's INDEX (see `pyresque failed list`)")
    if action == "list":
        items = failures.all(fq, args.start, args.count)
        emit(args, [{"index": f.index, **(f.data or {"raw": f.raw})} for f in items],
             "\n".join(_failure_line(f) for f in items) or "(no failures)")
    elif action == "show":
        f = failures.get(index, fq)
        print(json.dumps(f.data if f.data is not None else f.raw, ensure_ascii=False, indent=None if wants_json(args) else 2))
    elif action == "retry":
        f = failures.requeue(index, fq)
        emit(args, f.data, f"retried failure {index} on queue {(f.data or {}).get('queue')}")
    elif action == "remove":
        failures.remove(index, fq)
        emit(args, {"removed": index}, f"removed failure {index}")
    elif action == "clear":
        n = failures.clear(fq)
        emit(args, {"cleared": n}, f"cleared {n} failures")
    elif action == "retry-all":
        n = failures.requeue_all(fq)
        emit(args, {"retried": n}, f"retried {n} failures")
    elif action == "clear-retried":
        n = failures.clear_retried(fq)
        emit(args, {"removed": n}, f"removed {n} retried failures")
    return 0


def _failure_line(f: Any) -> str:
    d = f.data or {}
    payload = d.get("payload") if isinstance(d.get("payload"), dict) else {}
    retried = f" (retried {d['retried_at']})" if d.get("retried_at") else ""
    return f"{f.index}  {d.get('failed_at')}  {d.get('queue')}  {payload.get('class')}  {d.get('exception')}: {d.get('error')}{retried}"


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
