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
from pyresque import logs
from pyresque import payload as codec
from pyresque import prune
from pyresque import workers as worker_records
from pyresque.client import Resque
from pyresque.describe import job_name
from pyresque.unknown_jobs import POLICIES as UNKNOWN_JOB_POLICIES
from pyresque.unknown_jobs import Requeuer
from pyresque.connection import as_name, as_text, shown
from pyresque.config import check_settings
from pyresque.errors import MalformedPayload, TermException, WorkerError
from pyresque.heartbeat import INTERVAL_S as HEARTBEAT_INTERVAL_S
from pyresque.heartbeat import PRUNE_AFTER_S, Heartbeat
from pyresque.forking import Forking
from pyresque.outage import Outage
from pyresque.queues import QueueList
from pyresque.reserve import Reserver
from pyresque.registry import Registry
from pyresque.wakeup import KnownEmpty, QueueWatcher, SignalPipe

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

    The text may carry a class name from a payload or a queue name that is
    not UTF-8: a NUL or a surrogate escape in it would make the title call
    raise (and kill the worker or its child), so NULs are shown as ``\\0``
    and bytes that are not UTF-8 as U+FFFD.
    """
    if _setproctitle is not None:
        title = f"{prefix}resque-{RESQUE_VERSION}: {text}" if versioned else prefix + text
        _setproctitle(shown(title).replace("\0", "\\0"))


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
        jobs_per_child: int = 1,
        term_child: bool = False,
        graceful_term: bool = False,
        pre_shutdown_timeout_s: float = 0.0,
        term_timeout_s: float = 4.0,
        job_timeout_s: float | None = None,
        procline_prefix: str = "",
        hostname: str | None = None,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        prune_after_s: float = PRUNE_AFTER_S,
        unknown_jobs: str = "requeue",
        requeue_on_term: bool = False,
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
        if unknown_jobs not in UNKNOWN_JOB_POLICIES:
            raise WorkerError(f"unknown-jobs must be one of {', '.join(UNKNOWN_JOB_POLICIES)}, not {unknown_jobs!r}")
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
            requeue_on_term=requeue_on_term,
        )
        if jobs_per_child < 1:
            raise WorkerError(f"jobs per child must be at least 1, not {jobs_per_child}")
        if jobs_per_child > 1 and not fork_per_job:
            raise WorkerError("jobs per child is for forked jobs: without forking every job runs in the worker")
        self.strategy: execution.Strategy = (Forking(self.ctx, prefork, jobs_per_child) if fork_per_job
                                             else execution.InProcess(self.ctx))
        self.shutdown_requested = False
        self.paused = False
        self._shutdown_hooks_ran = False
        self._pause_changed = False
        self._idle = False
        # The job in hand and the one round trip that records it and reserves the next.
        self._reserver = Reserver(self.redis, self.keys, self.id, resque.failure_backend)
        self._in_redis = False
        self._tearing_down = False
        self._outage = Outage(f"worker {self.id}", log)
        self._next_prune_at = float("inf")
        # The requeue policy for classes nothing here runs (None: fail them, as Ruby does).
        self._requeuer = Requeuer(rest_s=max(self.max_interval_s, 1.0)) if unknown_jobs == "requeue" else None
        self.unknown_jobs = unknown_jobs
        self._paused_by_key = False
        self._stop_reason = "stop requested"
        self.requeue_on_term = requeue_on_term
        self._queues_cache: list[str] = []
        self._queues_read_at = float("-inf")
        self._heartbeat: Heartbeat | None = None
        self._watcher: QueueWatcher | None = None
        self._known_empty: KnownEmpty | None = None
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
        if self.interval_s > 0 or len(self.queue_list.patterns) > 1 or self.queue_list.dynamic:
            self._watcher.start()  # to wake up, and to leave out queues known to be empty
            self._known_empty = KnownEmpty(self._watcher, self.keys)
        log.info("worker %s started: pid %d, queues %s, %s, jobs: %s", self.id, self.pid,
                 ",".join(self.queue_list.patterns), self._mode(), ", ".join(self.registry.names()) or "none")

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
            if status != "paused" and self._paused_by_key:
                self._paused_by_key = False
                log.info("worker %s resumed: %s is cleared", self.id, self.keys.pause_all)
            if status == "job":
                self.interval_s = self.min_interval_s
                continue
            if self.paused:  # USR2
                self.procline("Paused")
                self._wait(self._until_prune(self.max_interval_s or 5.0))
                continue
            if status == "empty" and not self._idle:
                self._idle = True
                self._run_hooks("queue_empty")
            if self.interval_s == 0:
                break
            self.interval_s = min(self.interval_s + self.backoff_interval_s, self.max_interval_s)
            if status == "paused":  # pause-all-workers
                if not self._paused_by_key:
                    self._paused_by_key = True
                    log.info("worker %s paused: %s is set", self.id, self.keys.pause_all)
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
        self._reserver.close()
        if self._watcher is not None:
            self._watcher.close()
        self.strategy.close()
        if self._signals is not None:
            self._restore_signal_handlers()
            self._signals.close()
            self._signals = None
        hook_runner.run_all(self.registry.worker_hooks["worker_exit"])
        log.info("worker %s stopped after %d jobs", self.id, self.jobs_done)

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
            names = (as_name(q, self.redis) for q in self.redis.smembers(self.keys.queues))  # exact bytes
            self._queues_cache = self.queue_list.resolve(names)
            self._queues_read_at = now
        return self._queues_cache

    @property
    def jobs_done(self) -> int:
        """Jobs whose outcome this worker has recorded."""
        return self._reserver.finished

    def work_one_job(self) -> str:
        """Record the last job, reserve and run the next: ``job``, ``empty`` or ``paused``."""
        with self._redis_call():
            queues = self.resolved_queues(fresh=self._reserver.pending is None)
            if self._requeuer is not None:
                queues = self._requeuer.awake(queues)
            if self._known_empty is not None:
                queues = self._known_empty.among(queues)
            reserved = self._reserver.next(queues)
        if self._known_empty is not None and self._reserver.scanned:
            self._known_empty.saw(queues, None if reserved is None else reserved[0])
        if reserved is None or isinstance(reserved, str):
            return "empty" if reserved is None else "paused"
        queue, raw = reserved
        self._idle = False
        # The bytes as queued: decoding them here would turn invalid UTF-8
        # into U+FFFD and run a job Ruby could not even decode.
        self._reserver.hold(self.process(queue, raw), queue, raw)
        return "job"

    def process(self, queue: str, raw: bytes | str) -> execution.Outcome:
        """Run a reserved payload; how it ended is recorded by the next script call."""
        started = time.monotonic()
        try:
            job = codec.Job(queue, codec.decode_job(raw), as_text(raw))
        except MalformedPayload as exc:
            log.error("malformed payload on %s: %s", queue, exc.problem)
            outcome = execution.Outcome(failure_mod.record_for_malformed(exc, self.id, queue), True)
            self._log_job(queue, None, None, outcome, started)
            return outcome
        shown, job_id = job_name(job.class_name, job.args)
        if self._requeuer is not None and not self.registry.handles(job.class_name, job.args):
            self._requeuer.put_back(queue, shown or job.class_name, raw)
            outcome = execution.Outcome(requeue="tail")
            self._log_job(queue, shown, job_id, outcome, started)
            return outcome
        if self._requeuer is not None:
            self._requeuer.ran(queue)
        self.procline(f"Processing {queue} since {int(time.time())} [{job.class_name}]")
        try:
            outcome = self.strategy.run(job)
        except TermException as exc:
            # The signal landed between the job and the bookkeeping.
            outcome = execution.Outcome(failure_mod.record_for_job(job, exc, self.id), True)
        self._log_job(queue, shown, job_id, outcome, started)
        return outcome

    def _log_job(self, queue: str, shown: str | None, job_id: str | None, outcome: execution.Outcome,
                 started: float) -> None:
        """One line per job, at info level (a failure at warning)."""
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.requeue:
            result = "requeued"
        elif outcome.failed:
            result = "failed"
        elif outcome.counts_as_failed:
            result = "failed, retry scheduled"
        else:
            result = "done"
        extra = logs.job_extra(queue, shown, job_id, duration_ms, result)
        ident = f" {job_id}" if job_id else ""
        if outcome.failed and outcome.record is not None:
            log.warning("%s%s from %s failed in %.1f ms: %s: %s", shown, ident, queue, duration_ms,
                        outcome.record.get("exception"), outcome.record.get("error"), extra=extra)
        else:
            log.info("%s%s from %s %s in %.1f ms", shown, ident, queue, result, duration_ms, extra=extra)

    def flush(self) -> None:
        """Record the last job's outcome now, without reserving another.

        A job reserved by a call whose reply was lost goes back to the head
        of its queue.
        """
        self._reserver.flush()

    def _mode(self) -> str:
        if not self.strategy.forks:
            return "jobs in-process"
        per = getattr(self.strategy, "jobs_per_child", 1)
        return (f"a child per {per} jobs" if per > 1 else "a child per job") + (
            ", forked ahead" if getattr(self.strategy, "prefork", False) else "")

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
            self._stop_reason = ("TERM: the running job gets RESQUE_TERM_TIMEOUT to end, else goes back on its queue"
                                 if self.requeue_on_term else "TERM: stopping the running job")
            self._shutdown_now()

    def _on_int(self, signum: int, frame: Any) -> None:
        self._stop_reason = "INT: stopping the running job"
        self._shutdown_now()

    def _on_quit(self, signum: int, frame: Any) -> None:
        """Finish the current job, then exit."""
        if not self.shutdown_requested:
            self._stop_reason = f"{signal.Signals(signum).name[3:]}: finishing the running job first"
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
        elif isinstance(self.strategy, execution.InProcess):
            self.strategy.interrupt_if_due()  # --requeue-on-term's grace is over

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

    def _run_hooks(self, kind: str, *args: Any) -> None:
        """Hooks of a worker that is already working: one that raises (say, on a
        Redis that just went away) is logged, and the worker goes on. Ruby's
        worker would die of it; startup's and shutdown's hooks still may."""
        try:
            hook_runner.run_all(self.registry.worker_hooks[kind], *args)
        except Exception:  # noqa: BLE001 - a hook's failure must not stop the worker
            log.exception("worker %s: a %s hook raised; carrying on", self.id, kind)

    def _after_signals(self) -> None:
        """Run the hooks signals asked for, outside the signal handlers."""
        if self.shutdown_requested and not self._shutdown_hooks_ran:
            self._shutdown_hooks_ran = True
            log.info("worker %s stopping: %s", self.id, self._stop_reason)
            hook_runner.run_all(self.registry.worker_hooks["shutdown"])
        if self._pause_changed:
            self._pause_changed = False
            log.info("worker %s %s", self.id, "paused (USR2)" if self.paused else "resumed (CONT)")
            kind = "before_pause" if self.paused else "after_pause"
            self._run_hooks(kind, self)

