"""Perform hooks run with Resque::Job#perform's semantics (checked against Ruby 3.0.3 inline)."""

from __future__ import annotations

from typing import Any

import pytest

from pyresque import DontPerform
from pyresque.hooks import JOB_HOOKS, all_allow, perform_with_hooks


def _hooks(**given: list) -> dict[str, list]:
    return {kind: list(given.get(kind, [])) for kind in JOB_HOOKS}


def test_all_allow_runs_every_hook_and_only_false_cancels() -> None:
    ran = []

    def say(value: Any):
        def hook(*args):
            ran.append((value, args))
            return value
        return hook

    assert all_allow([say(None), say(0), say(""), say([])], 1) is True
    assert all_allow([say(False), say(True)], 2) is False
    assert [v for v, _ in ran] == [None, 0, "", [], False, True]  # the one after False still ran
    assert all(args in ((1,), (2,)) for _, args in ran)


def test_order_before_around_perform_after() -> None:
    log = []

    def outer(*args):
        log.append("outer in")
        yield
        log.append("outer out")

    def inner(*args):
        log.append("inner in")
        yield
        log.append("inner out")

    hooks = _hooks(
        before_perform=[lambda *a: log.append(("before", a))],
        around_perform=[outer, inner],
        after_perform=[lambda *a: log.append(("after", a))],
    )
    assert perform_with_hooks(lambda *a: log.append(("perform", a)), [1, "x"], hooks) is True
    assert log == [("before", (1, "x")), "outer in", "inner in", ("perform", (1, "x")),
                   "inner out", "outer out", ("after", (1, "x"))]


def test_around_hook_that_never_yields_skips_the_job_but_after_perform_still_runs() -> None:
    # Ruby: around_perform_a never yields -> perform skipped, after_perform_x still called.
    log = []

    def gate(*args):
        log.append("gate")
        return
        yield  # pragma: no cover

    hooks = _hooks(around_perform=[gate], after_perform=[lambda *a: log.append("after")])
    assert perform_with_hooks(lambda *a: log.append("perform"), [], hooks) is False
    assert log == ["gate", "after"]


def test_dont_perform_skips_without_failure_hooks() -> None:
    log = []

    def refuse(*args):
        raise DontPerform()

    hooks = _hooks(before_perform=[refuse], on_failure=[lambda e, *a: log.append("on_failure")],
                   after_perform=[lambda *a: log.append("after")])
    with pytest.raises(DontPerform):
        perform_with_hooks(lambda *a: log.append("perform"), [], hooks)
    assert log == []


@pytest.mark.parametrize("where", ["before_perform", "perform", "after_perform"])
def test_an_exception_runs_on_failure_once_then_propagates(where: str) -> None:
    log = []
    boom = RuntimeError("boom")

    def maybe_raise(name):
        def hook(*args):
            log.append(name)
            if name == where:
                raise boom
        return hook

    hooks = _hooks(before_perform=[maybe_raise("before_perform")], after_perform=[maybe_raise("after_perform")],
                   on_failure=[lambda e, *a: log.append(("on_failure", e, a))])
    with pytest.raises(RuntimeError) as info:
        perform_with_hooks(maybe_raise("perform"), [5], hooks)
    assert info.value is boom
    assert log[-1] == ("on_failure", boom, (5,))
    assert sum(1 for x in log if isinstance(x, tuple)) == 1
    assert "after_perform" not in log or where == "after_perform"


# always hooks (Resque 3.1+, checked against Resque 3.2.0's Job#perform) -------
def test_always_runs_last_after_success_failure_and_skips() -> None:
    log: list = []
    always = [lambda *a: log.append(("always", a))]

    assert perform_with_hooks(lambda *a: log.append("perform"), [1], _hooks(
        after_perform=[lambda *a: log.append("after")], always=always)) is True
    assert log == ["perform", "after", ("always", (1,))]

    log.clear()

    def boom(*a):
        raise ValueError("job")
    with pytest.raises(ValueError, match="job"):
        perform_with_hooks(boom, [2], _hooks(on_failure=[lambda e, *a: log.append(("failure", a))], always=always))
    assert log == [("failure", (2,)), ("always", (2,))]

    log.clear()

    def skip(*a):
        raise DontPerform()
    with pytest.raises(DontPerform):
        perform_with_hooks(lambda *a: log.append("perform"), [3], _hooks(before_perform=[skip], always=always))
    assert log == [("always", (3,))]


def test_always_hook_that_raises_fails_the_job_and_names_both_errors() -> None:
    def bad(*a):
        raise KeyError("hook")

    # After a success: the hook's own error fails the job.
    with pytest.raises(KeyError):
        perform_with_hooks(lambda *a: None, [], _hooks(always=[bad]))

    # After a failure: a RuntimeError naming both, as Ruby's "Additional error ...".
    def boom(*a):
        raise ValueError("job")
    with pytest.raises(RuntimeError, match=r"Additional error \(KeyError: 'hook'\).*ValueError: job"):
        perform_with_hooks(boom, [], _hooks(always=[bad]))


def test_a_worker_runs_always_hooks_of_decorated_and_class_jobs(resque, registry, r) -> None:
    from pyresque.worker import Worker

    ran: list = []

    def explode(*args: Any) -> None:
        raise ValueError("no")

    spec = registry.register(explode, name="Explode")
    spec.always(lambda *a: ran.append(("decorated", a)))

    class Tidy:
        @staticmethod
        def perform(*args: Any) -> None:
            ran.append(("perform", args))

        @staticmethod
        def always_tidy(*args: Any) -> None:
            ran.append(("method", args))

    registry.register(Tidy, name="Tidy")
    resque.enqueue_to("q", "Explode", 1)
    resque.enqueue_to("q", "Tidy", 2)
    Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False, handle_signals=False).work()
    assert ran == [("decorated", (1,)), ("perform", (2,)), ("method", (2,))]
    assert r.llen("resque:failed") == 1


def test_a_failure_hook_that_raises_still_lets_always_hooks_run() -> None:
    # Resque's run_failure_hooks: the job then fails with a RuntimeError naming
    # both errors, later failure hooks are skipped, and the ensure runs always hooks.
    log: list[str] = []

    def boom(*a):
        raise ValueError("job")

    def bad_failure_hook(exc, *a):
        log.append("failure_a")
        raise IndexError("fhook")

    hooks = _hooks(on_failure=[bad_failure_hook, lambda e, *a: log.append("failure_b")],
                   always=[lambda *a: log.append("always")])
    with pytest.raises(RuntimeError, match=r"Additional error \(IndexError: fhook\) occurred in running failure "
                                           r"hooks.*ValueError: job") as caught:
        perform_with_hooks(boom, [], hooks)
    assert log == ["failure_a", "always"]
    assert isinstance(caught.value.__cause__, ValueError)
