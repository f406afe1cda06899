"""Seeding a keyspace for the dashboard's tests, screenshots and benchmark.

Writes through pyresque's library (the same records Ruby writes): queues,
failure records, registered workers with heartbeats and current jobs.
Not a test module.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from pyresque import Resque
from pyresque import failure as failure_mod
from pyresque import times
from pyresque import workers as worker_records
from pyresque.browse import ACTIVEJOB_WRAPPER

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "a/b?c=d#e%2F f",
    "x" * 3000,
    "\u202eevil\u0000nul",
]


def activejob_args(job_class: str, arguments: list[Any], enqueued_at: str = "2026-11-23T04:00:00.000000000Z") -> list[Any]:
    return [{"job_class": job_class, "job_id": "b6a3f8a0-0000-4000-8000-000000000001",
             "provider_job_id": None, "queue_name": "mail", "priority": None, "arguments": arguments,
             "executions": 0, "exception_executions": {}, "locale": "en", "timezone": "UTC",
             "enqueued_at": enqueued_at, "scheduled_at": None}]


def add_failure(resque: Resque, queue: str, job_class: str, args: list[Any], exception: str = "RuntimeError",
                error: str = "boom", worker: str | None = None, backtrace: list[str] | None = None) -> None:
    record = failure_mod.record({"class": job_class, "args": args}, exception, error,
                                backtrace or ["app/jobs.rb:1:in `perform'"],
                                worker or f"{socket.gethostname()}:1234:{queue}", queue)
    pipe = resque.redis.pipeline(transaction=True)
    resque.failure_backend.save(pipe, record)
    pipe.execute()


def add_worker(resque: Resque, wid: str, *, job: dict[str, Any] | None = None, heartbeat_age_s: int = 5,
               processed: int = 0, failed: int = 0) -> None:
    r, keys = resque.redis, resque.layout
    now_s, _ = r.time()
    pipe = r.pipeline(transaction=True)
    worker_records.register(pipe, keys, wid)
    pipe.hset(keys.heartbeat, wid, times.heartbeat(now_s - heartbeat_age_s))
    if processed:
        pipe.set(keys.processed_stat(wid), processed)
    if failed:
        pipe.set(keys.failed_stat(wid), failed)
    if job is not None:
        from pyresque import payload as codec

        pipe.set(keys.worker(wid), worker_records.working_on(job["queue"], times.run_at(),
                                                               codec.encode_job(job["class"], job["args"])))
    pipe.execute()


def seed_demo(resque: Resque) -> None:
    """A small, realistic keyspace: what the README screenshots show."""
    host = socket.gethostname()
    for i in range(7):
        resque.enqueue_to("default", "Archive", i, "main")
    for i in range(3):
        resque.enqueue_to("mail", ACTIVEJOB_WRAPPER, *activejob_args("WelcomeMailer", [{"user_id": 40 + i}]))
    resque.enqueue_to("reports", "Reports::Monthly", {"month": "2026-11"})
    resque.redis.sadd(resque.layout.queues, "low")
    add_failure(resque, "default", "Archive", [3, "main"], "Errno::ENOENT", "No such file or directory @ rb_sysopen - /data/3")
    add_failure(resque, "mail", "Mailers::Welcome", [42, {"plan": "pro"}], "Net::SMTPAuthenticationError", "535 5.7.8 Authentication failed")
    add_failure(resque, "reports", "Reports::Monthly", [{"month": "2026-10"}], "ValueError", "month has no data", worker=f"{host}:4242:reports")
    add_worker(resque, f"{host}:4242:default,mail", job={"queue": "default", "class": "Archive", "args": [1, "main"]},
               processed=1520, failed=3)
    add_worker(resque, f"{host}:4243:reports", processed=88)
    add_worker(resque, "old-box:999:*", heartbeat_age_s=900, processed=12)
    resque.redis.set(resque.layout.processed_stat(), 1620)
    resque.redis.set(resque.layout.failed_stat(), 3)
    seed_history(resque)


def seed_history(resque: Resque) -> None:
    """Rate samples as a dashboard open for a day would have kept them (a gentle daily wave)."""
    import math

    from pyresque import history

    r, keys = resque.redis, resque.layout
    now_s, _ = r.time()
    for name, (period_s, length) in history.RESOLUTIONS.items():
        processed, failed, entries = 0, 0, []
        for i in range(length):
            at = now_s - (length - 1 - i) * period_s
            rate = 4 + 3 * math.sin(at / 2400) + 0.6 * math.sin(at / 170)
            processed += int(rate * period_s)
            failed += int(period_s * (0.2 + 0.15 * math.sin(at / 900)))
            entries.append(f"{at} {processed} {failed}")
        r.delete(keys.history(name))
        r.lpush(keys.history(name), *entries)
        r.set(keys.history_lock(name), "1", ex=period_s)


def seed_scheduler(resque: Resque) -> None:
    """Delayed jobs over the next days and dynamic schedules with a run behind them (resque-scheduler's keys)."""
    from pyresque.scheduler.schedule import set_schedule

    r, keys = resque.redis, resque.layout
    now_s, _ = r.time()
    base = now_s - now_s % 60 + 600
    for i in range(3):
        resque.enqueue_at_with_queue("mail", base, "Mailers::Reminder", 40 + i, {"days": 3})
    resque.enqueue_at_with_queue("mail", base + 3600, ACTIVEJOB_WRAPPER,
                                 *activejob_args("InvoiceMailer", [{"invoice_id": 7}]))
    resque.enqueue_at_with_queue("reports", base + 86400, "Reports::Build", "daily")
    for day in range(1, 6):
        resque.enqueue_at_with_queue("default", base + day * 86400 + 7200, "Archive", day, "main")
    set_schedule(r, keys, "nightly_archive", {"cron": "30 2 * * * UTC", "class": "Archive", "queue": "default",
                                              "args": ["all", "main"], "description": "Archive every repository",
                                              "persist": True})
    set_schedule(r, keys, "refresh_feeds", {"every": "15m", "class": "Feeds::Refresh", "queue": "feeds",
                                            "description": "Pull every feed", "persist": True})
    set_schedule(r, keys, "weekly_report", {"cron": "0 9 * * 1 Europe/Paris", "class": "Reports::Weekly",
                                            "queue": "reports", "args": {"format": "pdf"}, "persist": True})
    r.hset(keys.last_enqueued_at, "refresh_feeds", time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(now_s - 240)))
    r.hset(keys.last_enqueued_at, "nightly_archive", time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(now_s - 3 * 3600)))
    r.set(keys.master_lock(), f"{socket.gethostname()}:4300", ex=180)  # a scheduler is master


