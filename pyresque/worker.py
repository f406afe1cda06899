"""The worker: a drop-in peer of ``rake resque:work``.

    worker = Worker(Resque(url), ["critical", "*"], interval_s=5)
    worker.work()

``work`` is Ruby's ``Worker#work``: *startup* (title, signals, heartbeat,
prune, ``before_first_fork``, register), the *loop* (reserve, run, finish)
and *teardown* (unregister, ``worker_exit``). ``interval_s=0`` drains the
queues and returns, which is what tests use.

Unlike Ruby, an idle worker does not sleep: it blocks until Redis reports a
change to a queue (see :mod:`pyresque.wakeup`), so a job starts within
milliseconds. A job is taken by one Lua script that pops it *and* writes the
``worker:<id>`` record; the same script call first records how the previous
job ended (failure record, stats), so a job costs one round trip.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from typing import Any, Sequence

import redis as redis_py

from pyresque import execution
from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque import prune
from pyresque import times
from pyresque import workers as worker_records
from pyresque.client import Resque
from pyresque.connection import as_text
from pyresque.errors import MalformedPayload, TermException, WorkerError
from pyresque.heartbeat import INTERVAL_S as HEARTBEAT_INTERVAL_S
from pyresque.heartbeat import Heartbeat
from pyresque.queues import QueueList
from pyresque.registry import Registry
from pyresque.scripts import source
from pyresque.wakeup import QueueWatcher, SignalPipe

try:
    from setproctitle import setproctitle as _setproctitle
except ImportError:  # pragma: no cover - a declared dependency; without it Ruby may prune us
    _setproctitle = None

log = logging.getLogger("pyresque.worker")

# The Resque version whose process title and protocol we follow. Ruby's
# same-host prune recognises live workers by a title matching "resque-[0-9]".
RESQUE_VERSION = "3.0.0"


def set_procline(prefix: str, text: str, versioned: bool = True) -> None:
    """Set the process title as Ruby's ``procline`` does (``resque-3.0.0: <text>``).

    The text may carry a class name from a payload: a NUL in it would make
    the title call raise (and kill the worker or its child), so NULs are
    shown as ``\\0``.
    """
    if _setproctitle is not None:
        title = f"{prefix}resque-{RESQUE_VERSION}: {text}" if versioned else prefix + text
        _setproctitle(title.replace("\0", "\\0"))


class Worker:
    """One worker process working ``queues`` (patterns, as ``QUEUES`` takes them)."""

    def __init__(
        self,
        resque: Resque,
        queues: Sequence[str] | str,
        *,
        registry: Registry | None = None,
        interval_s: float = 5.0,
        min_interval_s: float | None = None,
        max_interval_s: float | None = None,
        backoff_interval_s: float = 0.1,
        fork_per_job: bool | None = None,
        prefork: bool = True,
        term_child: bool = False,
        graceful_term: bool = False,
        pre_shutdown_timeout_s: float = 0.0,
        term_timeout_s: float = 4.0,
        job_timeout_s: float | None = None,
        procline_prefix: str = "",
        hostname: str | None = None,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        handle_signals: bool | None = None,
    ) -> None:
        self.resque = resque
        self.redis = resque.redis
        self.keys = resque.layout
        self.registry = registry if registry is not None else resque.registry
        self.queue_list = QueueList.parse(queues) if isinstance(queues, str) else QueueList(queues)
        if not self.queue_list.patterns:
            raise WorkerError("no queues given: set QUEUES (or -q), e.g. QUEUES=high,low or QUEUES=*")
        for name in self.queue_list.patterns:
            if "," in name:
                raise WorkerError(f"queue name {name!r} contains ','")
        self.hostname = hostname or socket.gethostname()
        self.pid = os.getpid()
        self.id = worker_records.worker_id(self.queue_list.patterns, self.pid, self.hostname)
        self.min_interval_s = interval_s if min_interval_s is None else min_interval_s
        self.max_interval_s = interval_s if max_interval_s is None else max_interval_s
        self.interval_s = min(max(interval_s, self.min_interval_s), self.max_interval_s)
        self.backoff_interval_s = backoff_interval_s
        self.graceful_term = graceful_term
        self.procline_prefix = procline_prefix
        self.heartbeat_interval_s = heartbeat_interval_s
        # None: decided when work() starts, by the thread it runs in (Python
        # only lets the main thread install signal handlers).
        self.handle_signals = handle_signals
        if fork_per_job is None:
            fork_per_job = hasattr(os, "fork")
        self._signals: SignalPipe | None = None
        self.ctx = execution.Context(
            registry=self.registry,
            worker_id=self.id,
            procline=self.procline,
            term_child=term_child,
            pre_shutdown_timeout_s=pre_shutdown_timeout_s,
            term_timeout_s=term_timeout_s,
            job_timeout_s=job_timeout_s,
        )
        self.strategy: execution.Strategy = execution.Forking(self.ctx, prefork) if fork_per_job else execution.InProcess(self.ctx)
        self.shutdown_requested = False
        self.paused = False
        self._shutdown_hooks_ran = False
        self._pause_changed = False
        self._idle = False
        self._next_job = self.redis.register_script(source("next_job"))
        # How the last job ended, recorded by the same script call that
        # reserves the next one (see flush()).
        self._pending: execution.Outcome | None = None
        self._queues_cache: list[str] = []
        self._queue_args_cache: dict[tuple[str, ...], tuple[list[str | bytes], list[str | bytes]]] = {}
        self._run_at_second = -1
        self._run_at_json = b""
        self._queues_read_at = float("-inf")
        self._heartbeat: Heartbeat | None = None
        self._watcher: QueueWatcher | None = None
        self.jobs_done = 0
        self._registered = False

    def __repr__(self) -> str:
        return f"<Worker {self.id}>"

    # The three phases ------------------------------------------------------
    def work(self) -> None:
        """Start up, work until told to stop (or drained when interval is 0), tear down.

        Teardown runs even when startup fails (a before_first_fork hook
        raising, say), as in Ruby's "Failed to start worker": the heartbeat
        already written is removed and worker_exit hooks run.
        """
        try:
            self.startup()
            self.loop()
        finally:
            self.teardown()

    def startup(self) -> None:
        set_procline(self.procline_prefix, "resque: Starting", versioned=False)
        if self.handle_signals is None:
            self.handle_signals = threading.current_thread() is threading.main_thread()
        if self.handle_signals:
            self._signals = SignalPipe()
            self.ctx.signal_fd = self._signals.read_fd
            self.ctx.on_signal = self._after_signals
            self._install_signal_handlers()
        self._heartbeat = Heartbeat(self.redis, self.keys, self.id, self.heartbeat_interval_s)
        self._heartbeat.start()
        prune.prune_dead_workers(
            self.redis, self.keys, self.resque.failure_backend, self.id, self.queue_list.patterns, self.hostname,
            self.registry,
        )
        hook_runner.run_all(self.registry.worker_hooks["before_first_fork"], self)
        pipe = self.redis.pipeline(transaction=False)
        worker_records.register(pipe, self.keys, self.id)
        pipe.execute()
        self._registered = True
        self._watcher = QueueWatcher(self.redis, self.keys, self._signals)
        if self.interval_s > 0:
            self._watcher.start()
        log.info("Starting worker %s", self.id)

    def loop(self) -> None:
        while not self.shutdown_requested:
            self._after_signals()
            if self.shutdown_requested:
                break
            if self.paused:
                self.flush()
                self.procline("Paused")
                self._wait(self.max_interval_s or 5.0)
                continue
            try:
                status = self.work_one_job()
            except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
                # A pending outcome stays pending and is recorded once Redis is back.
                log.error("lost Redis (%s); retrying", exc)
                self._wait(max(1.0, self.interval_s))
                continue
            if status == "job":
                self.interval_s = self.min_interval_s
                continue
            if status == "empty" and not self._idle:
                self._idle = True
                hook_runner.run_all(self.registry.worker_hooks["queue_empty"])
            if self.interval_s == 0:
                break
            self.interval_s = min(self.interval_s + self.backoff_interval_s, self.max_interval_s)
            if status == "paused":
                self.procline("Paused")
            else:
                self.procline(f"Waiting for {','.join(self.resolved_queues())}")
            self.strategy.prepare()
            self._wait(self.interval_s)

    def teardown(self) -> None:
        self._after_signals()
        try:
            self.flush()
        except redis_py.RedisError as exc:
            log.error("could not record the last job of %s: %s", self.id, exc)
        # Stop the heartbeat first, as Ruby does: a beat landing after the
        # unregister would leave a heartbeat field for a worker that is gone.
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            prune.unregister(self.redis, self.keys, self.resque.failure_backend, self.id, "exit", self.registry)
        except redis_py.RedisError as exc:
            # Not worth a second error line when startup itself failed on Redis.
            (log.error if self._registered else log.debug)("could not unregister %s: %s", self.id, exc)
        if self._watcher is not None:
            self._watcher.close()
        self.strategy.close()
        if self._signals is not None:
            self._restore_signal_handlers()
            self._signals.close()
            self._signals = None
        hook_runner.run_all(self.registry.worker_hooks["worker_exit"])

    # One job ---------------------------------------------------------------
    # While busy, a dynamic (``*``) worker re-reads the queues set at most
    # this often; after an empty pass or a wake-up it always re-reads it.
    QUEUES_REFRESH_S = 1.0

    def resolved_queues(self, fresh: bool = True) -> list[str]:
        if not self.queue_list.dynamic:
            return self.queue_list.patterns
        now = time.monotonic()
        if fresh or now - self._queues_read_at > self.QUEUES_REFRESH_S:
            names = (as_text(q) for q in self.redis.smembers(self.keys.queues))
            self._queues_cache = self.queue_list.resolve(names)
            self._queues_read_at = now
        return self._queues_cache

    def work_one_job(self) -> str:
        """Record the last job, reserve and run the next: ``job``, ``empty`` or ``paused``."""
        queues = self.resolved_queues(fresh=self._pending is None)
        reserved = self._call_next_job(queues)
        if reserved is None:
            return "empty"
        if reserved == b"paused" or reserved == "paused":
            return "paused"
        position, raw = reserved
        self._idle = False
        # The bytes as queued: decoding them here would turn invalid UTF-8
        # into U+FFFD and run a job Ruby could not even decode.
        self._pending = self.process(queues[int(position) - 1], raw)
        return "job"

    def process(self, queue: str, raw: bytes | str) -> execution.Outcome:
        """Run a reserved payload; how it ended is recorded by the next script call."""
        try:
            job = codec.Job(queue, codec.decode_job(raw), as_text(raw))
        except MalformedPayload as exc:
            log.error("malformed payload on %s: %s", queue, exc.problem)
            return execution.Outcome(failure_mod.record_for_malformed(exc, self.id, queue), True)
        self.procline(f"Processing {queue} since {int(time.time())} [{job.class_name}]")
        try:
            outcome = self.strategy.run(job)
        except TermException as exc:
            # The signal landed between the job and the bookkeeping.
            outcome = execution.Outcome(failure_mod.record_for_exception(job.payload.to_dict(), exc, self.id, queue), True)
        if outcome.failed:
            log.warning("%s failed: %s", job.class_name, outcome.record and outcome.record.get("error"))
        return outcome

    def flush(self) -> None:
        """Record the last job's outcome now, without reserving another."""
        if self._pending is not None:
            self._call_next_job([])

    def _call_next_job(self, queues: list[str]) -> Any:
        """One round trip: record the pending outcome (failure, stats, worker:<id>)
        and, when ``queues`` is not empty, reserve the next job."""
        outcome = self._pending
        keys = self.keys
        if outcome is not None and outcome.record is not None:
            failure_json: str | bytes = failure_mod.encode_record(outcome.record)
            dest = self.resque.failure_backend.destination(str(outcome.record.get("queue") or ""))
            failure_keys: list[str | bytes] = [dest.list_key, dest.set_key or keys.failed_queues]
            member: str | bytes = dest.member or b""
        else:
            failure_json, member = b"", b""
            failure_keys = self._no_failure_keys
        queue_keys, queue_names = self._queue_args(tuple(queues))
        result = self._next_job(
            keys=self._stat_keys + failure_keys + self._worker_keys + queue_keys,
            args=[
                b"1" if outcome is not None else b"",
                failure_json,
                b"1" if outcome is not None and outcome.counts_as_failed else b"",
                member,
                self._run_at(),
            ] + queue_names,
        )
        if outcome is not None:
            self._pending = None
            self.jobs_done += 1
        return result

    # The script is called once per job: its constant arguments are encoded once.
    @functools.cached_property
    def _stat_keys(self) -> list[str | bytes]:
        k = self.keys
        return [x.encode() for x in (k.processed_stat(), k.processed_stat(self.id), k.failed_stat(), k.failed_stat(self.id))]

    @functools.cached_property
    def _worker_keys(self) -> list[str | bytes]:
        return [self.keys.pause_all.encode(), self.keys.worker(self.id).encode()]

    @functools.cached_property
    def _no_failure_keys(self) -> list[str | bytes]:
        # Unused when there is no failure; any key of ours fills the slots.
        return [self.keys.failed.encode(), self.keys.failed_queues.encode()]

    def _queue_args(self, queues: tuple[str, ...]) -> tuple[list[str | bytes], list[str | bytes]]:
        cached = self._queue_args_cache.get(queues)
        if cached is None:
            if len(self._queue_args_cache) > 64:  # a dynamic worker's list changes; keep it bounded
                self._queue_args_cache.clear()
            cached = ([self.keys.queue(q).encode() for q in queues], [codec.encode(q).encode() for q in queues])
            self._queue_args_cache[queues] = cached
        return cached

    def _run_at(self) -> bytes:
        now = int(time.time())
        if now != self._run_at_second:
            self._run_at_second, self._run_at_json = now, codec.encode(times.run_at(now)).encode()
        return self._run_at_json

    # Waiting, titles -------------------------------------------------------
    def _wait(self, timeout_s: float) -> None:
        if self._watcher is not None:
            self._watcher.wait(timeout_s)
        else:
            time.sleep(timeout_s)

    def procline(self, text: str) -> None:
        set_procline(self.procline_prefix, text)
        log.debug("procline: %s", text)


    # Signals ---------------------------------------------------------------
    _SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT")

    def _install_signal_handlers(self) -> None:
        self._previous_handlers: dict[int, Any] = {}
        handlers = {
            signal.SIGTERM: self._on_term,
            signal.SIGINT: self._on_int,
            signal.SIGQUIT: self._on_quit,
            signal.SIGUSR1: self._on_usr1,
            signal.SIGUSR2: self._on_usr2,
            signal.SIGCONT: self._on_cont,
        }
        for sig, handler in handlers.items():
            self._previous_handlers[sig] = signal.signal(sig, handler)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in getattr(self, "_previous_handlers", {}).items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _on_term(self, signum: int, frame: Any) -> None:
        if self.graceful_term:
            self._on_quit(signum, frame)
        else:
            self._shutdown_now()

    def _on_int(self, signum: int, frame: Any) -> None:
        self._shutdown_now()

    def _on_quit(self, signum: int, frame: Any) -> None:
        """Finish the current job, then exit."""
        self.shutdown_requested = True
        self._hooks_now_if_in_job()

    def _on_usr1(self, signum: int, frame: Any) -> None:
        """Kill the running child and carry on.

        Without fork this does nothing: Ruby's kill_child and new_kill_child
        only act on a child, and never interrupt a job running in the worker.
        """
        if self.strategy.forks:
            self.strategy.kill()

    def _on_usr2(self, signum: int, frame: Any) -> None:
        if not self.paused:
            self.paused = True
            self._pause_changed = True
            self._hooks_now_if_in_job()

    def _on_cont(self, signum: int, frame: Any) -> None:
        if self.paused:
            self.paused = False
            self._pause_changed = True
            self._hooks_now_if_in_job()

    def _shutdown_now(self) -> None:
        self.shutdown_requested = True
        self._hooks_now_if_in_job()  # Ruby's shutdown! runs the hook, then stops the job
        self.strategy.kill()

    def _hooks_now_if_in_job(self) -> None:
        """While a job runs in this process nothing else gets to run the
        hooks until it ends, so run them here, in the handler, as Ruby's trap
        does (a forked job's wait loop runs them through ``ctx.on_signal``;
        an idle worker's wait wakes up and runs them)."""
        if not self.strategy.forks and getattr(self.strategy, "running", False):
            self._after_signals()

    def _after_signals(self) -> None:
        """Run the hooks signals asked for, outside the signal handlers."""
        if self.shutdown_requested and not self._shutdown_hooks_ran:
            self._shutdown_hooks_ran = True
            hook_runner.run_all(self.registry.worker_hooks["shutdown"])
        if self._pause_changed:
            self._pause_changed = False
            kind = "before_pause" if self.paused else "after_pause"
            hook_runner.run_all(self.registry.worker_hooks[kind], self)
