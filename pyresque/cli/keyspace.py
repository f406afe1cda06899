"""Reading and writing the keyspace: enqueue, info, queues, peek, workers, check."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pyresque.cli.common import EXIT_ERROR, UsageError, client_from, emit, parse_json_arg, wants_json
from pyresque.client import validate_queue
from pyresque.describe import job_name
from pyresque.errors import ResqueError


def add_commands(command: Any) -> None:
    p = command("enqueue", cmd_enqueue, "enqueue a job for any worker, Ruby or Python")
    p.add_argument("queue", help="the queue to push the job onto")
    p.add_argument("job_class", metavar="CLASS", help='the wire class name, e.g. Archive or "Mailers::Welcome"')
    p.add_argument("args", nargs="*", metavar="ARG", help="each argument as JSON: 42, '\"text\"', '{\"a\":1}'")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--in", dest="delay", metavar="DURATION",
                      help="delay it (resque-scheduler's enqueue_in): 90, 30s, 10m, 1h30m, 2d")
    when.add_argument("--at", dest="at", metavar="TIME",
                      help="delay it until an ISO 8601 time, e.g. 2027-01-01T09:00:00+01:00 (no offset: local)")

    command("info", cmd_info, "show Resque.info: pending, processed, queues, workers, working, failed")
    command("queues", cmd_queues, "list queues and their sizes")
    p = command("peek", cmd_peek, "show jobs waiting in a queue without taking them")
    p.add_argument("queue", help="the queue's name")
    p.add_argument("--start", type=int, default=0, help="from this position (default 0, the head)")
    p.add_argument("--count", type=int, default=10, help="this many jobs (default 10)")
    command("workers", cmd_workers, "list registered workers (Ruby and Python) and what they run")
    p = command("check", cmd_check, "check a live keyspace against the Resque protocol")
    p.add_argument("--report", action="store_true",
                   help="a conformance report: every finding with its severity, the Ruby reader it affects "
                        "and the SPEC section (Markdown; JSON with --json)")


def cmd_enqueue(args: argparse.Namespace) -> int:
    try:
        validate_queue(args.queue)
    except ResqueError as exc:
        raise UsageError(str(exc)) from None
    values = [parse_json_arg(a, i + 1) for i, a in enumerate(args.args)]
    if args.delay is not None or args.at is not None:
        return _enqueue_later(args, values)
    resque = client_from(args)
    resque.enqueue_to(args.queue, args.job_class, *values)
    emit(args, {"queue": args.queue, "class": args.job_class, "args": values},
         f"enqueued {args.job_class} to {args.queue}")
    return 0


def _enqueue_later(args: argparse.Namespace, values: list[Any]) -> int:
    """``enqueue --in/--at``: resque-scheduler's ``enqueue_at_with_queue``, and a line saying
    what it did: a time already past enqueues the job at once, as Ruby's does."""
    from pyresque.cli.scheduler import due_at
    from pyresque.scheduler.delayed import DELAYED

    when = due_at(args.delay, args.at)
    outcome = client_from(args).delayed.place(args.queue, when, args.job_class, *values)
    local = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(when))
    if outcome == DELAYED:
        text = f"delayed {args.job_class} on {args.queue} until {local}"
    else:
        text = f"enqueued {args.job_class} to {args.queue} now: its time, {local}, has passed"
    emit(args, {"queue": args.queue, "class": args.job_class, "args": values, "at": int(when),
                "delayed": outcome == DELAYED}, text)
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
    if args.count < 1 or args.start < 0:
        raise UsageError("--count must be at least 1 and --start at least 0")
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
            shown, job_id = job_name(payload.get("class"), payload.get("args"))
            doing = f" {w.job.get('queue')} {shown}{f' {job_id}' if job_id else ''} since {w.job.get('run_at')}"
        rows.append(f"{w.id} ({w.state}){doing}  processed={w.processed} failed={w.failed}")
    data = [{"id": w.id, "state": w.state, "started": w.started, "heartbeat": w.heartbeat,
             "processed": w.processed, "failed": w.failed, "job": w.job} for w in workers]
    emit(args, data, "\n".join(rows) or "(no workers)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pyresque import check

    resque = client_from(args)
    problems = check.check(resque.redis, resque.layout)
    if getattr(args, "report", False):
        namespace = resque.layout.namespace
        if wants_json(args):
            print(json.dumps(check.report_data(problems, namespace), ensure_ascii=False))
        else:
            print(check.format_report(problems, namespace))
    elif wants_json(args):
        print(json.dumps([p.__dict__ for p in problems], ensure_ascii=False))
    else:
        print(check.format_problems(problems))
    return EXIT_ERROR if any(p.severity == "error" for p in problems) else 0
