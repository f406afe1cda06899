"""The job registry: functions, classes, hook discovery, and nothing imported by name."""

from __future__ import annotations

import pytest

import pyresque
from pyresque import Registry, UnknownJob
from pyresque.registry import JobSpec


def test_function_job_keeps_its_name_queue_and_stays_callable(registry: Registry) -> None:
    @pyresque.job("Mailers::Welcome", queue="mail", registry=registry)
    def welcome(user_id, greeting="hi"):
        return f"{greeting} {user_id}"

    assert isinstance(welcome, JobSpec)
    assert welcome(7) == "hi 7"
    spec = registry.resolve("Mailers::Welcome")
    assert spec is welcome and spec.queue == "mail" and spec.perform(1, "yo") == "yo 1"
    assert registry.names() == ["Mailers::Welcome"]


def test_default_name_is_the_python_name(registry: Registry) -> None:
    @pyresque.job(registry=registry)
    def archive(x):
        return x

    @pyresque.job(queue="q", registry=registry)
    class Resize:
        @staticmethod
        def perform(x):
            return x * 2

    assert registry.names() == ["Resize", "archive"]
    assert registry.resolve("Resize").perform(4) == 8


def test_bare_decorator_registers_on_the_default_registry() -> None:
    @pyresque.job
    def pyresque_test_bare_job():
        return "ran"

    try:
        assert pyresque.default_registry.resolve("pyresque_test_bare_job")() == "ran"
    finally:
        pyresque.default_registry.unregister("pyresque_test_bare_job")


def test_class_with_staticmethod_classmethod_or_instance_perform(registry: Registry) -> None:
    seen = []

    @pyresque.job("Static", registry=registry)
    class Static:
        queue = "from_class"

        @staticmethod
        def perform(a, b):
            seen.append(("static", a, b))

    @pyresque.job("Klass", queue="explicit", registry=registry)
    class Klass:
        queue = "ignored"

        @classmethod
        def perform(cls, a):
            seen.append((cls.__name__, a))

    @pyresque.job("Instance", registry=registry)
    class Instance:
        def __init__(self):
            self.factor = 10

        def perform(self, a):
            seen.append(("instance", a * self.factor))

    assert Static.__name__ == "Static"  # classes come back unchanged
    for name, args in [("Static", (1, 2)), ("Klass", (3,)), ("Instance", (4,))]:
        registry.resolve(name).perform(*args)
    assert seen == [("static", 1, 2), ("Klass", 3), ("instance", 40)]
    assert registry.resolve("Static").queue == "from_class"
    assert registry.resolve("Klass").queue == "explicit"
    assert registry.resolve("Instance").queue is None


def test_hooks_are_found_by_name_prefix_in_sorted_order(registry: Registry) -> None:
    calls = []

    class Base:
        @staticmethod
        def before_enqueue_z_inherited(*args):
            calls.append("z_inherited")

    @pyresque.job("Hooked", queue="q", registry=registry)
    class Hooked(Base):
        before_enqueue_disabled = True  # not a method: not a hook

        @staticmethod
        def perform(*args):
            pass

        @staticmethod
        def before_enqueue_b(*args):
            calls.append(("b", args))

        @classmethod
        def before_enqueue_a(cls, *args):
            calls.append(("a", args))

        def before_enqueue_c(self, *args):  # an instance method works too
            calls.append(("c", args))

        @staticmethod
        def before_enqueue(*args):  # the bare kind name is a hook as well, as in Ruby
            calls.append("bare")

        @staticmethod
        def after_dequeue_x(*args):
            calls.append("after_dequeue")

        @staticmethod
        def on_failure_report(exc, *args):
            calls.append("on_failure")

    spec = registry.resolve("Hooked")
    for hook in spec.hooks["before_enqueue"]:
        hook(1, "x")
    assert calls == ["bare", ("a", (1, "x")), ("b", (1, "x")), ("c", (1, "x")), "z_inherited"]
    assert len(spec.hooks["after_dequeue"]) == 1 and len(spec.hooks["on_failure"]) == 1
    assert spec.hooks["before_perform"] == [] and spec.hooks["around_perform"] == []


def test_function_jobs_take_hooks_by_decorator(registry: Registry) -> None:
    @pyresque.job("Fn", queue="q", registry=registry)
    def fn(x):
        pass

    @fn.before_enqueue
    def check(x):
        return x > 0

    @fn.after_perform
    def done(x):
        pass

    assert fn.hooks["before_enqueue"] == [check] and fn.hooks["after_perform"] == [done]
    assert check(1) is True  # the hook function is returned unchanged


def test_unknown_job_names_raise_unknown_job(registry: Registry) -> None:
    with pytest.raises(UnknownJob) as info:
        registry.resolve("os.system")
    assert info.value.class_name == "os.system"
    assert "register it with @pyresque.job('os.system')" in str(info.value)
    assert registry.get("os.system") is None


def test_payload_names_are_never_imported(registry: Registry) -> None:
    # A wire name that is a real importable callable is still unknown until registered.
    for name in ["os.system", "builtins.eval", "subprocess.Popen", "pyresque.registry.Registry"]:
        with pytest.raises(UnknownJob):
            registry.resolve(name)


def test_spec_for_accepts_names_specs_and_registered_objects(registry: Registry) -> None:
    class Plain:
        @staticmethod
        def perform():
            pass

    def plain():
        pass

    class_spec = registry.register(Plain, name="P")
    fn_spec = registry.register(plain, queue="q")
    assert registry.spec_for("P") is class_spec and registry.spec_for(Plain) is class_spec
    assert registry.spec_for(plain) is fn_spec and registry.spec_for(fn_spec) is fn_spec
    assert registry.spec_for("nope") is None and registry.spec_for(object()) is None


def test_things_that_cannot_be_jobs(registry: Registry) -> None:
    class NoPerform:
        pass

    with pytest.raises(TypeError, match="no perform"):
        registry.register(NoPerform)
    with pytest.raises(TypeError, match="not callable"):
        registry.register(42)


def test_worker_hooks_are_checked_by_kind(registry: Registry) -> None:
    def hook(*args):
        pass

    assert registry.add_worker_hook("before_fork", hook) is hook
    assert registry.worker_hooks["before_fork"] == [hook]
    with pytest.raises(ValueError, match="unknown worker hook"):
        registry.add_worker_hook("before_forks", hook)


def test_a_job_may_have_its_own_timeout(registry: Registry) -> None:
    @pyresque.job("Reports::Build", timeout=300, registry=registry)
    def build(report_id):
        pass

    @pyresque.job(queue="q", timeout=0.5, registry=registry)
    class Quick:
        @staticmethod
        def perform():
            pass

    @pyresque.job(registry=registry)
    def untimed():
        pass

    assert registry.resolve("Reports::Build").timeout_s == 300.0
    assert registry.resolve("Quick").timeout_s == 0.5
    assert registry.resolve("untimed").timeout_s is None


@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), True, "30"])
def test_a_timeout_that_is_not_a_positive_number_is_refused_at_registration(registry: Registry, value) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        @pyresque.job("Never", timeout=value, registry=registry)
        def never():
            pass

    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        registry.register(lambda: None, name="Never", timeout_s=value)
    assert registry.get("Never") is None
