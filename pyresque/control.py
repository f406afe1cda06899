"""What an operator can switch from outside the workers: pausing them all, pruning dead ones.

Resque has no command channel to a worker. The one global switch is
``pause-all-workers``: ``true`` makes every Ruby (2.3+) and pyresque worker
stop reserving jobs until it is removed. Pruning here uses Ruby's first
rule only (a heartbeat older than the prune interval), because it is the
only rule that holds from another host; the job a pruned worker was
running becomes a ``Resque::PruneDeadWorkerDirtyExit`` failure, as Ruby
records it.
"""

from __future__ import annotations

import redis as redis_py

from pyresque import failure as failure_mod
from pyresque import prune
from pyresque.browse import is_pause_value, worker_views
from pyresque.heartbeat import PRUNE_AFTER_S
from pyresque.keys import Keys


def pause_all(client: redis_py.Redis, keys: Keys) -> None:
    """Pause every worker (``SET pause-all-workers true``)."""
    client.set(keys.pause_all, "true")


def resume_all(client: redis_py.Redis, keys: Keys) -> None:
    """Let every worker reserve jobs again (``DEL pause-all-workers``)."""
    client.delete(keys.pause_all)


def paused(client: redis_py.Redis, keys: Keys) -> bool:
    return is_pause_value(client.get(keys.pause_all))


def prune_stale(client: redis_py.Redis, keys: Keys, backend: failure_mod.FailureBackend,
                prune_after_s: float = PRUNE_AFTER_S, only: str | None = None) -> list[str]:
    """Unregister the workers whose heartbeat is older than ``prune_after_s``
    (just ``only`` when given, if it is stale); returns the ids removed."""
    removed = []
    for view in worker_views(client, keys, prune_after_s):
        if not view.stale or (only is not None and view.info.id != only):
            continue
        prune.unregister(client, keys, backend, view.info.id, "prune")
        removed.append(view.info.id)
    return removed
