"""``pyresque failed``: list, show, retry and remove failure records."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pyresque.cli.common import UsageError, client_from, emit, wants_json
from pyresque.failed_admin import FailedAdmin, FailureFilter


def add_commands(command: Any) -> None:
    p = command("failed", cmd_failed, "list, show, retry or remove failed jobs")
    p.add_argument("action", choices=["list", "show", "retry", "remove", "clear", "retry-all", "clear-retried"])
    p.add_argument("index", nargs="?", type=int, help="the failure's index (show, retry, remove)")
    p.add_argument("--queue", dest="failed_queue", help="a redis_multi_queue failure list, e.g. high_failed")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--class", dest="job_class", default="", help="list: only this job class (ActiveJob's too)")
    p.add_argument("--exception", default="", help="list: only this exception class")
    p.add_argument("--grep", default="", help="list: only errors containing this text (any case)")


def cmd_failed(args: argparse.Namespace) -> int:
    failures = client_from(args).failures
    action, index, fq = args.action, args.index, args.failed_queue
    if action in ("show", "retry", "remove") and index is None:
        raise UsageError(f"failed {action} needs the failure's INDEX (see `pyresque failed list`)")
    if action == "list" and (args.job_class or args.exception or args.grep):
        resque = client_from(args)
        flt = FailureFilter(job_class=args.job_class, exception=args.exception, text=args.grep)
        admin = FailedAdmin(resque.redis, resque.layout, resque.failure_backend)
        items = admin.page(args.start, args.count, only=fq, flt=flt, newest_first=False).items
        emit(args, [{"index": f.index, **(f.data or {"raw": f.raw})} for f in items],
             "\n".join(_failure_line(f) for f in items) or "(no matching failures)")
    elif action == "list":
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
