"""The Resque client against a real redis-server: each method, hooks, inline mode, bulk, dead Redis."""

from __future__ import annotations

import json
import os

import pytest
import redis as redis_py

import pyresque
from pyresque import (
    ConnectionFailed,
    DontPerform,
    InvalidArgument,
    InvalidQueueName,
    MalformedPayload,
    NoQueueError,
    Registry,
    Resque,
    UnknownJob,
)
from testsupport import free_port


def raw_queue(r: redis_py.Redis, queue: str, ns: str = "resque") -> list[bytes]:
    return r.lrange(f"{ns}:queue:{queue}", 0, -1)


# Enqueue ---------------------------------------------------------------------

def test_enqueue_to_writes_ruby_layout(resque: Resque, r: redis_py.Redis) -> None:
    assert resque.enqueue_to("high", "Archive", 1, "two", {"when": 1.0}) is True
    assert resque.enqueue_to("high", "Mailers::Welcome") is True
    assert r.smembers("resque:queues") == {b"high"}
    assert raw_queue(r, "high") == [
        b'{"class":"Archive","args":[1,"two",{"when":1.0}]}',
        b'{"class":"Mailers::Welcome","args":[]}',
    ]
    assert sorted(k.decode() for k in r.keys("*")) == ["resque:queue:high", "resque:queues"]


