"""Pruning dead workers from outside them (the dashboard's Prune button).

Resque has no command channel to a worker (pausing them all is
``Resque.pause_all``). Pruning here uses Ruby's first
rule only (a heartbeat older than the prune interval), because it is the
only rule that holds from another host; the job a pruned worker was
running becomes a ``Resque::PruneDeadWorkerDirtyExit`` failure, as Ruby
records it.
"""

from __future__ import annotations

import redis as redis_py

from pyresque import failure as failure_mod
from pyresque import prune
from pyresque.browse import worker_views
from pyresque.heartbeat import PRUNE_AFTER_S
from pyresque.keys import Keys


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
