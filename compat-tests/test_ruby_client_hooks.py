"""Enqueue and perform hooks in inline mode behave as Ruby's, call for call.

Ruby's side is ruby-fixtures/lib/hook_jobs.rb; the classes below mirror it
hook for hook. Both run inline (Ruby: ``Resque.inline = true``), so the
logs show which hooks ran, in what order, with which arguments.
"""

from __future__ import annotations

import json
from typing import Any

import pyresque
from pyresque import DontPerform, Registry, Resque


def _python_jobs(registry: Registry, log: list) -> None:
    def note(name: str, args: Any) -> None:
        log.append([name, list(args)])

    class Ordered:
        @staticmethod
        def before_enqueue_b(*a): note("before_enqueue_b", a)
        @staticmethod
        def before_enqueue_a(*a): note("before_enqueue_a", a)
        @staticmethod
        def before_perform_x(*a): note("before_perform_x", a)
        @staticmethod
        def around_perform_b(*a):
            note("around_b in", a)
            yield
            note("around_b out", a)
        @staticmethod
        def around_perform_a(*a):
            note("around_a in", a)
            yield
            note("around_a out", a)
        @staticmethod
        def perform(*a): note("perform", a)
        @staticmethod
        def after_perform_x(*a): note("after_perform_x", a)
        @staticmethod
        def after_enqueue_x(*a): note("after_enqueue_x", a)
        @staticmethod
        def on_failure_x(e, *a): note("on_failure_x", [str(e), *a])

    class Gate(Ordered):
        @staticmethod
        def around_perform_a(*a):
            note("around_a gate", a)
            return
            yield  # pragma: no cover
        @staticmethod
        def around_perform_b(*a):
            note("never", a)
            yield

    class Skip(Ordered):
        @staticmethod
        def before_perform_x(*a): raise DontPerform()

    class Boom(Ordered):
        @staticmethod
        def perform(*a): raise RuntimeError(f"boom {json.dumps(list(a))}")

    class Cancel(Ordered):
        @staticmethod
        def before_enqueue_a(*a):
            note("before_enqueue_a", a)
            return False
        @staticmethod
        def before_enqueue_b(*a):
            note("before_enqueue_b", a)
            return None

    for cls in (Ordered, Gate, Skip, Boom, Cancel):
        pyresque.job(f"HookJobs::{cls.__name__}", queue="hooks", registry=registry)(cls)


SCENARIOS = [
    ["Ordered", [1, "x", 1.5, {"k": [None]}]],
    ["Gate", [2]],
    ["Skip", [3]],
    ["Boom", [4]],
    ["Cancel", [5]],
]


def test_inline_hooks_match_ruby(ruby, r, redis_server, registry):
    expected = json.loads(ruby.run("inline_hooks.rb", stdin=json.dumps(SCENARIOS)).stdout)
    log: list = []
    _python_jobs(registry, log)
    resque = Resque(redis_server, registry=registry, inline=True)
    for (name, args), theirs in zip(SCENARIOS, expected):
        log.clear()
        try:
            returned = resque.enqueue(f"HookJobs::{name}", *args)
            # Ruby returns nil where we return False for a cancelled enqueue.
            ours = {"returned": None if returned is False else returned}
        except RuntimeError as exc:
            ours = {"raised": str(exc)}
        ours["log"] = log
        if "raised" in theirs:  # Ruby's message shows args.inspect; compare the shape of it
            assert "raised" in ours and ours["raised"].startswith("boom") and theirs["raised"].startswith("boom")
            theirs["raised"] = ours["raised"]
            for entry in theirs["log"]:
                if entry[0] == "on_failure_x":
                    entry[1][0] = ours["raised"]
        assert ours == theirs, name
    assert r.keys("*") == []
