"""``pyresque scheduler``: the peer of ``rake resque:scheduler``.

Each pass, as Ruby's: take or renew the master lock; as master, reload
changed dynamic schedules, move every due delayed item and enqueue the
recurring jobs whose tick has come. Then, unlike Ruby's fixed 5-second
poll, sleep until the earliest of: the next due timestamp, the next
recurring tick, the polling interval (which keeps the lock renewed). Redis
client tracking (see :mod:`pyresque.wakeup`) wakes the sleep at once when
anyone, Ruby included, adds a timestamp, changes a dynamic schedule or
frees the lock, so a job due at second ``t`` is queued right at ``t``.

Signals are Ruby's: INT/TERM/QUIT stop (releasing the lock), USR1 logs the
schedule, USR2 reloads it.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any, Callable

import redis as redis_py

from pyresque import payload as codec
from pyresque.config import SchedulerSettings
from pyresque.scheduler import runs
from pyresque.scheduler import schedule as sched
from pyresque.scheduler.lock import MasterLock
from pyresque.scheduler.move import LostLock, Mover
from pyresque.scripts import source
from pyresque.wakeup import QueueWatcher, SignalPipe

log = logging.getLogger("pyresque.scheduler")

# A new master with catch-up on enqueues at most this many missed ticks of
# one schedule; the rest are counted in the log.
CATCH_UP_LIMIT = 100

# How soon a bucket that kept changing under a pass is tried again.
DEFERRED_RETRY_S = 1.0

# The resque-scheduler release whose process title we follow.
RESQUE_SCHEDULER_VERSION = "5.0.1"

try:
    from setproctitle import setproctitle as _setproctitle
except ImportError:  # pragma: no cover - a declared dependency
    _setproctitle = None


class Scheduler:
    """Moves due delayed jobs and fires recurring ones while it is master.

    ``entries`` is the static schedule (from YAML). The ``persistent_schedules``
    in Redis are merged in whenever the schedule is loaded, as Ruby's
    ``Resque.schedule`` merges them; ``settings.dynamic`` also picks up their
    changes while it runs (Ruby's ``update_schedule``).
    """

    def __init__(self, resque: Any, settings: SchedulerSettings | None = None,
                 entries: list[sched.Entry] | None = None, *, lock: MasterLock | None = None) -> None:
        self.resque = resque
        self.settings = settings or SchedulerSettings()
        self.layout = resque.layout
        self.redis = resque.redis
        self.lock = lock or MasterLock(self.redis, self.layout, timeout_s=self.settings.lock_timeout_s,
                                       lock_prefix=self.settings.lock_prefix)
        self.mover = Mover(resque, self.lock.key, self.lock.value, self.settings.batch_size)
        self.static = list(entries or [])
        self.entries: dict[str, sched.Entry] = {}
        self._next: dict[str, float] = {}
        self._fire = self.redis.register_script(source("fire_tick"))
        # None until the first pass, so that pass always sets the title.
        self.master: bool | None = None
        self.started_s = time.time()
        self._stopping = False
        self._reload_requested = False
        self._print_requested = False
        self.load_schedule()

    # The loop -------------------------------------------------------------
    def run(self) -> None:
        self.procline("Starting")
        signals = SignalPipe()
        previous = self._install_signals()
        watcher = QueueWatcher(self.redis, self.layout, signals, prefixes=[
            self.layout.delayed_schedule, self.layout.schedules_changed, self.lock.key])
        watcher.start()
        try:
            while not self._stopping:
                self._sleep(watcher, self.tick())
        finally:
            watcher.close()
            signals.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if self.master:
                try:
                    self.lock.release()
                except redis_py.RedisError:
                    pass
            log.info("Exiting")

    def tick(self, now_s: float | None = None) -> float:
        """One pass; returns how long to sleep before the next."""
        try:
            self._handle_requests(now_s)
            master = self.lock.acquire_or_renew()
            if master != self.master:
                self.master = master
                self.procline(self._role())
                if master:
                    self.reload_schedule()
                    self._plan_ticks(time.time() if now_s is None else now_s, becoming_master=True)
            if master:
                if self.settings.dynamic:
                    self.update_schedule(now_s)
                self._move_due(now_s)
                self.fire_recurring(time.time() if now_s is None else now_s)
        except LostLock as exc:
            log.warning("no longer master: %s", exc)
            self.master = False
            self.procline(self._role())
        except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
            # Ruby's INTERMITTENT_ERRORS: log, give the lock up, go on.
            log.error("Redis: %s", exc)
            self._release_quietly()
            return min(self.settings.interval_s, 1.0)
        except redis_py.RedisError as exc:
            # Another Redis error (a server LOADING after a restart, a read-only
            # replica after a failover...): log it and try again; Ruby would exit.
            log.error("Redis: %s", exc)
            return min(self.settings.interval_s, 1.0)
        return self._sleep_s(time.time() if now_s is None else now_s)

    def _move_due(self, now_s: float | None) -> None:
        titled = False

        def title() -> None:
            nonlocal titled
            titled = True
            self.procline("Processing Delayed Items")  # only when something is due, as Ruby

        try:
            self.mover.move_due(now_s, on_start=title)
        finally:
            if titled:
                self._restore_title()

    def stop(self) -> None:
        self._stopping = True

    def _sleep(self, watcher: QueueWatcher, wait_s: float) -> None:
        """Sleep until the next pass is due. A write to the schedule (every
        ``enqueue_in`` anywhere) only makes a master look at the earliest
        timestamp again, one ``ZRANGE``, not run a whole pass."""
        deadline = time.monotonic() + wait_s
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not watcher.wait(remaining) or not self.master:
                return  # due, a signal, or (for a child) the lock may have changed
            try:
                nxt = self.mover.next_timestamp()
            except redis_py.RedisError:
                return
            if nxt is not None and nxt <= time.time():
                return
            if nxt is not None:
                deadline = min(deadline, time.monotonic() + (nxt - time.time()))

    def _sleep_s(self, now_s: float) -> float:
        wait = self.settings.interval_s
        if self.master:
            nxt = self.mover.next_timestamp()
            if nxt is not None:
                wait = min(wait, nxt - now_s)
            if self._next:
                wait = min(wait, min(self._next.values()) - now_s)
            if self.mover.deferred:
                wait = min(wait, DEFERRED_RETRY_S)  # a bucket left by this pass is tried again soon
        return max(0.0, wait)

    # Recurring jobs -----------------------------------------------------------
    def reload_schedule(self) -> None:
        """Ruby's ``reload_schedule!``, titles included: the schedule from scratch,
        every next tick forgotten (the caller plans them again)."""
        self.procline("Reloading Schedule")
        self.procline("Loading Schedule")
        self.load_schedule()
        self._next.clear()
        self.procline("Schedules Loaded")
        self._restore_title()

    def load_schedule(self) -> None:
        """(Re)build the entries: static ones, then the persistent ones in Redis."""
        entries = {e.name: e for e in self.static if e.runs_in(self.settings.env)}
        for e in self.static:
            if not e.runs_in(self.settings.env):
                log.info("Skipping schedule of %s because configured env %r does not match current env %r",
                         e.name, ",".join(e.envs), self.settings.env)
        found, problems = sched.parse_schedule(sched.persistent_schedules(self.redis, self.layout))
        for p in problems:
            log.error("%s - skipping" if p.fatal else "%s", p)
        entries.update({e.name: e for e in found if e.runs_in(self.settings.env)})
        if self.settings.dynamic and self.master:
            self.redis.delete(self.layout.schedules_changed)  # all of them are loaded now
        self.entries = entries
        self._next = {k: v for k, v in self._next.items() if k in entries}
        if not entries:
            log.info("Schedule empty! Set Resque.schedule")

    def update_schedule(self, now_s: float | None = None) -> None:
        """Pick up dynamic schedules changed in Redis (Ruby's ``update_schedule``)."""
        changed = set()
        while True:
            name = self.redis.spop(self.layout.schedules_changed)
            if name is None:
                break
            changed.add(name.decode() if isinstance(name, bytes) else name)
        if not changed:
            return
        self.procline("Updating schedule")
        log.info("changed: %s", ", ".join(sorted(changed)))
        self.load_schedule()
        for name in changed:
            self._next.pop(name, None)
        self._plan_ticks(time.time() if now_s is None else now_s, becoming_master=False)
        self.procline("Schedules Loaded")
        self._restore_title()

    def _plan_ticks(self, now_s: float, becoming_master: bool) -> None:
        """Work out each entry's next tick from the last one anybody, Ruby
        included, enqueued. Only a new master looks back at the ticks that
        fell due while no scheduler was master: after a reload or a schedule
        change the master was there all along, and a changed schedule's
        old record says nothing about its new times."""
        last_ticks = runs.last_ticks(self.redis.hgetall(self.layout.schedule_ticks),
                                      self.redis.hgetall(self.layout.last_enqueued_at))
        # A tick this recent is not missed: the pass that follows runs it.
        recent = now_s - max(self.settings.interval_s, 1.0) - 1
        for name, entry in self.entries.items():
            if name in self._next:
                continue
            last = last_ticks.get(name)
            if last is None:
                self._next[name] = entry.next_after(now_s, self.started_s, None)
                continue
            if becoming_master:
                self._catch_up(entry, last, recent)
            self._next[name] = entry.next_after(max(last, recent), self.started_s, last)

    def _catch_up(self, entry: sched.Entry, last_s: float, until_s: float) -> None:
        """Log the ticks of ``entry`` missed after ``last_s``, or enqueue each
        once (the first :data:`CATCH_UP_LIMIT`), as ``catch_up`` says."""
        missed = runs.missed_ticks(entry, last_s, until_s, self.started_s, CATCH_UP_LIMIT)
        if not missed.count or missed.first_s is None or missed.last_s is None:
            return
        about = "" if missed.exact else "at least "  # a cron line counted up to its limit
        what = (f"{entry.name} missed {about}{missed.count} tick(s) from {runs.ruby_time(missed.first_s)} "
                f"to {runs.ruby_time(missed.last_s)} while no scheduler was master")
        if not self.settings.catch_up:
            log.warning("%s (not run; set PYRESQUE_SCHEDULE_CATCH_UP=1 to run them)", what)
            return
        dropped = missed.count - len(missed.ticks)
        beyond = f"; {about}{dropped} after the first {CATCH_UP_LIMIT} are dropped" if dropped else ""
        log.warning("%s: enqueuing %d now%s", what, len(missed.ticks), beyond)
        for tick in missed.ticks:
            self._fire_entry(entry, int(tick))

    def fire_recurring(self, now_s: float) -> None:
        """Enqueue every entry whose tick has come, once per tick."""
        for name, due in sorted(self._next.items(), key=lambda kv: kv[1]):
            if due > now_s:
                continue
            entry = self.entries[name]
            self._fire_entry(entry, int(due))
            self._next[name] = entry.next_after(max(now_s, due), self.started_s, due)

    def _fire_entry(self, entry: sched.Entry, tick: int) -> None:
        queue, name = runs.resolve_job(entry, self.resque.registry)
        if not queue:
            log.error("schedule %r: %s has no queue: give the entry a queue or register the class with one - skipping",
                      entry.name, entry.class_name)
            return
        payload = codec.encode_job(name, entry.args)
        result = int(self._fire(
            keys=[self.layout.schedule_ticks, self.lock.key, self.layout.queues, self.layout.queue(queue),
                  self.layout.last_enqueued_at],
            # The tick's own time, as Ruby's enqueue writes it (within the same
            # second): so this record and ours name the same run, and only a
            # later run by Ruby makes last_enqueued_at the later of the two.
            args=[entry.name, tick, self.lock.value, queue, payload, runs.ruby_time(tick)]))
        if result == -2:
            raise LostLock(f"the master lock {self.lock.key} is no longer {self.lock.value}")
        if result == 1:
            log.info("queueing %s (%s)", entry.class_name, entry.name)

    # Signals, title ----------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        def stop(signum: int, frame: Any) -> None:
            log.info("Got %s signal", signal.Signals(signum).name[3:])
            self._stopping = True

        def request(flag: str) -> Callable[[int, Any], None]:
            def handler(signum: int, frame: Any) -> None:
                setattr(self, flag, True)
            return handler

        handlers = {signal.SIGINT: stop, signal.SIGTERM: stop, signal.SIGQUIT: stop,
                    signal.SIGUSR1: request("_print_requested"), signal.SIGUSR2: request("_reload_requested")}
        return {s: signal.signal(s, h) for s, h in handlers.items()}

    def _handle_requests(self, now_s: float | None = None) -> None:
        if self._print_requested:
            self._print_requested = False
            log.info("Got USR1 signal")
            log.info("Scheduling Info\tNext Run")
            for name, entry in sorted(self.entries.items()):
                nxt = self._next.get(name)
                log.info("%s %s\t%s", name, entry.describe(), time.ctime(nxt) if nxt else "-")
        if self._reload_requested:
            self._reload_requested = False
            log.info("Got USR2 signal")
            self.reload_schedule()
            if self.master:
                self._plan_ticks(time.time() if now_s is None else now_s, becoming_master=False)

    def procline(self, text: str) -> None:
        """Log ``text`` and make it the process title, as Ruby's ``procline``:
        ``resque-scheduler-5.0.1[app][env]: text``."""
        log.info(text)
        self._set_title(text)

    def _restore_title(self) -> None:
        """Back to the role once a step is done. Ruby leaves the last step's
        title up ("Schedules Loaded", "Processing Delayed Items"), so ``ps``
        stops telling master from child; pyresque shows the role again."""
        if self.master is not None:
            self._set_title(self._role())

    def _role(self) -> str:
        return "Master scheduler" if self.master else "Child scheduler"

    def _set_title(self, text: str) -> None:
        app = f"[{self.settings.app_name}]" if self.settings.app_name else ""
        env = f"[{self.settings.env}]" if self.settings.env else ""
        if _setproctitle is not None:
            _setproctitle(f"resque-scheduler-{RESQUE_SCHEDULER_VERSION}{app}{env}: {text}")

    def _release_quietly(self) -> None:
        try:
            self.lock.release()
        except redis_py.RedisError:
            pass
        self.master = False
