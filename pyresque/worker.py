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

import contextlib
import functools
import logging
import os
import signal
import socket
import threading
import time
from typing import Any, Iterator, Sequence

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
from pyresque.heartbeat import PRUNE_AFTER_S, Heartbeat
from pyresque.outage import Outage
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


# How long teardown may spend on Redis (recording the last job,
# unregistering) when Redis does not answer, so a stop is never held up.
TEARDOWN_REDIS_S = 2.0


class Interrupted(BaseException):
    """A stop signal landed while the worker was waiting on Redis.

    Raised from the signal handler so that a call to a Redis that does not
    answer never holds up a stop. A BaseException, like KeyboardInterrupt:
    redis-py drops the connection it interrupts, and no ``except Exception``
    on the way swallows it.
    """


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
        prune_after_s: float = PRUNE_AFTER_S,
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
        check_settings(interval_s, min_interval_s, max_interval_s, backoff_interval_s,
                        heartbeat_interval_s, prune_after_s)
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
        # Ruby's Resque.prune_interval: a heartbeat older than this is dead.
        self.prune_after_s = prune_after_s
        # None: decided when work() starts, by the thread it runs in (Python
        # only lets the main thread install signal handlers).
        self.handle_signals = handle_signals
        if fork_per_job is None:
            fork_per_job = hasattr(os, "fork")
        self._signals: SignalPipe | None = None
        self.ctx = execution.Context(
            registry=self.registry, client=resque,
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
        # The reservation id of the job in hand (see next_job.lua), and
        # whether a call may have reserved a job whose reply never came.
        self._reservation: str | None = None
        self._unsure = False
        self._reservation_prefix = os.urandom(4).hex()
        self._reservations = 0
        self._in_redis = False
        self._tearing_down = False
        self._outage = Outage(f"worker {self.id}", log)
        self._next_prune_at = float("inf")
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
        except Interrupted:
            log.info("%s: stop signal while waiting on Redis; stopping", self.id)
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
        with self._redis_call():
            # A record under our own id is a dead process's with our pid (a
            # container restarted as PID 1, say): its job is a dirty exit.
            prune.recover_leftover(self.redis, self.keys, self.resque.failure_backend, self.id, self.registry)
            self._heartbeat = Heartbeat(self.redis, self.keys, self.id, self.heartbeat_interval_s, self._outage)
            self._heartbeat.start()
            self._prune()
        hook_runner.run_all(self.registry.worker_hooks["before_first_fork"], self)
        with self._redis_call():
            pipe = self.redis.pipeline(transaction=False)
            worker_records.register(pipe, self.keys, self.id)
            pipe.execute()
        self._registered = True
        if self._heartbeat is not None:
            self._heartbeat.registered = True
        self._watcher = QueueWatcher(self.redis, self.keys, self._signals)
        if self.interval_s > 0:
            self._watcher.start()
        log.info("Starting worker %s", self.id)

    def loop(self) -> None:
        while not self.shutdown_requested:
            self._after_signals()
            if self.shutdown_requested:
                break
            try:
                status = self._step()
            except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
                # A pending outcome stays pending and is recorded once Redis
                # is back: next_job.lua makes the repeated call safe.
                self._wait(self._outage.failed(exc))
                continue
            if self._outage.succeeded() and self._heartbeat is not None:
                self._heartbeat.beat_soon()  # re-register what Redis may have lost
            if status == "job":
                self.interval_s = self.min_interval_s
                continue
            if self.paused:  # USR2
                self.procline("Paused")
                self._wait(self._until_prune(self.max_interval_s or 5.0))
                continue
            if status == "empty" and not self._idle:
                self._idle = True
                hook_runner.run_all(self.registry.worker_hooks["queue_empty"])
            if self.interval_s == 0:
                break
            self.interval_s = min(self.interval_s + self.backoff_interval_s, self.max_interval_s)
            if status == "paused":  # pause-all-workers
                self.procline("Paused")
            else:
                queues = self._queues_cache if self.queue_list.dynamic else self.queue_list.patterns
                self.procline(f"Waiting for {','.join(queues)}")
            self.strategy.prepare()
            self._wait(self._until_prune(self.interval_s))

    def _step(self) -> str:
        """Prune when due, then one job (or, paused by USR2, only the last job's record)."""
        if time.monotonic() >= self._next_prune_at:
            with self._redis_call():
                self._prune()
        if self.paused:
            with self._redis_call():
                self.flush()
            return "paused"
        return self.work_one_job()

    def teardown(self) -> None:
        self._after_signals()
        with self._redis_deadline():
            self._leave_redis()
        if self._watcher is not None:
            self._watcher.close()
        self.strategy.close()
        if self._signals is not None:
            self._restore_signal_handlers()
            self._signals.close()
            self._signals = None
        hook_runner.run_all(self.registry.worker_hooks["worker_exit"])

    def _leave_redis(self) -> None:
        """Record the last job, stop the heartbeat, unregister: what can be
        done before the deadline; a Redis that stopped answering gets no more
        tries (its records are pruned later)."""
        try:
            with self._redis_call():
                self.flush()
        except (redis_py.RedisError, Interrupted) as exc:
            log.error("could not record the last job of %s: %s", self.id, str(exc) or "Redis did not answer")
            if isinstance(exc, (Interrupted, redis_py.TimeoutError)):
                self._stop_heartbeat()
                return
        # Stop the heartbeat first, as Ruby does: a beat landing after the
        # unregister would leave a heartbeat field for a worker that is gone.
        self._stop_heartbeat()
        try:
            with self._redis_call():
                prune.unregister(self.redis, self.keys, self.resque.failure_backend, self.id, "exit", self.registry)
        except (redis_py.RedisError, Interrupted) as exc:
            # Not worth a second error line when startup itself failed on Redis.
            (log.error if self._registered else log.debug)(
                "could not unregister %s: %s", self.id, str(exc) or "Redis did not answer")

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

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
        with self._redis_call():
            queues = self.resolved_queues(fresh=self._pending is None)
            reserved = self._call_next_job(queues)
        if reserved is None:
            return "empty"
        if reserved == b"paused" or reserved == "paused":
            return "paused"
        position, raw = reserved[0], reserved[1]
        if int(position) == 0:  # a job reserved by a call whose reply was lost
            held = worker_records.parse_reservation(raw, as_text(reserved[2]))
            if held is None:
                raise WorkerError(f"the record of worker {self.id} is one this worker cannot read: {raw[:200]!r}")
            log.warning("%s: resuming job %s from %s, reserved by a call whose reply was lost",
                        self.id, held.id, held.queue)
            self._reservation = held.id
            queue, raw = held.queue, held.raw
        else:
            queue = queues[int(position) - 1]
        self._idle = False
        # The bytes as queued: decoding them here would turn invalid UTF-8
        # into U+FFFD and run a job Ruby could not even decode.
        self._pending = self.process(queue, raw)
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
        """Record the last job's outcome now, without reserving another.

        A job reserved by a call whose reply was lost goes back to the head
        of its queue.
        """
        if self._pending is None and not self._unsure:
            return
        reply = self._call_next_job([])
        if isinstance(reply, list) and int(reply[0]) == 0:
            held = worker_records.parse_reservation(reply[1], as_text(reply[2]))
            if held is not None and worker_records.release(self.redis, self.keys, self.id, held):
                log.warning("%s: put job %s back on %s (reserved by a call whose reply was lost)",
                            self.id, held.id, held.queue)

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
        self._reservations += 1
        reservation = f"{self._reservation_prefix}{self._reservations:08x}"
        finishing = (self._reservation or "") if outcome is not None else ""
        self._unsure = True
        result = self._next_job(
            keys=self._stat_keys + failure_keys + self._worker_keys + queue_keys,
            args=[
                finishing,
                failure_json,
                b"1" if outcome is not None and outcome.counts_as_failed else b"",
                member,
                self._run_at(),
                reservation,
            ] + queue_names,
        )
        self._unsure = False
        if outcome is not None:
            self._pending = None
            self._reservation = None
            self.jobs_done += 1
        if isinstance(result, list) and int(result[0]) != 0:
            self._reservation = reservation
        return result

    # The script is called once per job: its constant arguments are encoded once.
    @functools.cached_property
    def _stat_keys(self) -> list[str | bytes]:
        k = self.keys
        return [x.encode() for x in (k.processed_stat(), k.processed_stat(self.id), k.failed_stat(), k.failed_stat(self.id))]

    @functools.cached_property
    def _worker_keys(self) -> list[str | bytes]:
        k = self.keys
        return [k.pause_all.encode(), k.worker(self.id).encode(), k.reservation(self.id).encode()]

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

    # Pruning, Redis calls, waiting, titles ------------------------------------
    def _prune(self) -> None:
        """Prune dead workers by Ruby's rules, under Ruby's lock; again one
        heartbeat interval later, so a dead worker's job on any host becomes
        a failure record while this worker runs, not only when one starts."""
        self._next_prune_at = time.monotonic() + self.heartbeat_interval_s
        prune.prune_dead_workers(
            self.redis, self.keys, self.resque.failure_backend, self.id, self.queue_list.patterns, self.hostname,
            self.registry, prune_after_s=self.prune_after_s, lock_s=self.heartbeat_interval_s,
        )

    def _until_prune(self, timeout_s: float) -> float:
        return min(timeout_s, max(0.0, self._next_prune_at - time.monotonic()))

    @contextlib.contextmanager
    def _redis_call(self) -> Iterator[None]:
        """Mark a stretch of Redis calls that a stop signal may cut short (see
        :class:`Interrupted`); a stop already asked for cuts it at once,
        except in teardown."""
        if self.shutdown_requested and not self._tearing_down:
            raise Interrupted()
        self._in_redis = True
        try:
            yield
        finally:
            self._in_redis = False

    @contextlib.contextmanager
    def _redis_deadline(self) -> Iterator[None]:
        """Bound teardown's Redis calls by ``TEARDOWN_REDIS_S``, whatever the
        socket timeouts, so a stop never waits on a Redis that hangs."""
        self._tearing_down = True
        if not self.handle_signals:
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, TEARDOWN_REDIS_S)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._in_redis:
            raise Interrupted()

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
        self._cut_redis_call()

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
        self._cut_redis_call()

    def _cut_redis_call(self) -> None:
        """A stop must not wait on a Redis that does not answer: cut the call."""
        if self._in_redis:
            raise Interrupted()

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


def check_settings(interval_s: float, min_interval_s: float | None, max_interval_s: float | None,
                    backoff_interval_s: float, heartbeat_interval_s: float, prune_after_s: float) -> None:
    """Refuse settings that would spin or never beat, with one clear line."""
    for name, value in (("interval", interval_s), ("min interval", min_interval_s),
                        ("max interval", max_interval_s), ("backoff interval", backoff_interval_s)):
        if value is not None and not value >= 0:  # NaN too
            raise WorkerError(f"{name} must be 0 or more seconds, not {value}")
    if not heartbeat_interval_s > 0:
        raise WorkerError(f"heartbeat interval must be more than 0 seconds, not {heartbeat_interval_s}")
    if not prune_after_s > heartbeat_interval_s:
        raise WorkerError(f"prune interval ({prune_after_s} s) must be longer than the heartbeat "
                          f"interval ({heartbeat_interval_s} s), or live workers get pruned")
