"""ActiveJob interop on the Python side: dispatch, argument formats, enqueue, failures.

The job_data below is what Rails 7.2 (with ActiveSupport loaded, as in a
Rails app) wrote for ``ArchiveJob.perform_later(...)``; the compat tests in
compat-tests/test_ruby_activejob.py check the same things against live Ruby.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pyresque import activejob
from pyresque.activejob import (
    DateTime,
    Duration,
    GlobalID,
    IndifferentDict,
    Module,
    Range,
    Symbol,
)
from pyresque.errors import ActiveJobDeserializationError, InvalidArgument, UnknownActiveJob
from pyresque.failure import exception_name
from pyresque.hooks import perform_with_hooks
from pyresque.payload import decode_job
from pyresque.worker import Worker

WRAPPER = "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper"
S = "ActiveJob::Serializers::"

RAILS_JOB_DATA = {
    "job_class": "ArchiveJob",
    "job_id": "53ca39a6-2423-4320-a52a-71e2aa988cfc",
    "provider_job_id": None,
    "queue_name": "aj_python",
    "priority": 3,
    "arguments": [
        1, "two&<>\u2028", 3.5, None, True,
        {"_aj_serialized": S + "SymbolSerializer", "value": "sym"},
        {"a": 1, "b": [2], "_aj_symbol_keys": ["a"]},
        {"_aj_symbol_keys": []},
        {"x": 1, "_aj_hash_with_indifferent_access": True},
        {"_aj_globalid": "gid://pyresque-test/Widget/42"},
        {"_aj_serialized": S + "TimeSerializer", "value": "2020-01-02T03:04:05.123456789Z"},
        {"_aj_serialized": S + "TimeSerializer", "value": "2020-01-02T03:04:05.500000000+05:30"},
        {"_aj_serialized": S + "DateTimeSerializer", "value": "2020-01-02T03:04:05.000000000+01:00"},
        {"_aj_serialized": S + "DateSerializer", "value": "2020-01-02"},
        {"_aj_serialized": S + "TimeWithZoneSerializer", "value": "2020-01-01T22:04:05.000000000-05:00",
         "time_zone": "America/New_York"},
        {"_aj_serialized": S + "DurationSerializer", "value": 300,
         "parts": [[{"_aj_serialized": S + "SymbolSerializer", "value": "minutes"}, 5]]},
        {"_aj_serialized": S + "DurationSerializer", "value": 2629748.5,
         "parts": [[{"_aj_serialized": S + "SymbolSerializer", "value": "months"}, 1],
                   [{"_aj_serialized": S + "SymbolSerializer", "value": "seconds"}, 2.5]]},
        {"_aj_serialized": S + "BigDecimalSerializer", "value": "1.5"},
        {"_aj_serialized": S + "BigDecimalSerializer", "value": "0.15e1"},
        {"_aj_serialized": S + "ModuleSerializer", "value": "Billing"},
        {"_aj_serialized": S + "RangeSerializer", "begin": 1, "end": 10, "exclude_end": False},
        {"_aj_serialized": S + "RangeSerializer",
         "begin": {"_aj_serialized": S + "DateSerializer", "value": "2020-01-01"}, "end": None, "exclude_end": True},
        {"branch": "main", "force": True, "_aj_ruby2_keywords": ["branch", "force"]},
    ],
    "executions": 2,
    "exception_executions": {"[Net::OpenTimeout]": 2},
    "locale": "fr",
    "timezone": "Eastern Time (US & Canada)",
    "enqueued_at": "2026-11-23T04:25:49.849332642Z",
    "scheduled_at": None,
}


def run_wrapper(registry, job_data):
    """Run a JobWrapper payload the way the worker does."""
    spec = registry.resolve(WRAPPER)
    return perform_with_hooks(spec.perform, [job_data], spec.hooks)


@pytest.fixture
def seen():
    return {}


def test_rails_arguments_arrive_as_python_values(registry, seen):
    @activejob.job("ArchiveJob", registry=registry)
    def archive(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs, job=activejob.current_job())

    assert run_wrapper(registry, RAILS_JOB_DATA) is True
    args = seen["args"]
    assert args[:5] == (1, "two&<>\u2028", 3.5, None, True)
    assert type(args[5]) is Symbol and args[5] == "sym"
    assert args[6] == {"a": 1, "b": [2]} and [type(k) for k in args[6]] == [Symbol, str]
    assert type(args[7]) is dict and args[7] == {}
    assert type(args[8]) is IndifferentDict and args[8] == {"x": 1}
    assert args[9] == GlobalID("pyresque-test", "Widget", "42")
    # Time: aware, UTC for "Z", digits past microseconds dropped.
    assert args[10] == datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert args[10].tzinfo is timezone.utc
    assert args[11].utcoffset() == timedelta(hours=5, minutes=30)
    assert args[11] == datetime(2020, 1, 1, 21, 34, 5, 500000, tzinfo=timezone.utc)
    assert type(args[12]) is DateTime and args[12].utcoffset() == timedelta(hours=1)
    assert type(args[13]) is date and args[13] == date(2020, 1, 2)
    # TimeWithZone keeps its zone.
    assert args[14].tzinfo == ZoneInfo("America/New_York")
    assert args[14] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert isinstance(args[15], timedelta) and args[15] == timedelta(minutes=5)
    assert args[15].parts == (("minutes", 5),)
    assert args[16].parts == (("months", 1), ("seconds", 2.5))
    assert args[16].total_seconds() == 2629748.5
    assert args[17] == Decimal("1.5") and type(args[17]) is Decimal
    assert args[18] == Decimal("1.5")  # plain Ruby's BigDecimal#to_s form
    assert args[19] == Module("Billing")
    assert args[20] == Range(1, 10) and 10 in args[20] and list(args[20]) == list(range(1, 11))
    assert args[21] == Range(date(2020, 1, 1), None, exclude_end=True) and date(3000, 1, 1) in args[21]
    assert len(args) == 22
    assert seen["kwargs"] == {"branch": "main", "force": True}

    job = seen["job"]
    assert (job.job_class, job.job_id, job.queue_name, job.priority) == (
        "ArchiveJob", "53ca39a6-2423-4320-a52a-71e2aa988cfc", "aj_python", 3)
    assert job.executions == 3  # as inside a Rails perform: this run counts
    assert job.exception_executions == {"[Net::OpenTimeout]": 2}
    assert (job.locale, job.timezone) == ("fr", "Eastern Time (US & Canada)")
    assert job.enqueued_at == datetime(2026, 11, 23, 4, 25, 49, 849332, tzinfo=timezone.utc)
    assert job.scheduled_at is None
    assert job.job_data is RAILS_JOB_DATA


def test_class_handlers_get_a_fresh_instance_with_the_job(registry, seen):
    @activejob.job("Billing::ChargeJob", registry=registry)
    class Charge:
        def perform(self, invoice, *, amount):
            seen.update(self=self, invoice=invoice, amount=amount, job=self.job)

    data = dict(RAILS_JOB_DATA, job_class="Billing::ChargeJob", executions=0, arguments=[
        {"_aj_globalid": "gid://shop/Billing::Invoice/7"},
        {"amount": {"_aj_serialized": S + "BigDecimalSerializer", "value": "9.99"}, "_aj_ruby2_keywords": ["amount"]},
    ])
    run_wrapper(registry, data)
    assert isinstance(seen["self"], Charge)
    assert seen["invoice"] == GlobalID("shop", "Billing::Invoice", "7")
    assert seen["amount"] == Decimal("9.99")
    assert seen["job"].job_class == "Billing::ChargeJob" and seen["job"].executions == 1


def test_a_symbol_keyed_hash_that_is_not_last_is_not_keywords(registry, seen):
    @activejob.job("ArchiveJob", registry=registry)
    def archive(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs)

    run_wrapper(registry, dict(RAILS_JOB_DATA, arguments=[{"a": 1, "_aj_symbol_keys": ["a"]}]))
    assert seen == {"args": ({"a": 1},), "kwargs": {}}


def test_unknown_serializer_and_unknown_class_are_clear_errors(registry):
    @activejob.job("ArchiveJob", registry=registry)
    def archive(*args):
        raise AssertionError("must not run")

    money = dict(RAILS_JOB_DATA, arguments=[1, {"x": [{"_aj_serialized": "MoneySerializer", "cents": 5}]}])
    with pytest.raises(ActiveJobDeserializationError) as info:
        run_wrapper(registry, money)
    message = str(info.value)
    assert "arguments[1]['x'][0]" in message and "'MoneySerializer'" in message
    assert "add_serializer" in message
    assert exception_name(info.value) == "ActiveJob::DeserializationError"

    with pytest.raises(UnknownActiveJob) as info:
        run_wrapper(registry, dict(RAILS_JOB_DATA, job_class="OrphanJob"))
    assert "OrphanJob" in str(info.value) and "@pyresque.activejob.job('OrphanJob')" in str(info.value)
    assert exception_name(info.value) == "pyresque.UnknownActiveJob"

    for bad, needle in [
        ({"_aj_serialized": S + "TimeSerializer", "value": "yesterday"}, "TimeSerializer"),
        ({"_aj_serialized": S + "DateSerializer"}, "DateSerializer"),
        ({"_aj_globalid": "http://nope"}, "GlobalID"),
    ]:
        with pytest.raises(ActiveJobDeserializationError, match=needle):
            run_wrapper(registry, dict(RAILS_JOB_DATA, arguments=[bad]))
    with pytest.raises(ActiveJobDeserializationError, match="job_class"):
        run_wrapper(registry, {"arguments": []})
    with pytest.raises(ActiveJobDeserializationError, match="one job_data"):
        registry.resolve(WRAPPER).perform("not", "job_data")


def test_custom_serializers_both_ways(registry, resque, r, seen):
    class Money:
        def __init__(self, cents, currency):
            self.cents, self.currency = cents, currency

    activejob.add_serializer("MoneySerializer", Money,
                             serialize=lambda m: {"cents": m.cents, "currency": Symbol(m.currency)},
                             deserialize=lambda f: Money(f["cents"], f["currency"]))
    try:
        @activejob.job("ArchiveJob", registry=registry)
        def archive(money):
            seen["money"] = money

        activejob.perform_later(resque, "ArchiveJob", Money(150, "eur"))
        raw = r.lindex("resque:queue:default", 0)
        data = decode_job(raw).args[0]
        assert data["arguments"] == [{"_aj_serialized": "MoneySerializer", "cents": 150,
                                      "currency": {"_aj_serialized": S + "SymbolSerializer", "value": "eur"}}]
        run_wrapper(registry, data)
        assert (seen["money"].cents, seen["money"].currency) == (150, Symbol("eur"))
    finally:
        activejob.remove_serializer("MoneySerializer")


def test_perform_later_writes_rails_job_data(resque, r):
    info = activejob.perform_later(resque, "ArchiveJob", 42, "main", queue="archive", priority=5, force=True)
    [raw] = r.lrange("resque:queue:archive", 0, -1)
    assert r.smembers("resque:queues") == {b"archive"}
    text = raw.decode()
    payload = json.loads(text)
    assert list(payload) == ["class", "args"] and payload["class"] == WRAPPER
    [data] = payload["args"]
    assert list(data) == ["job_class", "job_id", "provider_job_id", "queue_name", "priority", "arguments",
                          "executions", "exception_executions", "locale", "timezone", "enqueued_at", "scheduled_at"]
    assert uuid.UUID(data["job_id"]).version == 4 and data["job_id"] == info.job_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", data["enqueued_at"])
    assert abs(activejob.arguments.parse_time(data["enqueued_at"]) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    expected = {
        "job_class": "ArchiveJob", "job_id": info.job_id, "provider_job_id": None, "queue_name": "archive",
        "priority": 5, "arguments": [42, "main", {"force": True, "_aj_ruby2_keywords": ["force"]}],
        "executions": 0, "exception_executions": {}, "locale": "en", "timezone": "UTC",
        "enqueued_at": data["enqueued_at"], "scheduled_at": None,
    }
    assert data == expected
    # Compact, in the json gem's layout.
    assert text.startswith('{"class":"ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper","args":[{"job_class":"ArchiveJob",')
    assert (info.executions, info.queue_name, info.priority) == (0, "archive", 5)


def test_perform_later_serializes_python_values_as_rails_does():
    local = datetime(2020, 1, 2, 3, 4, 5, 6).astimezone()
    offset = local.strftime("%z")
    args = [
        datetime(2020, 1, 2, 3, 4, 5, 6),  # naive: local time, like Ruby's Time.now
        datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2020, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2020, 1, 1, tzinfo=ZoneInfo("UTC")),
        DateTime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        date(2020, 1, 2),
        Decimal("1.50"), Decimal("100"), Decimal("-0.001"), Decimal("1E-20"), Decimal("0"),
        timedelta(minutes=5), timedelta(days=9, seconds=3661.5), Duration(seconds=2629746, parts=[("months", 1)]),
        {Symbol("a"): 1, "b": 2}, activejob.symbolize_keys({"c": 3}), {},
        IndifferentDict(x=1),
        GlobalID("shop", "Billing::Invoice", "a b/c"), GlobalID("shop", "Pair", ("1", "2")),
        Symbol("sym"), Module("String"), Range(1, 10), range(0, 5), Range(None, 2.5, exclude_end=True),
        (1, [2, (3,)]), "plain",
    ]
    data = activejob.RailsJob("ArchiveJob").job_data(*args, mode=Symbol("fast"), at=date(2020, 1, 1))

    def ser(name, **fields):
        return {"_aj_serialized": S + name, **fields}

    def sym(name):
        return ser("SymbolSerializer", value=name)

    assert data["arguments"] == [
        ser("TimeSerializer", value=f"2020-01-02T03:04:05.000006000{offset[:3]}:{offset[3:]}"),
        ser("TimeSerializer", value="2020-01-02T03:04:05.123456000Z"),
        ser("TimeSerializer", value="2020-01-02T03:04:05.000000000-03:30"),
        ser("TimeWithZoneSerializer", value="2020-07-01T12:00:00.000000000+02:00", time_zone="Europe/Paris"),
        ser("TimeWithZoneSerializer", value="2020-01-01T00:00:00.000000000Z", time_zone="UTC"),
        ser("DateTimeSerializer", value="2020-01-02T03:04:05.000000000+00:00"),
        ser("DateSerializer", value="2020-01-02"),
        ser("BigDecimalSerializer", value="1.5"), ser("BigDecimalSerializer", value="100.0"),
        ser("BigDecimalSerializer", value="-0.001"),
        ser("BigDecimalSerializer", value="0.00000000000000000001"), ser("BigDecimalSerializer", value="0.0"),
        ser("DurationSerializer", value=300, parts=[[sym("minutes"), 5]]),
        ser("DurationSerializer", value=781261.5,
            parts=[[sym("weeks"), 1], [sym("days"), 2], [sym("hours"), 1], [sym("minutes"), 1], [sym("seconds"), 1.5]]),
        ser("DurationSerializer", value=2629746, parts=[[sym("months"), 1]]),
        {"a": 1, "b": 2, "_aj_symbol_keys": ["a"]}, {"c": 3, "_aj_symbol_keys": ["c"]}, {"_aj_symbol_keys": []},
        {"x": 1, "_aj_hash_with_indifferent_access": True},
        {"_aj_globalid": "gid://shop/Billing::Invoice/a+b%2Fc"}, {"_aj_globalid": "gid://shop/Pair/1/2"},
        sym("sym"), ser("ModuleSerializer", value="String"),
        ser("RangeSerializer", begin=1, end=10, exclude_end=False),
        ser("RangeSerializer", begin=0, end=5, exclude_end=True),
        ser("RangeSerializer", begin=None, end=2.5, exclude_end=True),
        [1, [2, [3]]], "plain",
        {"mode": sym("fast"), "at": ser("DateSerializer", value="2020-01-01"), "_aj_ruby2_keywords": ["mode", "at"]},
    ]
    assert GlobalID.parse("gid://shop/Billing::Invoice/a+b%2Fc").id == "a b/c"
    assert GlobalID.parse("gid://shop/Pair/1/2?tenant=x").params == {"tenant": "x"}


class Record:
    def to_global_id(self):
        return GlobalID("shop", "Record", "9")


@pytest.mark.parametrize("value, path, problem", [
    ({1: "x"}, "arguments[1][1]", "hash keys must be str or Symbol"),
    ({"_aj_symbol_keys": []}, "arguments[1]['_aj_symbol_keys']", "reserves"),
    ([{Symbol("_aj_globalid"): 1}], "arguments[1][0]['_aj_globalid']", "reserves"),
    (float("nan"), "arguments[1]", "no JSON form"),
    ({"s": {1, 2}}, "arguments[1]['s']", "set cannot be an ActiveJob argument"),
    (range(0, 10, 2), "arguments[1]", "step"),
])
def test_values_rails_cannot_carry_are_refused_before_enqueue(resque, r, value, path, problem):
    with pytest.raises(InvalidArgument) as info:
        activejob.perform_later(resque, "ArchiveJob", "ok", value)
    assert info.value.path == path and problem in info.value.problem
    assert r.keys("*") == []


def test_records_with_to_global_id_and_option_names_as_job_keywords(resque, r):
    job = activejob.RailsJob("ArchiveJob", queue="q1").set(priority=1, locale="de", timezone="Berlin")
    job.perform_later(resque, Record(), queue="as-a-keyword")
    data = decode_job(r.lindex("resque:queue:q1", 0)).args[0]
    assert data["arguments"] == [{"_aj_globalid": "gid://shop/Record/9"},
                                 {"queue": "as-a-keyword", "_aj_ruby2_keywords": ["queue"]}]
    assert (data["priority"], data["locale"], data["timezone"]) == (1, "de", "Berlin")
    with pytest.raises(TypeError, match="unknown option"):
        job.set(wait_for=5)  # wait= and wait_until= are options now (resque-scheduler)


def test_registered_handler_enqueues_to_its_queue_and_python_worker_runs_it(resque, registry, r):
    calls = []

    @activejob.job("ArchiveJob", queue="archive", registry=registry)
    def archive(repo, *, when, tags):
        calls.append((repo, when, tags, activejob.current_job()))

    when = datetime(2021, 5, 6, 7, 8, 9, 10, tzinfo=ZoneInfo("Asia/Tokyo"))
    first = archive.perform_later(resque, GlobalID("app", "Repo", "1"), when=when, tags={Symbol("hot"): Decimal("2.5")})
    second = activejob.perform_later(resque, "ArchiveJob", 2, when=date(2020, 1, 1), tags=[])  # registered queue
    assert resque.size("archive") == 2
    Worker(resque, "archive", registry=registry, interval_s=0, fork_per_job=False, handle_signals=False).work()
    assert resque.size("archive") == 0 and resque.stat("processed") == 2
    (repo, got_when, tags, job), (repo2, when2, tags2, job2) = calls
    assert repo == GlobalID("app", "Repo", "1")
    assert got_when == when and got_when.tzinfo == ZoneInfo("Asia/Tokyo")
    assert tags == {"hot": Decimal("2.5")} and type(next(iter(tags))) is Symbol
    assert (repo2, when2, tags2) == (2, date(2020, 1, 1), [])
    assert [job.job_id, job2.job_id] == [first.job_id, second.job_id]
    assert job.queue_name == "archive" and job.executions == 1
    with pytest.raises(LookupError):
        archive(1, when=None, tags=None)  # still a plain function, outside any job


def test_failures_record_the_wrapper_payload_and_retry_runs_again(resque, registry, r, seen):
    attempts = []

    @activejob.job("FlakyJob", queue="aj", registry=registry)
    def flaky(n, *, note):
        attempts.append((n, note, activejob.current_job().executions))
        if len(attempts) == 1:
            raise RuntimeError("database is down")

    info = flaky.perform_later(resque, 7, note=Symbol("x"))
    activejob.perform_later(resque, "OrphanJob", 1, queue="aj")
    money = activejob.RailsJob("FlakyJob").job_data(1)
    money["arguments"] = [{"_aj_serialized": "MoneySerializer", "cents": 5}]
    resque.enqueue_to("aj", WRAPPER, money)
    queued = [raw.decode() for raw in r.lrange("resque:queue:aj", 0, -1)]
    worker = dict(interval_s=0, fork_per_job=False, handle_signals=False, registry=registry, unknown_jobs="fail")
    Worker(resque, "aj", **worker).work()

    first, orphan, unreadable = (json.loads(x) for x in r.lrange("resque:failed", 0, -1))
    assert unreadable["exception"] == "ActiveJob::DeserializationError"
    assert "unknown ActiveJob serializer 'MoneySerializer'" in unreadable["error"]
    assert unreadable["payload"] == json.loads(queued[2])
    assert first["payload"] == json.loads(queued[0])  # the wrapper payload, as queued
    assert first["payload"]["args"][0]["job_class"] == "FlakyJob"  # what resque-web shows
    assert first["payload"]["args"][0]["job_id"] == info.job_id
    assert (first["exception"], first["error"], first["queue"]) == ("RuntimeError", "database is down", "aj")
    assert orphan["exception"] == "pyresque.UnknownActiveJob" and "'OrphanJob'" in orphan["error"]

    resque.failures.requeue(0)
    Worker(resque, "aj", **worker).work()
    assert attempts == [(7, "x", 1), (7, "x", 1)]
    assert resque.failures.count() == 3 and resque.stat("failed") == 3 and resque.stat("processed") == 4


def test_inline_mode_runs_the_handler_through_json(redis_server, r, registry, seen):
    from pyresque import Resque

    @activejob.job("ArchiveJob", registry=registry)
    def archive(when, *, amount):
        seen.update(when=when, amount=amount)

    inline = Resque(redis_server, registry=registry, inline=True)
    activejob.perform_later(inline, "ArchiveJob", date(2020, 2, 29), amount=Decimal("0.1"))
    assert seen == {"when": date(2020, 2, 29), "amount": Decimal("0.1")}
    assert r.keys("*") == []


def test_registering_under_the_wrapper_name_twice_is_refused(registry):
    registry.register(lambda *a: None, name=WRAPPER)
    with pytest.raises(activejob.jobs.ResqueError, match="other than pyresque's ActiveJob dispatcher"):
        activejob.job("ArchiveJob", registry=registry)(lambda: None)