def seed_hostile(resque: Resque) -> None:
    """Names, classes, arguments and messages an attacker could have enqueued."""
    r, keys = resque.redis, resque.layout
    for name in HOSTILE:
        resque.enqueue_to(name.replace(",", ";") or "q", name, name, {name: [name]})
        add_failure(resque, name, name, [name], name, name, worker=f"{name}:1:{name}")
        add_worker(resque, f"{name}:7:{name}", job={"queue": name, "class": name, "args": [name]})
    bad = b"bad\xff\xfe<script>alert(4)</script>"
    r.sadd(keys.queues, bad)
    r.rpush(keys.queue("invalid-utf8"), b'{"class":"X","args":["\xff<script>alert(5)</script>"]}')
    r.sadd(keys.queues, "invalid-utf8")
    r.rpush(keys.failed, b"not json \xff <script>alert(6)</script>")
    r.sadd(keys.workers, b"host\xff:1:q<script>alert(7)</script>")
    seed_hostile_scheduler(resque)


def seed_hostile_scheduler(resque: Resque) -> None:
    """Delayed jobs, schedules and last runs named by an attacker."""
    from pyresque.scheduler.schedule import set_schedule

    r, keys = resque.redis, resque.layout
    now_s, _ = r.time()
    for i, name in enumerate(HOSTILE):
        resque.enqueue_at_with_queue(name.replace(",", ";"), now_s + 600 + i, name, name, {name: [name]})
        set_schedule(r, keys, name, {"cron": "0 3 * * *", "class": name, "queue": name.replace(",", ";"),
                                     "args": [name], "description": name, "persist": True})
        r.hset(keys.last_enqueued_at, name, name)
        r.hset(keys.last_enqueued_at, "ran:" + name, name)
    ts = now_s + 900
    r.rpush(keys.delayed(ts), b'{"class":"Y","args":["\xff<script>alert(8)</script>"],"queue":"q"}', b"not json <script>alert(9)</script>")
    r.zadd(keys.delayed_schedule, {str(ts): ts})
    r.hset(keys.persistent_schedules, "<script>alert(10)</script>", b"{bad \xff <script>alert(11)</script>")
    r.set(keys.master_lock(), "<script>alert(12)</script>:1")
