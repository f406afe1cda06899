"""ActiveJob both ways against the real activejob 7.2 gem on Resque.

* Rails' ``perform_later`` -> Python worker: every argument type arrives as
  the promised Python value, and sent back with ``perform_later`` it reaches
  a Ruby job as the very same Ruby value (class, zone, keywords, symbols).
* Python's ``perform_later`` -> Ruby worker: Ruby receives the same values
  as from its own ``perform_later``, and job_data is byte for byte what
  Rails writes (but for job_id and enqueued_at).
* A job failing in Python shows under its real class in resque-web and a
  retry from Ruby runs it again in Python.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from pyresque import activejob
from pyresque.activejob import DateTime, Duration, GlobalID, IndifferentDict, Module, Range, Symbol
from pyresque.payload import decode_job
from pyresque.worker import Worker

ROOT = Path(__file__).resolve().parent.parent

# Every argument type ActiveJob 7.2 handles, as Ruby source for perform_later(...).
RUBY_ARGS = (
    '1, "two&<>\u2028", 3.5, nil, true, :sym, {a: 1, "b" => [2, {c: :d}]}, {}, '
    '{"x" => 1}.with_indifferent_access, Widget.new(42), '
    "Time.utc(2020, 1, 2, 3, 4, 5, 123456), Time.new(2020, 1, 2, 3, 4, 5.5r, \"+05:30\"), "
    "Time.local(2021, 6, 7, 8, 9, 10), "
    'DateTime.new(2020, 1, 2, 3, 4, 5, "+01:00"), Date.new(2020, 1, 2), '
    'Time.utc(2020, 1, 2, 3, 4, 5).in_time_zone("America/New_York"), Time.utc(2020, 1, 1).in_time_zone("UTC"), '
    "5.minutes, 1.month + 2.5.seconds, BigDecimal(\"1.5\"), BigDecimal(\"-100\"), String, Billing, "
    "(1..10), (1.5...2.5), (Date.new(2020, 1, 1)..), 1e20, 1.0e-5, [1, [:nested]], "
    'branch: "main", at: Date.new(2021, 3, 4)'
)


def python_args():
    """The Python values for RUBY_ARGS, in the same order (keywords last)."""
    args = [
        1, "two&<>\u2028", 3.5, None, True, Symbol("sym"),
        {Symbol("a"): 1, "b": [2, {Symbol("c"): Symbol("d")}]}, {},
        IndifferentDict(x=1), GlobalID("pyresque-test", "Widget", "42"),
        datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        datetime(2020, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2021, 6, 7, 8, 9, 10),  # naive: local time, as Ruby's Time.local
        DateTime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1))), date(2020, 1, 2),
        datetime(2020, 1, 1, 22, 4, 5, tzinfo=ZoneInfo("America/New_York")),
        datetime(2020, 1, 1, tzinfo=ZoneInfo("Etc/UTC")),
        timedelta(minutes=5), Duration(seconds=2629748.5, parts=[("months", 1), ("seconds", 2.5)]),
        Decimal("1.5"), Decimal("-100"), Module("String"), Module("Billing"),
        Range(1, 10), Range(1.5, 2.5, exclude_end=True), Range(date(2020, 1, 1), None), 1e20, 1.0e-5,
        [1, [Symbol("nested")]],
    ]
    return args, {"branch": "main", "at": date(2021, 3, 4)}


def drain(resque, registry, queues):
    # "fail", as Ruby does: these tests look at the failure a job without a handler becomes.
    Worker(resque, queues, registry=registry, interval_s=0, fork_per_job=False, handle_signals=False,
           unknown_jobs="fail").work()


def perform_later(ruby, *jobs):
    return json.loads(ruby.run("perform_later.rb", stdin=json.dumps(list(jobs))).stdout)


def assert_python_values(args, kwargs):
    expected_args, expected_kwargs = python_args()
    assert len(args) == len(expected_args)
    for i, (got, want) in enumerate(zip(args, expected_args)):
        if isinstance(want, datetime) and want.tzinfo is None:
            want = want.astimezone()  # Ruby's local Time arrives with the local offset
        assert got == want, f"argument {i}: {got!r} != {want!r}"
        assert type(got) is type(want) or (type(want) is timedelta and type(got) is Duration), i
        if isinstance(want, datetime):
            assert got.utcoffset() == want.utcoffset(), i
            if isinstance(want.tzinfo, ZoneInfo):
                assert got.tzinfo == want.tzinfo, i
    assert [type(k) for k in args[6]] == [Symbol, str]
    assert args[10].tzinfo is timezone.utc
    assert args[18].parts == (("months", 1), ("seconds", 2.5))
    assert kwargs == expected_kwargs


def test_rails_job_runs_in_python_and_what_it_re_enqueues_reaches_ruby_unchanged(ruby, resque, registry, ruby_results):
    received = []

    @activejob.job("EchoJob", registry=registry)
    def echo(*args, **kwargs):
        received.append((args, kwargs, activejob.current_job()))
        activejob.perform_later(resque, "ArgsReportJob", *args, queue="aj_ruby", **kwargs)

    [enqueued] = perform_later(ruby, {"job": "EchoJob", "args": RUBY_ARGS, "set": {"priority": 7}})
    drain(resque, registry, "aj_python")

    [(args, kwargs, job)] = received
    assert_python_values(list(args), kwargs)
    assert (job.job_class, job.job_id, job.queue_name, job.priority) == ("EchoJob", enqueued["job_id"], "aj_python", 7)
    assert (job.executions, job.locale, job.timezone, job.scheduled_at) == (1, "en", "UTC", None)
    assert abs(job.enqueued_at - datetime.now(timezone.utc)) < timedelta(minutes=5)

    ruby.run("work_activejob.rb", QUEUES="aj_ruby")
    [report] = ruby_results()
    assert report["class"] == "ArgsReportJob"
    # Ruby's description of what ArgsReportJob got == of what EchoJob was given.
    assert report["args"] == enqueued["described"]
    described = {a["class"] for a in report["args"]}
    assert described >= {"Symbol", "Hash", "ActiveSupport::HashWithIndifferentAccess", "Widget", "Time", "DateTime",
                         "Date", "ActiveSupport::TimeWithZone", "ActiveSupport::Duration", "BigDecimal", "Class",
                         "Module", "Range"}
    assert report["args"][-1]["ruby2_keywords"] is True


def test_python_perform_later_gives_ruby_what_rails_perform_later_gives(ruby, resque, r, ruby_results):
    args, kwargs = python_args()
    info = activejob.perform_later(resque, "ArgsReportJob", *args, queue="aj_ruby", **kwargs)
    python_raw = r.lindex("resque:queue:aj_ruby", 0).decode()
    [from_ruby] = perform_later(ruby, {"job": "ArgsReportJob", "args": RUBY_ARGS})

    def normalized(raw):
        raw = re.sub(r'"job_id":"[0-9a-f-]{36}"', '"job_id":"ID"', raw)
        return re.sub(r'"enqueued_at":"[0-9T:.-]{29}Z"', '"enqueued_at":"AT"', raw)

    assert normalized(python_raw) == normalized(from_ruby["payload"])
    assert normalized(python_raw) != python_raw  # both fields were there to normalize

    ruby.run("work_activejob.rb", QUEUES="aj_ruby")
    from_python_report, from_ruby_report = ruby_results()
    assert from_python_report["job_id"] == info.job_id
    assert from_python_report["args"] == from_ruby_report["args"] == from_ruby["described"]
    kinds = [a["class"] for a in from_python_report["args"]]
    assert kinds[10:17] == ["Time", "Time", "Time", "DateTime", "Date", "ActiveSupport::TimeWithZone",
                            "ActiveSupport::TimeWithZone"]
    assert from_python_report["args"][10] == {"class": "Time", "value": "2020-01-02T03:04:05.123456000Z",
                                              "utc": True, "utc_offset": 0}
    assert from_python_report["args"][15]["zone"] == "America/New_York"
    assert from_python_report["args"][-1] == {
        "class": "Hash", "ruby2_keywords": True,
        "entries": [[{"class": "Symbol", "value": "branch"}, {"class": "String", "value": "main"}],
                    [{"class": "Symbol", "value": "at"}, {"class": "Date", "value": "2021-03-04"}]],
    }
    assert (from_python_report["queue_name"], from_python_report["executions"], from_python_report["locale"],
            from_python_report["timezone"]) == ("aj_ruby", 1, "en", "UTC")


def test_python_failure_shows_real_class_in_resque_web_and_ruby_retry_runs_it_in_python(ruby, resque, registry, r):
    attempts = []

    @activejob.job("FlakyJob", registry=registry)
    def flaky(invoice, *, amount):
        attempts.append((invoice, amount))
        if len(attempts) == 1:
            raise RuntimeError("payment gateway timed out")

    perform_later(ruby, {"job": "FlakyJob", "args": 'Widget.new(5), amount: BigDecimal("9.99")'},
                  {"job": "OrphanJob", "args": "1"})
    drain(resque, registry, "aj_python")
    assert attempts == [(GlobalID("pyresque-test", "Widget", "5"), Decimal("9.99"))]

    seen = ruby.eval(
        'require "resque/server"; require "rack/mock"\n'
        'failures = Resque::Failure.all(0, 2)\n'
        'page = Rack::MockRequest.new(Resque::Server.new).get("/failed").body\n'
        'before = Resque::Failure.all(0, 2).map { |f| f["payload"]["args"][0]["job_class"] }\n'
        "Resque::Failure.requeue(0)\n"
        '{"codes" => page.scan(/<code>([^<]*)<\\/code>/).flatten, "errors" => failures.map { |f| f["error"] },'
        ' "exceptions" => failures.map { |f| f["exception"] }, "classes" => before}'
    )
    assert seen["classes"] == ["FlakyJob", "OrphanJob"]
    assert seen["exceptions"] == ["RuntimeError", "pyresque.UnknownActiveJob"]
    assert seen["errors"][0] == "payment gateway timed out"
    assert "no ActiveJob handler registered for 'OrphanJob'" in seen["errors"][1]
    # resque-web names the ActiveJob class, not the wrapper.
    assert "FlakyJob" in seen["codes"] and "OrphanJob" in seen["codes"]
    assert "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper" not in seen["codes"]

    [requeued] = r.lrange("resque:queue:aj_python", 0, -1)
    assert decode_job(requeued).args[0]["job_class"] == "FlakyJob"
    drain(resque, registry, "aj_python")
    assert len(attempts) == 2 and attempts[1] == attempts[0]
    assert resque.failures.count() == 2 and resque.failures.get(0).retried


def test_the_documented_example_runs_rails_jobs_from_the_cli(ruby, redis_server, r):
    perform_later(ruby, {"job": "ArchiveJob", "set": {"queue": "default"},
                         "args": 'Widget.new(3), Time.utc(2024, 2, 29, 12), keep: 30.days, tags: [:daily]'},
                  {"job": "Billing::ChargeJob", "set": {"queue": "billing"},
                   "args": 'Widget.new(8), amount: BigDecimal("12.50"), currency: :eur'})
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "activejob_worker.py"), "--drain"],
        capture_output=True, text=True, timeout=60,
        env={"REDIS_URL": redis_server, "QUEUES": "default,billing", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "archive Widget 3 as of 2024-02-29 12:00:00+00:00, keeping 30 days, tagged daily" in proc.stdout
    assert "charge 12.50 EUR to Widget 8 (attempt 1)" in proc.stdout
    assert r.llen("resque:failed") == 0 and r.get("resque:stat:processed") == b"2"
    # ...and the charge handler told Rails to send a receipt, as Rails' own perform_later would.
    [receipt] = r.lrange("resque:queue:mailers", 0, -1)
    data = decode_job(receipt).args[0]
    assert data["job_class"] == "ReceiptMailerJob"
    assert data["arguments"][0] == {"_aj_globalid": "gid://pyresque-test/Widget/8"}
    assert data["arguments"][1]["amount"] == {"_aj_serialized": "ActiveJob::Serializers::BigDecimalSerializer",
                                              "value": "12.5"}
