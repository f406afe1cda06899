"""The Redis key layout: the only place a key name is built.

Ruby Resque wraps its connection in redis-namespace, which prefixes every key
with ``<namespace>:``. :class:`Keys` applies that prefix once, here, so the
rest of pyresque asks for ``keys.queue("high")`` and never spells a key.
Values are never namespaced (e.g. the ``<q>_failed`` names in
``failed_queues`` are stored bare, as Ruby stores them).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "resque"

# Bare names, as Ruby uses them inside the namespace.
_QUEUES = "queues"
_QUEUE = "queue:"
_WORKERS = "workers"
_WORKER = "worker:"
_HEARTBEAT = "workers:heartbeat"
_PRUNE_LOCK = "pruning_dead_workers_in_progress"
_STAT = "stat:"
_FAILED = "failed"
_FAILED_QUEUES = "failed_queues"
_FAILED_SUFFIX = "_failed"
_PAUSE_ALL = "pause-all-workers"
_DELAYED_SCHEDULE = "delayed_queue_schedule"
_DELAYED = "delayed:"
_TIMESTAMPS = "timestamps:"
_STARTED_SUFFIX = ":started"
# node-resque's liveness key, worker:ping:<host:pid> (a JSON {time,name,queues}).
_NODE_PING = _WORKER + "ping:"
# node-resque's scheduler leader lock, and job locks of node-resque's QueueLock
# and JobLock plugins (Ruby lock plugins such as resque-lock also use lock:).
_NODE_LEADER_LOCK = "resque_scheduler_leader_lock"
_JOB_LOCKS = ("lock:", "workerslock:")
_PERSISTENT_SCHEDULES = "persistent_schedules"
_SCHEDULES_CHANGED = "schedules_changed"
_LAST_ENQUEUED_AT = "delayed:last_enqueued_at"
_MASTER_LOCK = "resque_scheduler_master_lock"
_RETRY = "resque-retry:"
_RETRY_FAILURE = "failure-"
# pyresque's own keys, which Ruby never reads: all under this prefix.
_PYRESQUE = "pyresque:"
_RESERVATION = _PYRESQUE + "reservation:"
_SCHEDULE_TICK = _PYRESQUE + "schedule_tick"
_HISTORY = _PYRESQUE + "history:"

# Stat names: stat:<name> and stat:<name>:<worker id>.
STAT_PROCESSED = "processed"
STAT_FAILED = "failed"


@dataclass(frozen=True)
class KeyKind:
    """What a key of the namespace is (see :meth:`Keys.parse`).

    ``kind`` is one of: queues, queue, workers, worker, worker_started,
    heartbeat, prune_lock, pause_all, stat, failed, failed_queues,
    failed_list, delayed_schedule, delayed, timestamps, persistent_schedules,
    schedules_changed, last_enqueued_at, scheduler_lock, retry,
    pyresque (pyresque's own, which Ruby ignores), node_ping (node-resque's
    ``worker:ping:<name>``, which Ruby ignores), node_leader_lock
    (node-resque's scheduler lock), job_lock (plugins' ``lock:*`` and
    ``workerslock:*``), other. ``arg`` is the
    variable part: the queue name, worker id, stat suffix (``processed`` or
    ``processed:<id>``), failure list name, timestamp or encoded item.
    """

    kind: str
    arg: str = ""


@dataclass(frozen=True)
class Keys:
    """Key names for one namespace (``resque`` by default; may be nested, e.g. ``resque:myapp``)."""

    namespace: str = DEFAULT_NAMESPACE

    @property
    def prefix(self) -> str:
        return self.namespace + ":" if self.namespace else ""

    def _k(self, bare: str) -> str:
        return self.prefix + bare

    def strip(self, key: str) -> str:
        """A full key without the namespace prefix (what ``Resque.keys`` shows)."""
        return key[len(self.prefix):] if key.startswith(self.prefix) else key

    def all_pattern(self) -> str:
        """A SCAN/KEYS pattern for every key in the namespace."""
        return _glob_escape(self.prefix) + "*"

    # Queues -------------------------------------------------------------
    @property
    def queues(self) -> str:
        """Set of every queue name ever pushed to (never cleaned by Ruby)."""
        return self._k(_QUEUES)

    def queue(self, name: str) -> str:
        """List of JSON payloads: RPUSH to enqueue, LPOP to reserve."""
        return self._k(_QUEUE + name)

    @property
    def queue_prefix(self) -> str:
        """Prefix shared by every queue list (for change notifications)."""
        return self._k(_QUEUE)

    def queue_name(self, key: str) -> str | None:
        """The queue whose list is ``key`` (the reverse of :meth:`queue`); None if it is no queue's."""
        prefix = self.queue_prefix
        return key[len(prefix):] if key.startswith(prefix) else None

    # Workers ------------------------------------------------------------
    @property
    def workers(self) -> str:
        """Set of registered worker ids."""
        return self._k(_WORKERS)

    def worker(self, worker_id: str) -> str:
        """String: JSON of the job the worker is running; absent when idle."""
        return self._k(_WORKER + worker_id)

    def worker_started(self, worker_id: str) -> str:
        """String: when the worker registered, Ruby ``Time#to_s`` format."""
        return self._k(_WORKER + worker_id + ":started")

    def reservation(self, worker_id: str) -> str:
        """pyresque's string, with a TTL: which reservation ``worker:<id>``
        holds (``<rid>``), or the one last finished (``~<rid>``), so a
        repeated ``next_job`` call (its reply was lost) neither records a job
        twice nor loses the one it reserved. Ruby never reads it."""
        return self._k(_RESERVATION + worker_id)

    def history(self, resolution: str) -> str:
        """pyresque's list of counter samples at one resolution (``10s``,
        ``5m``), newest first, trimmed to a fixed length; the dashboard's rate
        charts read it. Ruby never reads it."""
        return self._k(_HISTORY + resolution)

    def history_lock(self, resolution: str) -> str:
        """pyresque's string with a TTL of one sampling period: held by
        whichever dashboard process takes the current sample."""
        return self._k(_HISTORY + resolution + ":lock")

    @property
    def heartbeat(self) -> str:
        """Hash: worker id -> ISO8601 time of its last heartbeat."""
        return self._k(_HEARTBEAT)

    @property
    def prune_lock(self) -> str:
        """String with a TTL: held by the worker pruning dead workers."""
        return self._k(_PRUNE_LOCK)

    @property
    def pause_all(self) -> str:
        """String: ``true`` (any case, padded) pauses every worker."""
        return self._k(_PAUSE_ALL)

    # Stats ----------------------------------------------------------------
    def stat(self, name: str, worker_id: str | None = None) -> str:
        """Integer counter ``stat:<name>`` or the per-worker ``stat:<name>:<id>``."""
        bare = _STAT + name if worker_id is None else f"{_STAT}{name}:{worker_id}"
        return self._k(bare)

    # Failures -------------------------------------------------------------
    @property
    def failed(self) -> str:
        """List of failure records (the default ``Resque::Failure::Redis`` backend)."""
        return self._k(_FAILED)

    @property
    def failed_queues(self) -> str:
        """Set of per-queue failure list names (``redis_multi_queue`` backend)."""
        return self._k(_FAILED_QUEUES)

    @staticmethod
    def failed_queue_name(queue: str) -> str:
        """The bare name of a queue's failure list, as stored in ``failed_queues``."""
        return queue + _FAILED_SUFFIX

    @staticmethod
    def queue_of_failed_queue(failed_queue: str) -> str:
        """The job queue a ``<q>_failed`` name belongs to."""
        if failed_queue.endswith(_FAILED_SUFFIX):
            return failed_queue[: -len(_FAILED_SUFFIX)]
        return failed_queue

    def failed_list(self, failed_queue: str) -> str:
        """The full key of a bare failure list name (``failed`` or ``<q>_failed``)."""
        return self._k(failed_queue)

    @staticmethod
    def default_failed_queue() -> str:
        """The bare name of the default backend's list."""
        return _FAILED

    def processed_stat(self, worker_id: str | None = None) -> str:
        """``stat:processed`` (or one worker's): every job run, failed ones included."""
        return self.stat(STAT_PROCESSED, worker_id)

    def failed_stat(self, worker_id: str | None = None) -> str:
        """``stat:failed`` (or one worker's): jobs that raised, not dirty exits."""
        return self.stat(STAT_FAILED, worker_id)

    # resque-scheduler -----------------------------------------------------
    @property
    def delayed_schedule(self) -> str:
        """Sorted set of unix timestamps that have delayed jobs."""
        return self._k(_DELAYED_SCHEDULE)

    @staticmethod
    def delayed_member(timestamp: int) -> str:
        """The un-namespaced ``delayed:<ts>`` value stored in ``timestamps:*`` sets."""
        return _DELAYED + str(int(timestamp))

    def delayed(self, timestamp: int) -> str:
        """List of delayed job payloads due at ``timestamp``."""
        return self._k(self.delayed_member(timestamp))

    def timestamps(self, encoded_item: str) -> str:
        """Set of ``delayed:<ts>`` members for one encoded delayed item."""
        return self._k(_TIMESTAMPS + encoded_item)

    @property
    def persistent_schedules(self) -> str:
        """Hash: schedule name -> JSON config of a dynamic schedule set with ``persist``."""
        return self._k(_PERSISTENT_SCHEDULES)

    @property
    def schedules_changed(self) -> str:
        """Set of schedule names changed since the master last reloaded them."""
        return self._k(_SCHEDULES_CHANGED)

    @property
    def last_enqueued_at(self) -> str:
        """Hash: schedule name -> Ruby ``Time#to_s`` of its last recurring enqueue.

        It shares the ``delayed:`` prefix with the buckets; it is not one."""
        return self._k(_LAST_ENQUEUED_AT)

    def master_lock(self, lock_prefix: str = "") -> str:
        """String ``<hostname>:<pid>`` with a TTL: the scheduler master.

        resque-scheduler builds the name with the namespace inside it and
        then namespaces it again, so the namespace appears twice
        (``resque:resque:resque_scheduler_master_lock``);
        ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX`` goes between them.
        """
        middle = f"{lock_prefix}:" if lock_prefix else ""
        return self._k(f"{self.namespace}:{middle}{_MASTER_LOCK}")

    @property
    def schedule_ticks(self) -> str:
        """pyresque's hash: schedule name -> epoch second of the last tick it
        enqueued, so a tick is enqueued once across pyresque schedulers and
        failovers. Ruby never reads it."""
        return self._k(_SCHEDULE_TICK)

    def retry(self, identifier: str) -> str:
        """resque-retry's attempt counter ``resque-retry:<Class>[:<id>]``."""
        return self._k(_RETRY + identifier)

    def retry_failure(self, identifier: str) -> str:
        """resque-retry's ``failure-resque-retry:<Class>[:<id>]``: JSON details
        of the last failure of a job waiting for its retry (TTL 2 x delay)."""
        return self._k(_RETRY_FAILURE + _RETRY + identifier)

    # Reading key names back --------------------------------------------------
    def parse(self, key: str) -> KeyKind | None:
        """What ``key`` is in Resque's layout, or None when it is outside the namespace.

        ``worker:ping:<name>`` is node-resque's liveness key (``node_ping``).
        ``worker:<id>:started`` wins over ``worker:<id>`` (an id cannot end in
        ``:started`` unless a queue is named ``started``). Any ``<x>_failed``
        is reported as a failure list; callers that care can check it against
        ``failed_queues``. Keys Resque does not define (plugins') are ``other``.
        """
        if self.prefix and not key.startswith(self.prefix):
            return None
        bare = key[len(self.prefix):]
        exact = {
            _QUEUES: "queues",
            _WORKERS: "workers",
            _HEARTBEAT: "heartbeat",
            _PRUNE_LOCK: "prune_lock",
            _PAUSE_ALL: "pause_all",
            _FAILED: "failed",
            _FAILED_QUEUES: "failed_queues",
            _DELAYED_SCHEDULE: "delayed_schedule",
            _PERSISTENT_SCHEDULES: "persistent_schedules",
            _SCHEDULES_CHANGED: "schedules_changed",
            _LAST_ENQUEUED_AT: "last_enqueued_at",
        }
        if bare in exact:
            return KeyKind(exact[bare])
        if bare.startswith(_QUEUE):
            return KeyKind("queue", bare[len(_QUEUE):])
        if bare.endswith(_MASTER_LOCK) and bare.startswith(self.namespace + ":"):
            return KeyKind("scheduler_lock", bare[len(self.namespace) + 1 : -len(_MASTER_LOCK)].rstrip(":"))
        if bare == _NODE_LEADER_LOCK:
            return KeyKind("node_leader_lock")
        if bare.startswith(_JOB_LOCKS):
            return KeyKind("job_lock", bare)
        if bare.startswith(_RETRY):
            return KeyKind("retry", bare[len(_RETRY):])
        if bare.startswith(_RETRY_FAILURE + _RETRY):
            return KeyKind("retry_failure", bare[len(_RETRY_FAILURE + _RETRY):])
        if bare.startswith(_PYRESQUE):
            return KeyKind("pyresque", bare[len(_PYRESQUE):])
        if bare.startswith(_NODE_PING) and not bare.endswith(_STARTED_SUFFIX):
            # Also what worker:<id> of a worker on a host named "ping" looks
            # like: a caller that sees "ping:<name>" in workers reads it so.
            return KeyKind("node_ping", bare[len(_NODE_PING):])
        if bare.startswith(_WORKER):
            rest = bare[len(_WORKER):]
            if rest.endswith(_STARTED_SUFFIX):
                return KeyKind("worker_started", rest[: -len(_STARTED_SUFFIX)])
            return KeyKind("worker", rest)
        if bare.startswith(_STAT):
            return KeyKind("stat", bare[len(_STAT):])
        if bare.startswith(_DELAYED) and bare[len(_DELAYED):].isdigit():
            return KeyKind("delayed", bare[len(_DELAYED):])
        if bare.startswith(_TIMESTAMPS):
            return KeyKind("timestamps", bare[len(_TIMESTAMPS):])
        if bare.endswith(_FAILED_SUFFIX) and len(bare) > len(_FAILED_SUFFIX):
            return KeyKind("failed_list", bare)
        return KeyKind("other", bare)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
