"""Fork a child per job, as Resque does by default (see :mod:`pyresque.execution`).

This is the worker's side; what runs in the child is :mod:`pyresque.jobchild`.
A child reports each job's outcome to the worker through a pipe, so a
failure record is written exactly once, by the worker, whatever happens to
the child. A child dies with its worker (``PR_SET_PDEATHSIG``), so a job the
pruner records as a dirty exit is never also finished by an orphan.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import time
from dataclasses import dataclass
from typing import Any

from pyresque import forkserver, jobchild
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque import timeouts
from pyresque.errors import JobTimeout
from pyresque.execution import SUCCESS, Context, Outcome, dirty_exit, recorded_by_parent
from pyresque.payload import Job

log = logging.getLogger("pyresque.execution")

# How many spare children a busy worker keeps on their way.
SPARES = 2
# After an idle spell, how long a job runs before the next spare is forked.
QUIET_START_S = 0.02
# The wait status of a process killed by SIGKILL: what becomes of the
# children of a fork server that died, whose statuses died with it.
_KILLED = signal.SIGKILL


@dataclass
class _Child:
    """A forked child: its pid, the pipe its reports come back on, the pipe
    its jobs go out on (None for a child forked with its job), and how many
    more jobs it takes. A child of the fork server has a pidfd, and no pid
    until the server says it (``pid`` None)."""

    pid: int | None
    report_fd: int
    job_fd: int | None = None
    jobs_left: int = 1
    pidfd: int | None = None
    served: bool = False
    status: int | None = None  # its wait status, once reaped


class Forking:
    """Fork a child per job, as Resque does by default.

    Every job still gets a fresh child of its own, but the child is forked
    *ahead* of its job when possible: while the worker waits, and while the
    previous child works. A spare child waits on a pipe for its job, so a
    job starts without waiting for ``fork``. Spares come from a fork server
    (see :mod:`pyresque.forkserver`), so the worker itself never forks per
    job. Ruby runs ``before_fork(job)`` in the parent just before the fork,
    with the job, so a worker with ``before_fork`` hooks forks each child
    itself when the job arrives; so does ``prefork=False``.

    ``jobs_per_child`` > 1 lets one child run up to that many jobs in turn
    before it is replaced: faster, but a job then sees what earlier jobs
    left in its process (an opt-in trade-off, as Celery's
    ``max_tasks_per_child``).
    """

    forks = True

    def __init__(self, ctx: Context, prefork: bool = True, jobs_per_child: int = 1,
                 fork_server: bool = True) -> None:
        if jobs_per_child < 1:
            raise ValueError(f"jobs_per_child must be at least 1, not {jobs_per_child}")
        self.ctx = ctx
        self.prefork = prefork
        self.jobs_per_child = jobs_per_child
        self.child: int | None = None
        # Spares, oldest first: one while idle, SPARES while jobs come back to back.
        self._spares: collections.deque[_Child] = collections.deque()
        self._busy = False  # no idle moment since the last job
        self._last: Job | None = None  # what a new spare rehearses with
        self._top_up: tuple[int, float] | None = None  # spares to have, and from when
        self._exiting: list[_Child] = []  # reported their last job; not reaped yet
        # Children asked of the fork server whose pids it has not said yet, oldest first.
        self._unclaimed: collections.deque[_Child] = collections.deque()
        self._use_server = fork_server and forkserver.available()
        self._server: forkserver.ForkServer | None = None
        self._kill_requested = False
        self._put_back = False  # this job's child was killed by --requeue-on-term
        jobchild.load_prctl()  # here, once, so a child only makes the call

    def _may_prefork(self) -> bool:
        return self.prefork and not self.ctx.registry.worker_hooks["before_fork"]

    def prepare(self) -> None:
        self._busy = False
        self._reap_exited(block=False)
        while len(self._spares) > 1:  # idle: one spare is enough
            self._retire(self._spares.pop())
        if not self._spares and self._may_prefork():
            self._spares.append(self._new_spare())

    def close(self) -> None:
        while self._spares:
            self._retire(self._spares.pop())
        for child in self._exiting:
            if not self._exited(child, 2.0):
                _signal(self._pid(child), signal.SIGKILL)
        self._reap_exited(block=True)
        if self._server is not None:
            self._server.close()
            self._server = None

    def run(self, job: Job) -> Outcome:
        self._last = job
        child = self._hand_to_spare(job)
        if child is None:
            hook_runner.run_all(self.ctx.registry.worker_hooks["before_fork"], job)
            child = self._fork(job)
            self._announce(child)
        pid = self._pid(child)
        child.jobs_left -= 1
        # The clock starts at the hand-over; the child's own alarm starts a
        # little later, when the job itself starts.
        deadline = timeouts.Deadline(pid, self.ctx.timeout_for(job), self.ctx.term_timeout_s)
        if child.jobs_left == 0 and self._may_prefork():
            # The next child is forked while this one works. Forking and a
            # fresh child's first steps take longer than a short job, so
            # while jobs come back to back, more than one is on its way.
            # After an idle spell, not in the job's first moments: the fork
            # would compete with the child for the CPU just as it starts.
            self._top_up = (SPARES if self._busy else 1, time.monotonic() + (0 if self._busy else QUIET_START_S))
        self._busy = True
        self._put_back = False
        try:
            report, status = self._wait(child, deadline)
        finally:
            self.child = None
            self._kill_requested = False
            self._top_up_spares(at_once=True)
        self._reap_exited(block=False)  # the children before this one, off the pickup path
        if report is not None and child.jobs_left > 0:
            self._spares.appendleft(child)  # it waits for its next job
        elif report is not None:
            _close(child.job_fd)
            _close(child.report_fd)
            self._exiting.append(child)
        else:
            _close(child.job_fd)
            _close(child.report_fd)
        return self._outcome(job, pid, report, status, deadline)

    # Children --------------------------------------------------------------
    def _top_up_spares(self, at_once: bool = False) -> float | None:
        """Fork the spares :meth:`run` asked for, once due; seconds until due, else None."""
        if self._top_up is None:
            return None
        count, due = self._top_up
        wait_s = due - time.monotonic()
        if wait_s > 0 and not at_once:
            return wait_s
        self._top_up = None
        while len(self._spares) < count:
            self._spares.append(self._new_spare())
        return None

    def _new_spare(self) -> _Child:
        if not self._use_server:
            return self._fork(None)
        if self._server is None:
            forkserver.settle()
            self._server = forkserver.ForkServer(self._served_child_main, self._server_title)
            self._server.start()
        job_read, job_write = os.pipe()
        report_read, report_write = os.pipe()
        try:
            self._server.fork([job_read, report_write])
        except forkserver.Gone:
            self._lose_server()
            os.close(job_write)
            os.close(report_read)
            return self._fork(None)  # this once, from the worker itself
        finally:
            os.close(job_read)
            os.close(report_write)
        self._brief(job_write)
        child = _Child(None, report_read, job_write, self.jobs_per_child, served=True)
        self._unclaimed.append(child)
        return child

    def _brief(self, job_fd: int) -> None:
        """Give a new spare the last job to rehearse with (see jobchild)."""
        last = self._last
        if last is not None and len(last.raw) + len(last.queue) < jobchild.REHEARSAL_MAX:
            jobchild.send_job(job_fd, last, rehearsal=True)

    def _served_child_main(self, fds: list[int]) -> Any:  # pragma: no cover - runs in the child
        jobchild.main(None, fds[0], fds[1], self.ctx, self.jobs_per_child)

    def _server_title(self) -> None:  # pragma: no cover - runs in the fork server
        self.ctx.procline(f"Fork server of {self.ctx.worker_id}")

    def _fork(self, job: Job | None) -> _Child:
        """Fork a child of the worker itself: with ``job``, or as a spare.

        It gets a pipe for jobs unless it is forked for its one and only job.
        """
        report_read, report_write = os.pipe()
        jobs = self.jobs_per_child
        job_read, job_write = os.pipe() if job is None or jobs > 1 else (None, None)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            jobchild.die_with_parent(parent)
            os.close(report_read)
            if job_write is not None:
                os.close(job_write)
            jobchild.main(job, job_read, report_write, self.ctx, jobs)
        os.close(report_write)
        if job_read is not None:
            os.close(job_read)
        if job is None and job_write is not None:
            self._brief(job_write)
        return _Child(pid, report_read, job_write, jobs)

    def _pid(self, child: _Child) -> int:
        """``child``'s pid (asking the fork server if need be); 0 if it never was.

        The server answers fork requests in the order they were made, so
        the pids are claimed in that order too, for every child asked for
        before this one: a spare let go before it was ever used must not
        take the pid of an older one.
        """
        while child.pid is None and child.status is None:
            claimed = self._unclaimed.popleft()
            try:
                if self._server is None:
                    raise forkserver.Gone("no fork server")
                claimed.pid = self._server.forked()
                claimed.pidfd = os.pidfd_open(claimed.pid)
            except (forkserver.Gone, ProcessLookupError):
                self._lose_server()
                claimed.status = _KILLED
        return child.pid or 0

    def _lose_server(self) -> None:
        """The fork server died: reap it; the next spare starts a new one."""
        server, self._server = self._server, None
        if server is not None:
            log.warning("the fork server (pid %s) of %s died; starting another", server.pid, self.ctx.worker_id)
            server.close(timeout_s=0.0)
        for child in self._unclaimed:
            child.status = _KILLED  # asked for, never known: it died with the server
        self._unclaimed.clear()

    def _retire(self, spare: _Child) -> None:
        """Let ``spare`` go: it reads end-of-file, exits, and is reaped later."""
        _close(spare.job_fd)
        _close(spare.report_fd)
        spare.job_fd = None
        self._exiting.append(spare)

    def _announce(self, child: _Child) -> None:
        self.child = self._pid(child)
        self.ctx.procline(f"Forked {self.child} at {int(time.time())}")

    def _hand_to_spare(self, job: Job) -> _Child | None:
        """Give ``job`` to the oldest spare child; None if there is none alive.

        The title is set first: writing the job wakes the child, which the
        kernel may queue behind this process, so nothing should come between
        the hand-over and this process's wait.
        """
        while self._spares:
            spare = self._spares.popleft()
            assert spare.job_fd is not None
            try:
                if not self._pid(spare):
                    raise ProcessLookupError("the spare died with the fork server")
                self._announce(spare)
                jobchild.send_job(spare.job_fd, job)
            except OSError:  # the spare died (a signal to its process group, say)
                _close(spare.job_fd)
                _close(spare.report_fd)
                self._reap(spare)
                continue
            break
        else:
            return None
        if spare.jobs_left == 1:
            os.close(spare.job_fd)  # its last job: it will read no more
            spare.job_fd = None
        return spare

    def _exited(self, child: _Child, timeout_s: float) -> bool:
        """True once ``child`` has exited (not reaped), within ``timeout_s``."""
        pid = self._pid(child)
        if child.status is not None:
            return True
        if child.pidfd is not None:
            return bool(select.select([child.pidfd], [], [], timeout_s)[0])
        return _wait_exit(pid, timeout_s)

    def _reap(self, child: _Child) -> int:
        """Wait for ``child`` to end (unless it was reaped already) and return its wait status."""
        if child.status is not None:
            return child.status
        pid = self._pid(child)
        try:
            if child.served:
                select.select([child.pidfd], [], [])
                try:
                    if self._server is None:
                        raise forkserver.Gone("no fork server")
                    child.status = self._server.reap(pid)
                except forkserver.Gone:
                    self._lose_server()
                    child.status = _KILLED
            else:
                try:
                    child.status = os.waitpid(pid, 0)[1]
                except ChildProcessError:
                    child.status = 0
        finally:
            if child.pidfd is not None:
                os.close(child.pidfd)
                child.pidfd = None
        return child.status

    def _reap_exited(self, block: bool) -> None:
        """Reap the children that reported their last job (all of them if ``block``)."""
        still = []
        for child in self._exiting:
            if block or child.status is not None or self._exited(child, 0.0):
                self._reap(child)
            else:
                still.append(child)
        self._exiting = still

    def _poll(self, child: _Child) -> int | None:
        """The wait status of ``child`` if it has exited (reaping it), else None."""
        if child.status is not None or child.served:
            return self._reap(child) if child.status is not None or self._exited(child, 0.0) else None
        assert child.pid is not None
        waited, status = os.waitpid(child.pid, os.WNOHANG)
        if waited == child.pid:
            child.status = status
        return child.status

    def _outcome(self, job: Job, pid: int, report: dict[str, Any] | None, status: int,
                 deadline: timeouts.Deadline) -> Outcome:
        if report is not None:
            return Outcome(report.get("record"), bool(report.get("counts_as_failed")))
        if self._put_back:
            log.warning("%s did not end within %gs of TERM: put back at the head of %s",
                        job.class_name, self.ctx.term_timeout_s, job.queue)
            return Outcome(requeue="head")
        if deadline.expired:
            # The job ran past its timeout and its child had to be stopped:
            # a JobTimeout, counted as failed as if the job had raised it.
            assert deadline.timeout_s is not None
            exc = JobTimeout(deadline.timeout_s, f"the worker stopped its child pid {pid} ({_ended(status)})")
            return recorded_by_parent(job, self.ctx.worker_id, exc, self.ctx.registry, counts_as_failed=True)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = _signal_name(sig)
            return dirty_exit(job, self.ctx.worker_id, f"Child process received unhandled signal pid {pid} {name} (signal {sig})",
                              self.ctx.registry)
        # Exited without a report and without a signal (the job called
        # os._exit, say). Ruby fails a job only when its child was killed by
        # a signal ($?.signaled?) and counts exit!(n) as processed; so do we.
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        log.warning("child %s of %s exited %s without reporting; counted as processed, as Ruby does",
                    pid, job.class_name, code)
        return SUCCESS

    def kill(self) -> None:
        # Called from a signal handler: only note it; the wait loop acts.
        if self.child is not None:
            self._kill_requested = True

    def _wait(self, child: _Child, deadline: timeouts.Deadline) -> tuple[dict[str, Any] | None, int]:
        """Wait for ``child``'s report on its job, or its end: (report, wait status).

        A whole report ends the wait: the child's exit is reaped later. A
        child that ends without one is reaped here and its status returned.
        """
        pid = self._pid(child)
        pidfd = child.pidfd if child.served else _pidfd(pid)
        signal_fds = [self.ctx.signal_fd] if self.ctx.signal_fd is not None else []
        received = b""
        open_pipe = True
        stop_at: float | None = None  # --requeue-on-term: when the grace ends
        try:
            while True:
                if self._kill_requested:
                    self._kill_requested = False
                    if self.ctx.requeue_on_term:
                        stop_at = stop_at or time.monotonic() + self.ctx.term_timeout_s
                    else:
                        self._stop_child(child)
                if stop_at is not None and time.monotonic() >= stop_at and not self._put_back:
                    self._put_back = True
                    _signal(pid, signal.SIGKILL)
                deadline.poll()
                spares_in = self._top_up_spares()
                status = self._poll(child)
                if status is not None:
                    rest = b"".join(_read_rest(child.report_fd)) if open_pipe else b""
                    return _parse_report(received + rest), status
                wait_s = 0.05 if pidfd is None else 1.0
                if stop_at is not None:
                    wait_s = min(wait_s, max(stop_at - time.monotonic(), 0.0))
                due_s = min((t for t in (deadline.due_in(), spares_in) if t is not None), default=None)
                watched = ([child.report_fd] if open_pipe else []) + ([pidfd] if pidfd is not None else []) + signal_fds
                ready, _, _ = select.select(watched, [], [], wait_s if due_s is None else min(wait_s, due_s))
                if signal_fds and signal_fds[0] in ready:
                    # Drain the wake-up pipe, or select returns at once forever.
                    _drain(signal_fds[0])
                    if self.ctx.on_signal is not None:
                        self.ctx.on_signal()
                if child.report_fd in ready:
                    data = os.read(child.report_fd, 65536)
                    open_pipe = bool(data)
                    received += data
                    report = _parse_report(received) if received.endswith(b"\n") else None
                    if report is not None:
                        return report, 0
        finally:
            if pidfd is not None and not child.served:
                os.close(pidfd)

    def _stop_child(self, child: _Child) -> None:
        """Resque's kill_child (SIGKILL now) or, with TERM_CHILD, new_kill_child."""
        pid = self._pid(child)
        if not self.ctx.term_child:
            _signal(pid, signal.SIGKILL)
            return
        if self.ctx.pre_shutdown_timeout_s > 0 and self._exited(child, self.ctx.pre_shutdown_timeout_s):
            return
        _signal(pid, signal.SIGTERM)
        if not self._exited(child, self.ctx.term_timeout_s):
            _signal(pid, signal.SIGKILL)


def _signal_name(sig: int) -> str:
    return signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return _signal_name(os.WTERMSIG(status))
    return f"exit status {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"


def _parse_report(data: bytes) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        report = codec.decode(data)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _read_rest(fd: int) -> list[bytes]:
    # The child has exited; whatever it wrote is already in the pipe. Never
    # block here: a grandchild it left behind may hold the write end open.
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return chunks
        if not data:
            return chunks
        chunks.append(data)


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, OSError):
        pass


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:
        return None


def _signal(pid: int, sig: int) -> None:
    if pid <= 0:
        return  # never a process group, never every process
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """True once ``pid`` has exited (not reaped), within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            waited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if waited is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
