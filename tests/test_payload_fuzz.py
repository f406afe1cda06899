"""Thousands of hostile payloads through a real worker: it never dies, nothing is lost.

Payloads come from tests/hostile_payloads.py: bad and truncated JSON, NaN,
numbers that read as infinity, nesting of 100,000 levels, megabytes of
string, bytes that are not UTF-8, non-objects, wrong types for ``class`` and
``args``, class names that look like code or paths or hold NUL, newlines or
``%``, huge integers, interleaved with valid jobs that record their run. All
are pushed onto one queue and drained by a worker in this process; a
smaller batch goes through a forking worker. Then:

* ``work()`` returned (the worker never died), the queue is empty, the
  worker left nothing registered;
* every job that should run ran exactly once;
* every payload that is not a job, or failed, is exactly one failure
  record, in queue order, that Ruby can read (schema, ≤ 100 levels) and
  that keeps the payload: the queued bytes exactly when it must;
* ``stat:processed`` counts every payload and ``stat:failed`` every record
  (protocol/SPEC.md §8);
* retrying every record puts back exactly what was queued (or, for a
  record showing its payload, the same class and arguments, as Ruby does).

Size: ``PYRESQUE_FUZZ_N`` payloads in process (default 2,000, the CI size);
the full run is ``PYRESQUE_FUZZ_N=10000 dev/test tests/test_payload_fuzz.py`` (about a minute).
``PYRESQUE_FUZZ_SEED`` replays a run; the seed is printed, and shown when a
test fails.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import random
from decimal import Decimal
from typing import Any

import pytest

from hostile_payloads import FAIL_CLASS, NO_ARGS, RAN_CLASS, Fuzzed, payloads
from pyresque.check import schema_errors
from pyresque.worker import Worker

N = int(os.environ.get("PYRESQUE_FUZZ_N", "2000"))
FORK_N = max(50, min(300, N))
SEED = int(os.environ.get("PYRESQUE_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FIELDS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
QUEUE = "fuzz"


class FuzzError(Exception):
    pass


def _big_int(digits: str) -> int:
    return int(Decimal(digits))  # past Python's 4300-digit int() limit


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: bytes | str) -> Any:
    """Python's own parser, held to JSON (no NaN): not pyresque's."""
    return json.loads(text, parse_int=_big_int, parse_constant=_no_constant)


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def kept_bytes(rec: dict) -> bytes | None:
    if "raw_payload_base64" in rec:
        return base64.b64decode(rec["raw_payload_base64"], validate=True)
    return rec["raw_payload"].encode() if "raw_payload" in rec else None


def drain(r, resque, registry, items: list[Fuzzed], fork: bool) -> dict[str, int]:
    """Push ``items``, drain them with one worker; its own stats, read before it unregisters."""
    def ran(*args):
        r.hincrby("fuzz:ran", args[0] if args and isinstance(args[0], str) else NO_ARGS, 1)

    def fail(*args):
        try:
            {}["cause"]
        except KeyError as exc:
            raise FuzzError(f"failed with {len(args)} args") from exc

    registry.register(ran, name=RAN_CLASS)
    registry.register(fail, name=FAIL_CLASS)

    r.sadd("resque:queues", QUEUE)
    pipe = r.pipeline(transaction=False)
    for start in range(0, len(items), 500):
        pipe.rpush(f"resque:queue:{QUEUE}", *(item.raw for item in items[start:start + 500]))
    pipe.execute()
    # "fail": class names nobody registered are among the hostile payloads, each one failure record.
    worker = Worker(resque, [QUEUE], interval_s=0, fork_per_job=fork, registry=registry, unknown_jobs="fail")
    own: dict[str, int] = {}
    registry.add_worker_hook("queue_empty", lambda: own.update(
        processed=int(r.get(f"resque:stat:processed:{worker.id}") or 0),
        failed=int(r.get(f"resque:stat:failed:{worker.id}") or 0)))
    worker.work()  # returns: the worker survived everything
    assert not r.exists(f"resque:worker:{worker.id}") and r.scard("resque:workers") == 0
    return own


def check(r, resque, items: list[Fuzzed], own: dict[str, int]) -> None:
    where = f"(seed {SEED}; replay with PYRESQUE_FUZZ_SEED={SEED} PYRESQUE_FUZZ_N={N})"
    assert r.llen(f"resque:queue:{QUEUE}") == 0, where

    # Jobs that should run ran exactly once.
    expected_runs = collections.Counter(item.key for item in items if item.outcome == "ran")
    runs = {k.decode(): int(v) for k, v in r.hgetall("fuzz:ran").items()}
    assert runs == dict(expected_runs), where

    # One record per payload that is not a job or failed, in queue order.
    expected = [item for item in items if item.outcome != "ran"]
    raws = r.lrange("resque:failed", 0, -1)
    assert len(raws) == len(expected), where
    for index, (item, raw_record) in enumerate(zip(expected, raws)):
        what = f"record {index}, {item.kind}, payload {item.raw[:120]!r} {where}"
        rec = strict_json(raw_record)
        assert list(rec)[:7] == FIELDS, what
        assert schema_errors("failure-record", rec) == [], what
        assert depth(rec) <= 100, f"Ruby cannot read a record this deep: {what}"
        kept = kept_bytes(rec)
        assert ("raw_payload_base64" in rec) == (not is_utf8(item.raw)), what
        if item.outcome == "malformed":
            assert rec["exception"] == "pyresque.MalformedPayload", what
            assert kept == item.raw, what
            if rec["payload"] is not None:
                assert rec["payload"] == strict_json(item.raw), what
        elif item.kept:
            assert rec["exception"] in (f"{__name__}.FuzzError", "pyresque.UnknownJob"), what
            assert rec["payload"] is None and kept == item.raw, what
        else:
            assert rec["exception"] in (f"{__name__}.FuzzError", "pyresque.UnknownJob"), what
            assert kept is None and rec["payload"] == strict_json(item.raw), what
        if rec["exception"].endswith("FuzzError"):
            assert "Caused by KeyError: 'cause'" in rec["backtrace"], what

    # Counted by the rule: every payload processed, every record failed.
    counts = {"processed": int(r.get("resque:stat:processed")), "failed": int(r.get("resque:stat:failed"))}
    assert counts == own == {"processed": len(items), "failed": len(expected)}, where

    # Retrying every record puts back what was queued.
    assert resque.failures.requeue_all() == len(expected), where
    requeued = r.lrange(f"resque:queue:{QUEUE}", 0, -1)
    assert len(requeued) == len(expected), where
    for index, (item, back) in enumerate(zip(expected, requeued)):
        what = f"retry of record {index}, {item.kind}, payload {item.raw[:120]!r} {where}"
        if item.outcome == "malformed" or item.kept:
            assert back == item.raw, what
        else:
            queued = strict_json(item.raw)
            assert strict_json(back) == {"class": queued["class"], "args": queued.get("args") or []}, what


@pytest.mark.timeout(max(120, N // 40))
def test_an_in_process_worker_survives_every_hostile_payload(r, resque, registry, caplog):
    caplog.set_level(logging.CRITICAL, logger="pyresque")  # thousands of failures, each logged
    print(f"fuzz seed {SEED}, {N} payloads in process (PYRESQUE_FUZZ_SEED={SEED} replays it)")
    items = payloads(random.Random(SEED), N, big=max(4, N // 500))
    own = drain(r, resque, registry, items, fork=False)
    check(r, resque, items, own)


@pytest.mark.timeout(120)
def test_a_forking_worker_survives_every_hostile_payload(r, resque, registry, caplog):
    caplog.set_level(logging.CRITICAL, logger="pyresque")
    print(f"fuzz seed {SEED}, {FORK_N} payloads through a forking worker (PYRESQUE_FUZZ_SEED={SEED} replays it)")
    items = payloads(random.Random(SEED ^ 0x5EED), FORK_N, big=2)
    own = drain(r, resque, registry, items, fork=True)
    check(r, resque, items, own)
