"""``pyresque scheduler``, ``pyresque delayed ...`` and ``pyresque schedule ...``.

    pyresque scheduler [--schedule schedule.yml] [-D] [-i 5] [--import MODULE]
    pyresque delayed list | show TIMESTAMP | remove CLASS [ARG...] --queue Q
                     | enqueue-now CLASS [ARG...] --queue Q | clear
    pyresque schedule list | show NAME [--schedule schedule.yml]

The scheduler reads resque-scheduler's environment variables
(``RESQUE_SCHEDULER_INTERVAL``, ``DYNAMIC_SCHEDULE``, ``LOCK_TIMEOUT``,
``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``, ``DELAYED_REQUEUE_BATCH_SIZE``,
``APP_NAME``, ``RAILS_ENV``, ``LOGFILE``, ``LOGFORMAT``, ``QUIET``,
``VERBOSE``); flags override them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from pyresque.cli.common import EXIT_ERROR, UsageError, client_from, emit, parse_json_arg, wants_json
from pyresque.cli.work import daemonize, remove_pidfile, write_pidfile
from pyresque.config import QUIET_LEVEL, SchedulerSettings, check_scheduler_settings
from pyresque.errors import InvalidSchedule, ResqueError, WorkerError


def add_commands(command: Any) -> None:
    try:
        s, env_error = SchedulerSettings.from_env(os.environ), None
    except ResqueError as exc:
        s, env_error = SchedulerSettings(), str(exc)
    p = command("scheduler", cmd_scheduler, "move due delayed jobs and run recurring schedules (rake resque:scheduler)")
    p.add_argument("--schedule", default=s.schedule_file, metavar="FILE",
                   help="resque-scheduler YAML schedule (default: $RESQUE_SCHEDULE)")
    p.add_argument("-i", "--interval", type=float, default=s.interval_s,
                   help="longest sleep between passes, seconds (default: $RESQUE_SCHEDULER_INTERVAL or 5)")
    p.add_argument("-D", "--dynamic", action="store_true", default=s.dynamic,
                   help="also run the schedules kept in Redis (default: $DYNAMIC_SCHEDULE)")
    p.add_argument("-n", "--app-name", default=s.app_name, help="shown in the process title (default: $APP_NAME)")
    p.add_argument("-E", "--environment", dest="env", default=s.env, help="for rails_env entries (default: $RAILS_ENV)")
    p.add_argument("-l", "--logfile", default=s.logfile, help="log here instead of stderr (default: $LOGFILE)")
    p.add_argument("-F", "--logformat", choices=["text", "json", "logfmt"], default=s.logformat,
                   help="log line format (default: $LOGFORMAT or text)")
    p.add_argument("-q", "--quiet", action="store_const", const=QUIET_LEVEL, dest="log_level", default=s.log_level,
                   help="log fatal messages only, as resque-scheduler ($QUIET)")
    p.add_argument("-v", "--verbose", action="store_const", const=logging.DEBUG, dest="log_level",
                   help="debug logging ($VERBOSE)")
    p.add_argument("--catch-up", action="store_true", default=s.catch_up,
                   help="a new master enqueues each tick it finds missed (up to 100 per schedule) instead of "
                        "logging them ($PYRESQUE_SCHEDULE_CATCH_UP)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="a module that registers jobs: their queues and hooks apply to moved jobs")
    p.add_argument("--pidfile", default=os.environ.get("PIDFILE") or None, metavar="PATH",
                   help="write the scheduler's pid here ($PIDFILE)")
    p.add_argument("--background", action="store_true", default=bool(os.environ.get("BACKGROUND")),
                   help="detach and run in the background; log with --logfile ($BACKGROUND)")
    p.set_defaults(scheduler_settings=s, env_error=env_error)

    p = command("delayed", cmd_delayed, "list, show, remove or run now the delayed jobs (resque-scheduler)")
    p.add_argument("action", choices=["list", "show", "remove", "enqueue-now", "clear"])
    p.add_argument("target", nargs="?", metavar="TIMESTAMP|CLASS",
                   help="show: a timestamp; remove/enqueue-now: the wire class name")
    p.add_argument("args", nargs="*", metavar="ARG", help="the job's arguments as JSON (remove, enqueue-now)")
    p.add_argument("--queue", help="the queue in the delayed item (remove, enqueue-now)")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=20)

    p = command("schedule", cmd_schedule, "list recurring schedules and their next run times")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?")
    p.add_argument("--schedule", default=s.schedule_file, metavar="FILE", help="default: $RESQUE_SCHEDULE")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="a module that registers jobs: entries without a queue take the registered one")


# Time arguments ------------------------------------------------------------------
def parse_in(text: str) -> float:
    """``--in``: a duration such as ``90``, ``30s``, ``10m``, ``1h30m``, ``2d``."""
    from pyresque.scheduler.schedule import parse_duration

    try:
        return parse_duration(text)
    except InvalidSchedule as exc:
        raise UsageError(f"--in: {exc}") from None


def parse_at(text: str) -> datetime:
    """``--at``: ISO 8601, e.g. ``2027-01-01T09:00:00+01:00``; without an offset, local time."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at {text!r} is not an ISO 8601 time such as 2027-01-01T09:00:00+01:00") from None