def test_enqueue_uses_the_registered_name_and_queue(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    @pyresque.job("Mailers::Welcome", queue="mail", registry=registry)
    def welcome(user_id):
        pass

    assert resque.enqueue(welcome, 5) is True
    assert resque.enqueue("Mailers::Welcome", 6) is True
    assert raw_queue(r, "mail") == [b'{"class":"Mailers::Welcome","args":[5]}', b'{"class":"Mailers::Welcome","args":[6]}']


def test_enqueue_without_a_queue_raises_no_queue_error(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    @pyresque.job("Queueless", registry=registry)
    def queueless():
        pass

    with pytest.raises(NoQueueError):
        resque.enqueue(queueless)
    with pytest.raises(NoQueueError):
        resque.enqueue("NotRegistered", 1)
    assert r.keys("*") == []


def test_unregistered_objects_raise_unknown_job(resque: Resque) -> None:
    def not_registered():
        pass

    with pytest.raises(UnknownJob):
        resque.enqueue_to("q", not_registered)


def test_invalid_arguments_write_nothing(resque: Resque, r: redis_py.Redis) -> None:
    with pytest.raises(InvalidArgument) as info:
        resque.enqueue_to("q", "Job", 1, {"when": float("nan")})
    assert info.value.path == "args[1]['when']"
    assert r.keys("*") == []


@pytest.mark.parametrize("queue", ["", "a,b"])
def test_invalid_queue_names(resque: Resque, r: redis_py.Redis, queue: str) -> None:
    with pytest.raises(InvalidQueueName):
        resque.enqueue_to(queue, "Job")
    assert r.keys("*") == []


def test_enqueue_many_writes_in_order_and_validates_first(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    assert resque.enqueue_many("Bulk", ([i, str(i)] for i in range(2500)), queue="bulk") == 2500
    raws = raw_queue(r, "bulk")
    assert len(raws) == 2500 and raws[0] == b'{"class":"Bulk","args":[0,"0"]}'
    assert raws[-1] == b'{"class":"Bulk","args":[2499,"2499"]}'
    assert r.smembers("resque:queues") == {b"bulk"}

    with pytest.raises(InvalidArgument) as info:
        resque.enqueue_many("Bulk", [[1], [2], [object()]], queue="other")
    assert info.value.path == "args[0]"
    assert resque.size("other") == 0 and r.smembers("resque:queues") == {b"bulk"}
    with pytest.raises(NoQueueError):
        resque.enqueue_many("Bulk", [[1]])


def test_enqueue_many_uses_the_registered_queue_and_runs_hooks(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    after = []

    @pyresque.job("Evens", queue="evens", registry=registry)
    def evens(n):
        pass

    evens.before_enqueue(lambda n: n % 2 == 0)
    evens.after_enqueue(after.append)
    assert resque.enqueue_many(evens, [[n] for n in range(6)]) == 3
    assert raw_queue(r, "evens") == [b'{"class":"Evens","args":[%d]}' % n for n in (0, 2, 4)]
    assert after == [0, 2, 4]


# Enqueue and dequeue hooks ------------------------------------------------------

def _hooked_job(registry: Registry, log: list, *, allow_enqueue=True, allow_dequeue=True) -> type:
    @pyresque.job("Hooked", queue="hooks", registry=registry)
    class Hooked:
        @staticmethod
        def perform(*args):
            log.append(("perform", args))

        @staticmethod
        def before_enqueue_check(*args):
            log.append(("before_enqueue", args))
            return allow_enqueue

        @staticmethod
        def after_enqueue_note(*args):
            log.append(("after_enqueue", args))

        @staticmethod
        def before_dequeue_check(*args):
            log.append(("before_dequeue", args))
            return allow_dequeue

        @staticmethod
        def after_dequeue_note(*args):
            log.append(("after_dequeue", args))

    return Hooked


def test_enqueue_and_dequeue_hooks_run_around_the_redis_writes(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    log: list = []
    hooked = _hooked_job(registry, log)
    assert resque.enqueue(hooked, 1, "a") is True
    assert log == [("before_enqueue", (1, "a")), ("after_enqueue", (1, "a"))]
    assert raw_queue(r, "hooks") == [b'{"class":"Hooked","args":[1,"a"]}']
    log.clear()
    assert resque.dequeue(hooked, 1, "a") == 1
    assert log == [("before_dequeue", (1, "a")), ("after_dequeue", (1, "a"))]
    assert resque.size("hooks") == 0


def test_before_enqueue_false_cancels(resque: Resque, registry: Registry, r: redis_py.Redis) -> None:
    log: list = []
    hooked = _hooked_job(registry, log, allow_enqueue=False)
    assert resque.enqueue(hooked, 1) is False
    assert log == [("before_enqueue", (1,))]  # no after_enqueue
    assert r.keys("*") == []


def test_before_enqueue_returning_none_or_zero_does_not_cancel(resque: Resque, registry: Registry) -> None:
    for value in (None, 0, ""):
        log: list = []
        hooked = _hooked_job(Registry(), log, allow_enqueue=value)
        registry.register(hooked, name="Hooked", queue="hooks")
        assert resque.enqueue("Hooked", value) is True
    assert resque.size("hooks") == 3


def test_before_dequeue_false_cancels(resque: Resque, registry: Registry) -> None:
    log: list = []
    hooked = _hooked_job(registry, log, allow_dequeue=False)
    resque.enqueue(hooked, 1)
    log.clear()
    assert resque.dequeue(hooked, 1) == 0
    assert log == [("before_dequeue", (1,))]
    assert resque.size("hooks") == 1


# Dequeue, reserve, peek -----------------------------------------------------------

def test_dequeue_with_args_matches_exact_payloads(resque: Resque, r: redis_py.Redis) -> None:
    for args in ([1, "a"], [1, "a"], [1, "b"], [1.0, "a"]):
        resque.enqueue_to("q", "Job", *args)
    resque.enqueue_to("q", "Other", 1, "a")
    assert resque.dequeue("Job", 1, "a", queue="q") == 2
    assert raw_queue(r, "q") == [
        b'{"class":"Job","args":[1,"b"]}', b'{"class":"Job","args":[1.0,"a"]}', b'{"class":"Other","args":[1,"a"]}']
    assert resque.dequeue("Job", 9, queue="q") == 0


def test_dequeue_without_args_removes_every_job_of_the_class(resque: Resque, r: redis_py.Redis) -> None:
    resque.enqueue_to("q", "Job", 1)
    resque.enqueue_to("q", "Other", 1)
    r.rpush("resque:queue:q", b"not json", b'{"args":[1],"class":"Job","id":"x"}', b'["Job"]')
    resque.enqueue_to("q", "Job", 2)
    assert resque.dequeue("Job", queue="q") == 3
    assert raw_queue(r, "q") == [b'{"class":"Other","args":[1]}', b"not json", b'["Job"]']


def test_dequeue_needs_a_queue(resque: Resque) -> None:
    with pytest.raises(NoQueueError):
        resque.dequeue("Job", 1)


def test_reserve_pops_fifo_and_decodes(resque: Resque, r: redis_py.Redis) -> None:
    resque.enqueue_to("q", "A", 1)
    r.rpush("resque:queue:q", '{"id":"php-1","class":"B","args":["é"]}'.encode())
    first, second = resque.reserve("q"), resque.reserve("q")
    assert (first.queue, first.class_name, first.args, first.raw) == ("q", "A", [1], '{"class":"A","args":[1]}')
    assert (second.class_name, second.args, dict(second.payload.extra)) == ("B", ["é"], {"id": "php-1"})
    assert second.payload.encode() == '{"id":"php-1","class":"B","args":["é"]}'
    assert resque.reserve("q") is None
    assert resque.reserve("never-used") is None


def test_reserve_records_a_malformed_payload_as_a_failure(resque: Resque, r: redis_py.Redis) -> None:
    r.rpush("resque:queue:q", b'{"class":"A","args":[NaN]}')
    with pytest.raises(MalformedPayload):
        resque.reserve("q")
    assert resque.size("q") == 0
    [record] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert record["queue"] == "q"
    assert record["raw_payload"] == '{"class":"A","args":[NaN]}'
    assert resque.info()["failed"] == 1


def test_peek_returns_decoded_payloads(resque: Resque, r: redis_py.Redis) -> None:
    for i in range(5):
        resque.enqueue_to("q", "Job", i)
    r.rpush("resque:queue:q", b"garbage")
    assert resque.peek("q") == [{"class": "Job", "args": [0]}]
    assert resque.peek("q", 1, 2) == [{"class": "Job", "args": [1]}, {"class": "Job", "args": [2]}]
    assert resque.peek("q", 4, 10) == [{"class": "Job", "args": [4]}, "garbage"]
    assert resque.peek("q", -1) == ["garbage"]
    assert resque.peek("q", 0, 0) == [] and resque.peek("q", 100) == [] and resque.peek("nope") == []
    assert resque.size("q") == 6  # peek never removes


# Queues and overview ----------------------------------------------------------------

def test_queues_sizes_and_remove_queue(resque: Resque, r: redis_py.Redis) -> None:
    resque.enqueue_to("b", "Job", 1)
    resque.enqueue_to("a", "Job", 1)
    resque.enqueue_to("a", "Job", 2)
    assert resque.queues() == ["a", "b"]
    assert resque.queue_sizes() == {"a": 2, "b": 1}
    assert (resque.size("a"), resque.size("b"), resque.size("none")) == (2, 1, 0)
    resque.reserve("b")
    # Ruby never forgets an emptied queue: it stays in the set with size 0.
    assert resque.queues() == ["a", "b"] and resque.queue_sizes() == {"a": 2, "b": 0}
    resque.remove_queue("a")
    assert resque.queues() == ["b"]
    assert r.exists("resque:queue:a") == 0


def test_info_fields_and_meanings(resque: Resque, r: redis_py.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    resque.enqueue_to("a", "Job", 1)
    resque.enqueue_to("a", "Job", 2)
    resque.enqueue_to("b", "Job", 3)
    r.set("resque:stat:processed", 41)
    r.set("resque:stat:failed", 9)  # not what info's "failed" counts
    r.rpush("resque:failed", "{}", "{}")
    r.sadd("resque:workers", "h:1:a", "h:2:b", "h:3:c")
    r.set("resque:worker:h:1:a", '{"queue":"a","run_at":"2026-01-01T00:00:00Z","payload":{"class":"Job","args":[]}}')
    r.set("resque:worker:h:2:b", "")  # empty: not working, as in Ruby
    monkeypatch.delenv("RAILS_ENV", raising=False)
    monkeypatch.delenv("RACK_ENV", raising=False)
    info = Resque(resque.redis, registry=resque.registry).info()
    assert list(info) == ["pending", "processed", "queues", "workers", "working", "failed", "servers", "environment"]
    assert {k: v for k, v in info.items() if k != "servers"} == {
        "pending": 3, "processed": 41, "queues": 2, "workers": 3, "working": 1, "failed": 2,
        "environment": "development",
    }
    port = resque.redis.connection_pool.connection_kwargs["port"]
    assert info["servers"] == [f"redis://127.0.0.1:{port}/0/resque"]
    assert resque.stat("failed") == 9 and resque.stat("processed") == 41 and resque.stat("nothing") == 0


def test_info_environment_follows_rails_then_rack_env(resque: Resque, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACK_ENV", "staging")
    monkeypatch.delenv("RAILS_ENV", raising=False)
    assert Resque(resque.redis).info()["environment"] == "staging"
    monkeypatch.setenv("RAILS_ENV", "production")
    assert Resque(resque.redis).info()["environment"] == "production"
    assert Resque(resque.redis, environment="test").info()["environment"] == "test"


def test_keys_lists_the_namespace_without_prefix(r: redis_py.Redis, redis_server: str, registry: Registry) -> None:
    nested = Resque(redis_server, namespace="resque:myapp", registry=registry)
    plain = Resque(redis_server, registry=registry)
    other = Resque(redis_server, namespace="my*app", registry=registry)
    nested.enqueue_to("q", "Job")
    plain.enqueue_to("p", "Job")
    other.enqueue_to("o", "Job")
    r.set("unrelated", 1)
    assert nested.keys() == ["queue:q", "queues"]
    assert other.keys() == ["queue:o", "queues"]  # glob characters in a namespace are literal
    # Like Ruby's KEYS resque:*, the outer namespace sees the nested one's keys.
    assert plain.keys() == ["myapp:queue:q", "myapp:queues", "queue:p", "queues"]
    assert plain.queues() == ["p"] and nested.queues() == ["q"]
    assert r.lrange("resque:myapp:queue:q", 0, -1) == [b'{"class":"Job","args":[]}']


def test_decode_responses_clients_work(redis_server: str, r: redis_py.Redis) -> None:
    client = redis_py.Redis.from_url(redis_server, decode_responses=True)
    resque = Resque(client, namespace="txt")
    resque.enqueue_to("q", "Job", "é")
    assert resque.peek("q") == [{"class": "Job", "args": ["é"]}]
    assert resque.queues() == ["q"] and resque.keys() == ["queue:q", "queues"]
    assert resque.dequeue("Job", "é", queue="q") == 1
    client.close()


# Inline mode -------------------------------------------------------------------------

def test_inline_performs_now_with_json_normalized_args_and_writes_nothing(r: redis_py.Redis, redis_server: str, registry: Registry) -> None:
    log: list = []
    hooked = _hooked_job(registry, log)
    resque = Resque(redis_server, registry=registry, inline=True)
    assert resque.enqueue(hooked, (1, 2), {"k": 1.0}) is True
    # The job sees what a worker would: tuples became lists, floats stayed floats.
    assert log == [
        ("before_enqueue", ((1, 2), {"k": 1.0})),
        ("perform", ([1, 2], {"k": 1.0})),
        ("after_enqueue", ((1, 2), {"k": 1.0})),
    ]
    assert type(log[1][1][1]["k"]) is float
    assert resque.enqueue_many(hooked, [[1], [2]]) == 2
    assert r.keys("*") == []


def test_inline_exceptions_propagate_after_on_failure(r: redis_py.Redis, redis_server: str, registry: Registry) -> None:
    log: list = []

    @pyresque.job("Boom", queue="q", registry=registry)
    class Boom:
        @staticmethod
        def perform(x):
            raise ValueError(f"boom {x}")

        @staticmethod
        def on_failure_note(exc, x):
            log.append(("on_failure", str(exc), x))

        @staticmethod
        def after_enqueue_note(x):
            log.append("after_enqueue")

    resque = Resque(redis_server, registry=registry, inline=True)
    with pytest.raises(ValueError, match="boom 3"):
        resque.enqueue(Boom, 3)
    assert log == [("on_failure", "boom 3", 3)]  # Ruby: no after_enqueue when the job raised
    assert r.keys("*") == []


def test_inline_dont_perform_is_a_quiet_skip(r: redis_py.Redis, redis_server: str, registry: Registry) -> None:
    # Ruby inline: DontPerform from before_perform -> enqueue returns true, after_enqueue runs.
    log: list = []

    @pyresque.job("Skip", queue="q", registry=registry)
    class Skip:
        @staticmethod
        def perform():
            log.append("perform")

        @staticmethod
        def before_perform_gate():
            raise DontPerform()

        @staticmethod
        def after_enqueue_note():
            log.append("after_enqueue")

        @staticmethod
        def on_failure_note(exc):
            log.append("on_failure")

    assert Resque(redis_server, registry=registry, inline=True).enqueue(Skip) is True
    assert log == ["after_enqueue"]
    assert r.keys("*") == []


def test_inline_needs_a_registered_job(r: redis_py.Redis, redis_server: str, registry: Registry) -> None:
    with pytest.raises(UnknownJob):
        Resque(redis_server, registry=registry, inline=True).enqueue_to("q", "RubyOnly", 1)
    assert r.keys("*") == []


# A Redis that is not there ----------------------------------------------------------

@pytest.fixture
def dead(registry: Registry) -> Resque:
    return Resque(f"127.0.0.1:{free_port()}", registry=registry)


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.enqueue_to("q", "Job", 1),
        lambda q: q.enqueue_many("Job", [[1]], queue="q"),
        lambda q: q.dequeue("Job", 1, queue="q"),
        lambda q: q.dequeue("Job", queue="q"),
        lambda q: q.reserve("q"),
        lambda q: q.size("q"),
        lambda q: q.peek("q", 0, 5),
        lambda q: q.queues(),
        lambda q: q.queue_sizes(),
        lambda q: q.remove_queue("q"),
        lambda q: q.info(),
        lambda q: q.keys(),
        lambda q: q.stat("processed"),
        lambda q: q.workers(),
        lambda q: q.working(),
    ],
)
def test_dead_redis_raises_connection_failed(dead: Resque, call) -> None:
    with pytest.raises(ConnectionFailed) as info:
        call(dead)
    port = dead.redis.connection_pool.connection_kwargs["port"]
    assert str(info.value).startswith(f"cannot reach Redis at redis://127.0.0.1:{port}/0: ")


def test_dead_redis_enqueue_via_registered_queue(dead: Resque, registry: Registry) -> None:
    @pyresque.job("J", queue="q", registry=registry)
    def j():
        pass

    with pytest.raises(ConnectionFailed):
        dead.enqueue(j)
