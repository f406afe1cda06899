"""``pyresque failed``: list, show, retry and remove failure records."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pyresque import payload as codec
from pyresque.cli.common import UsageError, client_from, emit, wants_json
from pyresque.describe import job_name


def add_commands(command: Any) -> None:
    p = command("failed", cmd_failed, "list, show, retry or remove failed jobs")
    p.add_argument("action", choices=["list", "show", "retry", "remove", "clear", "retry-all", "clear-retried"],
                   help="what to do with the failure records")
    p.add_argument("index", nargs="?", type=int, help="the failure's index (show, retry, remove)")
    p.add_argument("--queue", dest="failed_queue", help="a redis_multi_queue failure list, e.g. high_failed")
    p.add_argument("--start", type=int, default=0, help="list from this index (default 0)")
    p.add_argument("--count", type=int, default=20, help="list this many (default 20)")
    p.add_argument("--class", dest="job_class", default="", help="list: only this job class (ActiveJob's too)")
    p.add_argument("--exception", default="", help="list: only this exception class")
    p.add_argument("--grep", default="", help="list: only errors containing this text (any case)")


def cmd_failed(args: argparse.Namespace) -> int:
    from pyresque.failed_admin import FailedAdmin, FailureFilter  # only this command needs it: a worker stays smaller
    resque = client_from(args)
    failures = resque.failures
    action, index, fq = args.action, args.index, args.failed_queue
    if action in ("show", "retry", "remove") and index is None:
        raise UsageError(f"failed {action} needs the failure's INDEX (see `pyresque failed list`)")
    if action == "list":
        if args.count < 1 or args.start < 0:
            raise UsageError("--count must be at least 1 and --start at least 0")
        if args.job_class or args.exception or args.grep:
            # The dashboard's filter, from the library: the same records match in both.
            flt = FailureFilter(job_class=args.job_class, exception=args.exception, text=args.grep)
            page = FailedAdmin(resque.redis, resque.layout, resque.failure_backend).page(
                args.start, args.count, only=fq, flt=flt, newest_first=False)
            total, items = page.total, page.items
        else:
            total = failures.count(fq)
            items = failures.all(fq, args.start, args.count)
        if wants_json(args):
            print(codec.encode([{"index": f.index, **(f.data or {"corrupt": f.raw})} for f in items], max_nesting=None))
        else:
            print(_page_line(total, args.start, len(items), fq))
            for f in items:
                print(_failure_line(f))
    elif action == "show":
        f = failures.get(index, fq)
        if f.data is None:
            text = json.dumps({"corrupt": f.raw}, ensure_ascii=False)
        else:
            text = codec.encode(f.data, max_nesting=None)
            if not wants_json(args):
                try:
                    text = json.dumps(f.data, ensure_ascii=False, indent=2)
                except ValueError:  # an integer too long for json: the compact form
                    pass
        print(text)
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


def _page_line(total: int, start: int, shown: int, failed_queue: str | None) -> str:
    where = f" in {failed_queue}" if failed_queue else ""
    if not total:
        return f"no failures{where}"
    if not shown:
        return f"{total} failures{where}; none from index {start} on"
    more = f"; next page: --start {start + shown}" if start + shown < total else ""
    return f"failures {start}-{start + shown - 1} of {total}{where}{more}"


def _failure_line(f: Any) -> str:
    d = f.data
    if d is None:
        return f"{f.index}  corrupt record (not a JSON object): {f.raw[:80]!r}"
    payload = d.get("payload") if isinstance(d.get("payload"), dict) else None
    if payload is not None:
        shown, job_id = job_name(payload.get("class"), payload.get("args"))
        what = f"{shown}{f' {job_id}' if job_id else ''}"
    else:
        what = "(not a job: see raw_payload)" if "raw_payload" in d else "(no payload)"
    retried = f" (retried {d['retried_at']})" if d.get("retried_at") else ""
    return f"{f.index}  {d.get('failed_at')}  {d.get('queue')}  {what}  {d.get('exception')}: {d.get('error')}{retried}"