def due_at(delay: str | None, at: str | None) -> float:
    """When ``--in DELAY`` or ``--at TIME`` falls, in epoch seconds; a time no
    job can be delayed to (past the year 9999) is a usage error, refused before
    anything is written."""
    from pyresque.scheduler.delayed import epoch_of

    flag = f"--in {delay!r}" if delay is not None else f"--at {at!r}"
    try:
        when = time.time() + parse_in(delay) if delay is not None else parse_at(at or "").timestamp()
        epoch_of(when)
    except (InvalidSchedule, OverflowError, ValueError) as exc:
        # OverflowError/ValueError: a naive --at near the year 9999 the local zone cannot convert.
        raise UsageError(f"{flag}: {exc}") from None
    return when


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone().isoformat(timespec="seconds")


# scheduler ---------------------------------------------------------------------------
def cmd_scheduler(args: argparse.Namespace) -> int:
    from pyresque.scheduler.loop import Scheduler

    if args.env_error:
        raise UsageError(args.env_error)
    s: SchedulerSettings = args.scheduler_settings
    s.interval_s, s.dynamic, s.app_name, s.env = args.interval, args.dynamic, args.app_name, args.env
    s.logfile, s.logformat, s.log_level, s.catch_up = args.logfile, args.logformat, args.log_level, args.catch_up
    try:
        check_scheduler_settings(s)
    except WorkerError as exc:
        raise UsageError(str(exc)) from None
    configure_logging(s)
    log = logging.getLogger("pyresque.scheduler")
    for note in s.notes:
        log.warning("%s", note)
    _import_modules(args.imports)
    resque = client_from(args)
    entries = _load_schedule(args.schedule, resque) if args.schedule else []
    if args.background:
        daemonize()
    if args.pidfile:
        write_pidfile(args.pidfile)
    try:
        Scheduler(resque, s, entries).run()
    finally:
        if args.pidfile:
            remove_pidfile(args.pidfile)
    return 0


def _load_schedule(path: str, resque: Any) -> list[Any]:
    """The file's entries, its problems logged; those marked ``persist`` are
    stored as dynamic schedules, as Ruby's ``Resque.schedule = ...`` does on every start."""
    from pyresque.scheduler import schedule as sched

    log = logging.getLogger("pyresque.scheduler")
    entries, problems = sched.load_file(path)
    persisted, unpersisted = sched.persist_entries(resque.redis, resque.layout, entries)
    for p in problems + unpersisted:
        log.error("%s%s", p, " - skipping" if p.fatal else "")
    if persisted:
        log.info("Persisted to Redis (persist: true): %s", ", ".join(persisted))
    return entries


def configure_logging(s: SchedulerSettings) -> None:
    handler: logging.Handler = logging.FileHandler(s.logfile) if s.logfile else logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter(s.logformat))
    root = logging.getLogger("pyresque")
    root.handlers[:] = [handler]
    root.setLevel(s.log_level)
    root.propagate = False


