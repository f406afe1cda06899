"""Ruby's Resque and pyresque's client see the same keyspace the same way.

info, queues, sizes, peeks and keys agree with Ruby's own answers while a
real Ruby worker is mid-job and after Ruby recorded a failure, under the
default namespace, a custom one and a nested one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis as redis_py

from pyresque import Resque
from rubyside import Ruby
from testsupport import wait_until

NAMESPACES = [pytest.param(None, id="default"), pytest.param("myapp", id="myapp"), pytest.param("resque:myapp", id="nested")]

RUBY_VIEW = """
queues = Resque.queues.sort
{
  "info" => Resque.info.reject { |k, _| k == :servers },
  "queues" => queues,
  "sizes" => queues.to_h { |q| [q, Resque.size(q)] },
  "queue_sizes" => Resque.queue_sizes,
  "peeks" => queues.to_h { |q| [q, Resque.peek(q, 0, 100)] },
  "first" => queues.to_h { |q| [q, Resque.peek(q)] },
  "keys" => Resque.keys.sort,
}
"""


@pytest.fixture(params=NAMESPACES)
def namespace(request: pytest.FixtureRequest) -> str | None:
    return request.param


def test_info_queues_sizes_and_keys_agree_with_ruby(
    ruby_available: None, r: redis_py.Redis, redis_server: str, registry: Any, namespace: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAILS_ENV", raising=False)
    monkeypatch.delenv("RACK_ENV", raising=False)
    ruby = Ruby(redis_server, namespace=namespace)
    py = Resque(redis_server, namespace=namespace or "resque", registry=registry)
    prefix = (namespace or "resque") + ":"

    # Ruby performs one failing job: a failure record and a processed count.
    py.enqueue_to("record", "Exploder", 1, "x")
    ruby.work("record")
    # Jobs from both sides in three queues; one queue emptied (it stays known).
    py.enqueue_to("high", "Recorder", 1, {"a": [1.5, None]})
    py.enqueue_to("high", "Mailers::Welcome", "é😀")
    py.enqueue_to("low", "Recorder")
    json.loads(ruby.run("codec.rb", "reference", "Recorder", "low", stdin=json.dumps([[2], ["three"]])).stdout)

    # A Ruby worker stays busy on a job until we release it.
    release = f"pyresque-test:release:{uuid.uuid4().hex}"
    py.enqueue_to("slow", "Waiter", release, "held")
    worker = ruby.spawn("work.rb", QUEUES="slow", INTERVAL="0")
    try:
        wait_until(lambda: py.info()["working"] == 1, 30, "the Ruby worker to start its job")
        seen = ruby.eval(RUBY_VIEW)
        info = py.info()
        assert {k: v for k, v in info.items() if k != "servers"} == seen["info"]
        assert info["failed"] == 1 and info["working"] == 1 and info["workers"] == 1
        assert info["processed"] == 1 and info["pending"] == 5 and info["queues"] == 4
        assert py.queues() == seen["queues"] == ["high", "low", "record", "slow"]
        assert py.queue_sizes() == seen["queue_sizes"] == seen["sizes"] == {"high": 2, "low": 3, "record": 0, "slow": 0}
        assert {q: py.size(q) for q in py.queues()} == seen["sizes"]
        assert {q: py.peek(q, 0, 100) for q in py.queues()} == seen["peeks"]
        assert seen["first"]["high"] == py.peek("high")[0]
        assert seen["first"]["slow"] is None and py.peek("slow") == []
        assert py.keys() == seen["keys"]
        assert "failed" in seen["keys"] and any(k.startswith("worker:") for k in seen["keys"])
        assert all(k.startswith(prefix.encode()) for k in r.keys("*") if not k.startswith(b"pyresque-test:"))
    finally:
        r.set(release, "1")
        worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert py.info()["working"] == 0 and py.info()["workers"] == 0

    # Removing a queue from either side is seen by the other.
    py.remove_queue("high")
    assert ruby.eval("Resque.queues.sort") == ["low", "record", "slow"]
    ruby.eval('Resque.remove_queue("low")')
    assert py.queues() == ["record", "slow"] and py.size("low") == 0
