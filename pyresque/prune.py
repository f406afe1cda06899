"""Pruning dead workers, under Ruby's lock and by Ruby's rules.

Run once at worker startup, as Ruby does, by whichever worker wins the
``pruning_dead_workers_in_progress`` lock (60 s, never released):

1. Every worker whose heartbeat is older than 300 s by Redis time, registered
   or not, is unregistered; a job it was running becomes a
   ``Resque::PruneDeadWorkerDirtyExit`` failure.
2. Every other registered worker on *this host* whose queues equal ours (or
   we work ``*``) and whose pid is not a live Resque process is unregistered;
   a job it was running becomes a ``Resque::DirtyExit`` failure.

"A live Resque process" is judged as Ruby judges it: a process whose command
line matches ``resque:work``, ``resque: Starting`` or ``resque-<digit>`` and
is not resque-web. pyresque workers set such a process title, so Ruby never
prunes a live Python worker and we never prune a live Ruby one.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from typing import Iterable

import redis as redis_py

from pyresque import execution
from pyresque import failure as failure_mod
from pyresque import times
from pyresque import workers as worker_records
from pyresque.connection import as_name, as_text
from pyresque.errors import DirtyExit, PruneDeadWorkerDirtyExit
from pyresque.heartbeat import INTERVAL_S, PRUNE_AFTER_S
from pyresque.keys import Keys
from pyresque.registry import Registry

log = logging.getLogger(__name__)

_RESQUE_PROCESS = re.compile(r"resque:work|resque:\sStarting|resque-[0-9]")


def resque_pids() -> set[str]:
    """Pids of local processes Ruby's prune would count as live Resque workers."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return _pids_from_ps()
    pids = set()
    for pid in entries:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if _RESQUE_PROCESS.search(command) and "resque-web" not in command:
            pids.add(pid)
    return pids


def _pids_from_ps() -> set[str]:
    out = subprocess.run(["ps", "-A", "-o", "pid,command"], capture_output=True, text=True).stdout
    return {
        line.split()[0]
        for line in out.splitlines()[1:]
        if _RESQUE_PROCESS.search(line) and "resque-web" not in line
    }


def prune_dead_workers(
    client: redis_py.Redis,
    keys: Keys,
    backend: failure_mod.FailureBackend,
    my_id: str,
    my_patterns: Iterable[str],
    hostname: str,
    registry: Registry | None = None,
    *,
    prune_after_s: float = PRUNE_AFTER_S,
    lock_s: float = INTERVAL_S,
) -> list[str]:
    """Prune as described in the module doc; returns the ids removed.

    With a ``registry``, the ``on_failure`` hooks of a pruned job run here
    when its class is registered, as Ruby runs them in the pruning worker.
    ``prune_after_s`` and ``lock_s`` are Ruby's ``Resque.prune_interval``
    and ``Resque.heartbeat_interval``.
    """
    if not client.set(keys.prune_lock, my_id, nx=True, ex=max(1, int(lock_s))):
        return []
    registered = worker_records.ids(client, keys)
    expired = _expired(client, keys, prune_after_s)
    pruned = []
    for wid in expired:
        log.info("pruning dead worker %s (heartbeat expired)", wid)
        unregister(client, keys, backend, wid, "prune", registry)
        pruned.append(wid)
    mine = set(my_patterns)
    live = resque_pids()
    for wid in registered:
        if wid in expired or wid == my_id:
            continue
        # Ruby splits on every ':' here (not split(':', 3)); so do we.
        parts = wid.split(":")
        if len(parts) < 3:
            continue
        host, pid, queue_part = parts[0], parts[1], parts[2]
        if "*" not in mine and set(queue_part.split(",")) != mine:
            continue
        if host != hostname or pid in live:
            continue
        log.info("pruning dead worker %s (no such process on this host)", wid)
        unregister(client, keys, backend, wid, "dirty", registry)
        pruned.append(wid)
    return pruned


def recover_leftover(
    client: redis_py.Redis,
    keys: Keys,
    backend: failure_mod.FailureBackend,
    my_id: str,
    registry: Registry | None = None,
) -> bool:
    """Unregister a dead process that had this worker's id, before it registers.

    Two live workers never share an id (host, pid and queues), so a
    registration under ours is a dead process's: a container restarted with
    the same hostname and pid 1, say. Same-host pruning never removes it (the
    pid is alive: it is us), and the next reserve would overwrite the job it
    held, so its job becomes a ``Resque::DirtyExit`` failure here.
    """
    if not client.exists(keys.worker(my_id)) and not client.sismember(keys.workers, my_id):
        return False
    log.warning("a dead worker had this worker's id %s; unregistering it", my_id)
    unregister(client, keys, backend, my_id, "dirty", registry)
    return True


def _expired(client: redis_py.Redis, keys: Keys, prune_after_s: float = PRUNE_AFTER_S) -> list[str]:
    now_s, _ = client.time()
    expired = []
    for field, value in client.hgetall(keys.heartbeat).items():
        wid = as_name(field, client)
        try:
            age = now_s - times.parse_heartbeat(as_text(value))
        except ValueError:
            log.warning("ignoring unparsable heartbeat %r of %s", value, wid)
            continue
        if age > prune_after_s:
            expired.append(wid)
    return expired


def unregister(
    client: redis_py.Redis,
    keys: Keys,
    backend: failure_mod.FailureBackend,
    wid: str,
    reason: str,
    registry: Registry | None = None,
) -> None:
    """Remove ``wid``, recording the job it was running as a failure, as Ruby does.

    ``reason`` is ``prune`` (heartbeat expired), ``dirty`` (process gone) or
    ``exit`` (the worker itself stopped mid-job). None of them counts in
    ``stat:failed``, matching Ruby.
    """
    current = worker_records.current_job(client, keys, wid)
    pipe = client.pipeline(transaction=True)
    if current is not None:
        payload = current.get("payload")
        if reason == "prune":
            job_class = payload.get("class") if isinstance(payload, dict) else None
            exc: Exception = PruneDeadWorkerDirtyExit(
                f"Worker {wid} did not gracefully exit while processing {job_class or '<Unknown Job>'}"
            )
        else:
            exc = DirtyExit("Job still being processed")
        if registry is not None and isinstance(payload, dict):
            execution.run_failure_hooks(registry, payload.get("class"), payload.get("args"), exc)
        data = failure_mod.record(
            payload, failure_mod.exception_name(exc), str(exc), [], wid, str(current.get("queue") or "")
        )
        backend.save(pipe, data)
    worker_records.unregister(pipe, keys, wid)
    pipe.execute()