class _Formatter(logging.Formatter):
    """resque-scheduler's log formats: text, json, logfmt (logger_builder.rb)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")
        level, msg = record.levelname, record.getMessage()
        if self.kind == "json":
            return json.dumps({"name": "resque-scheduler", "progname": "resque-scheduler", "level": level,
                               "timestamp": when, "msg": msg}, ensure_ascii=False)
        if self.kind == "logfmt":
            return f'timestamp="{when}" level="{level}" progname="resque-scheduler" msg={json.dumps(msg)}'
        return f"resque-scheduler: [{level}] {when}: {msg}"


def _import_modules(modules: list[str]) -> None:
    sys.path.insert(0, os.getcwd())
    for module in modules:
        for name in [m.strip() for m in module.split(",") if m.strip()]:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise UsageError(f"cannot import job module {name!r}: {exc}") from None


# delayed ---------------------------------------------------------------------------
def cmd_delayed(args: argparse.Namespace) -> int:
    resque = client_from(args)
    action = args.action
    if action == "list":
        stamps = resque.delayed_queue_peek(args.start, args.count)
        rows = [{"timestamp": ts, "at": iso(ts), "count": resque.delayed_timestamp_size(ts)} for ts in stamps]
        emit(args, rows, "\n".join(f"{r['timestamp']}  {r['at']}  {r['count']} job(s)" for r in rows)
             or "(no delayed jobs)")
    elif action == "show":
        if args.target is None or not args.target.isdigit():
            raise UsageError("delayed show needs a TIMESTAMP (unix seconds; see `pyresque delayed list`)")
        items = resque.delayed_timestamp_peek(int(args.target), args.start, args.count)
        emit(args, items, "\n".join(json.dumps(i, ensure_ascii=False) for i in items) or "(nothing at that time)")
    elif action in ("remove", "enqueue-now"):
        if not args.target:
            raise UsageError(f"delayed {action} needs the job's CLASS (and its ARGs as JSON)")
        if not args.queue:
            raise UsageError(f"delayed {action} needs --queue: delayed items match by class, args and queue")
        values = [parse_json_arg(a, i + 1) for i, a in enumerate(args.args)]
        if action == "remove":
            n = resque.remove_delayed_in_queue(args.target, args.queue, *values)
            emit(args, {"removed": n}, f"removed {n} delayed job(s)")
        else:
            n = resque.enqueue_delayed_with_queue(args.target, args.queue, *values)
            emit(args, {"enqueued": n}, f"enqueued {n} delayed job(s) on {args.queue}")
        return 0 if n else EXIT_ERROR
    elif action == "clear":
        n = resque.count_all_scheduled_jobs()
        resque.reset_delayed_queue()
        emit(args, {"cleared": n}, f"cleared {n} delayed job(s)")
    return 0


# schedule -------------------------------------------------------------------------------
def cmd_schedule(args: argparse.Namespace) -> int:
    from pyresque.scheduler import schedule as sched

    _import_modules(args.imports)
    entries, problems = sched.load_file(args.schedule) if args.schedule else ([], [])
    resque = client_from(args)
    dynamic, more = sched.parse_schedule(sched.persistent_schedules(resque.redis, resque.layout))
    # A dynamic schedule hides the file's of the same name (Ruby's all_schedules), as a
    # `persist: true` entry is once a scheduler has loaded the file: listed once.
    in_redis = {e.name for e in dynamic}
    entries = [e for e in entries if e.name not in in_redis] + dynamic
    problems += more
    for e in entries:
        spec = resque.registry.get(e.class_name)
        if not e.queue and not (spec is not None and spec.queue):
            problems.append(sched.Problem(e.name, f"has no queue and {e.class_name} is not registered with one: "
                                                  "give it a queue, or --import the module that registers it"))
    for p in problems:
        print(f"pyresque: error: {p}", file=sys.stderr)
    if args.action == "show":
        if not args.name:
            raise UsageError("schedule show needs a NAME (see `pyresque schedule list`)")
        entries = [e for e in entries if e.name == args.name]
        if not entries:
            raise UsageError(f"no schedule named {args.name!r}")
    now = time.time()
    last = resque.redis.hgetall(resque.layout.last_enqueued_at)
    rows = []
    for e in entries:
        rows.append({
            "name": e.name, "class": e.class_name, "args": e.args,
            "queue": e.queue or getattr(resque.registry.get(e.class_name), "queue", None),
            "description": e.description, "schedule": e.describe(), "next_run": iso(e.next_after(now, now)),
            "last_enqueued_at": (last.get(e.name.encode()) or b"").decode() or None,
        })
    if wants_json(args):
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print("\n".join(f"{r['name']}  {r['schedule']}  {r['class']} on {r['queue'] or '(no queue)'}  "
                        f"next {r['next_run']}  last {r['last_enqueued_at'] or 'never'}" for r in rows)
              or "(no schedules)")
    return EXIT_ERROR if problems else 0
