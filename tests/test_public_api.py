"""What the README promises at the top level of the package exists and works."""

import pyresque
from pyresque.hooks import WORKER_HOOKS


def test_every_name_in_all_exists():
    for name in pyresque.__all__:
        assert hasattr(pyresque, name), name


def test_worker_hook_decorators_are_top_level_and_register_on_the_default_registry():
    for kind in WORKER_HOOKS:
        decorator = getattr(pyresque, kind)

        def hook(*args):
            return None

        try:
            assert decorator(hook) is hook
            assert pyresque.default_registry.worker_hooks[kind][-1] is hook
        finally:
            pyresque.default_registry.worker_hooks[kind].remove(hook)


def test_a_worker_built_from_the_top_level_runs_registered_hooks(resque, registry, r):
    seen = []
    registry.add_worker_hook("before_first_fork", lambda worker: seen.append(("first", worker.id)))
    registry.add_worker_hook("worker_exit", lambda: seen.append(("exit", None)))
    worker = pyresque.Worker(resque, ["q"], registry=registry, interval_s=0, fork_per_job=False)
    worker.work()
    assert seen == [("first", worker.id), ("exit", None)]
