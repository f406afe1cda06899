"""Fork a child per job, as Resque does by default (see :mod:`pyresque.execution`).

A child never talks to Redis on the worker's behalf: it reports its outcome
to the parent through a pipe, so a failure record is written exactly once,
by the parent, whatever happens to the child. A child dies with its worker
(see :func:`_die_with_parent`), so a job the pruner records as a dirty exit
is never also finished by an orphan.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque import timeouts
from pyresque.errors import JobTimeout, TermException
from pyresque.execution import SUCCESS, Context, Outcome, dirty_exit, perform, recorded_by_parent
from pyresque.payload import Job

log = logging.getLogger("pyresque.execution")


@dataclass
class _Child:
    """A forked child: its pid, the pipe its report comes back on, and (for a
    spare that has no job yet) the pipe its job goes out on."""

    pid: int
    report_fd: int
    job_fd: int | None = None


class Forking:
    """Fork a child per job, as Resque does by default.

    Every job still gets a fresh child of its own, but the child is forked
    *ahead* of its job when possible: while the worker waits, and while the
    previous child works. A spare child waits on a pipe for its job, so a
    job starts without waiting for ``fork`` (about a millisecond, more for a
    big worker). Ruby runs ``before_fork(job)`` in the parent just before the
    fork, with the job, so a worker with ``before_fork`` hooks forks when the
    job arrives instead; so does ``prefork=False``.
    """

    forks = True

    def __init__(self, ctx: Context, prefork: bool = True) -> None:
        self.ctx = ctx
        self.prefork = prefork
        self.child: int | None = None
        self._spare: _Child | None = None
        self._kill_requested = False
        self._put_back = False  # this job's child was killed by --requeue-on-term
        _load_prctl()  # here, once, so a child only makes the call

    def _may_prefork(self) -> bool:
        return self.prefork and not self.ctx.registry.worker_hooks["before_fork"]

    def prepare(self) -> None:
        if self._spare is None and self._may_prefork():
            self._spare = self._fork(None)

    def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            _close(spare.job_fd)  # the spare reads end-of-file and exits
            _close(spare.report_fd)
            if not _wait_exit(spare.pid, 2.0):
                _signal(spare.pid, signal.SIGKILL)
            _reap(spare.pid)

    def run(self, job: Job) -> Outcome:
        child = self._hand_to_spare(job)
        if child is None:
            hook_runner.run_all(self.ctx.registry.worker_hooks["before_fork"], job)
            child = self._fork(job)
        pid = child.pid
        self.child = pid
        self.ctx.procline(f"Forked {pid} at {int(time.time())}")
        # The clock starts at the hand-over; the child's own alarm starts a
        # little later, when the job itself starts.
        deadline = timeouts.Deadline(pid, self.ctx.timeout_for(job), self.ctx.term_timeout_s)
        if self._may_prefork():
            self._spare = self._fork(None)  # forks while this child works
        self._put_back = False
        try:
            report, status = self._wait(pid, child.report_fd, deadline)
        finally:
            os.close(child.report_fd)
            self.child = None
            self._kill_requested = False
        return self._outcome(job, pid, report, status, deadline)

    def _fork(self, job: Job | None) -> _Child:
        report_read, report_write = os.pipe()
        job_read, job_write = os.pipe() if job is None else (None, None)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            _die_with_parent(parent)
            os.close(report_read)
            if job_write is not None:
                os.close(job_write)
            _child_main(job, job_read, report_write, self.ctx)
        os.close(report_write)
        if job_read is not None:
            os.close(job_read)
        return _Child(pid, report_read, job_write)

    def _hand_to_spare(self, job: Job) -> _Child | None:
        """Give ``job`` to the spare child; None if there is none or it died."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        assert spare.job_fd is not None
        try:
            _write_all(spare.job_fd, job.queue.encode() + b"\n" + job.raw.encode())
            os.close(spare.job_fd)
        except OSError:  # the spare died (a signal to its process group, say)
            _close(spare.job_fd)
            _close(spare.report_fd)
            _reap(spare.pid)
            return None
        return _Child(spare.pid, spare.report_fd)

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

    def _wait(self, pid: int, read_fd: int, deadline: timeouts.Deadline) -> tuple[dict[str, Any] | None, int]:
        chunks: list[bytes] = []
        pidfd = _pidfd(pid)
        fds = [read_fd] + ([pidfd] if pidfd is not None else []) + ([self.ctx.signal_fd] if self.ctx.signal_fd is not None else [])
        open_pipe = True
        stop_at: float | None = None  # --requeue-on-term: when the grace ends
        try:
            while True:
                if self._kill_requested:
                    self._kill_requested = False
                    if self.ctx.requeue_on_term:
                        stop_at = stop_at or time.monotonic() + self.ctx.term_timeout_s
                    else:
                        self._stop_child(pid)
                if stop_at is not None and time.monotonic() >= stop_at and not self._put_back:
                    self._put_back = True
                    _signal(pid, signal.SIGKILL)
                deadline.poll()
                waited, status = os.waitpid(pid, os.WNOHANG)
                if waited == pid:
                    break
                wait_s = 0.05 if pidfd is None else 1.0
                if stop_at is not None:
                    wait_s = min(wait_s, max(stop_at - time.monotonic(), 0.0))
                due_s = deadline.due_in()
                ready, _, _ = select.select([f for f in fds if f != read_fd or open_pipe], [], [],
                                            wait_s if due_s is None else min(wait_s, due_s))
                if self.ctx.signal_fd is not None and self.ctx.signal_fd in ready:
                    # Drain the wake-up pipe, or select returns at once forever.
                    _drain(self.ctx.signal_fd)
                    if self.ctx.on_signal is not None:
                        self.ctx.on_signal()
                if read_fd in ready:
                    data = os.read(read_fd, 65536)
                    if data:
                        chunks.append(data)
                    else:
                        open_pipe = False
            chunks.extend(_read_rest(read_fd) if open_pipe else [])
        finally:
            if pidfd is not None:
                os.close(pidfd)
        return _parse_report(b"".join(chunks)), status

    def _stop_child(self, pid: int) -> None:
        """Resque's kill_child (SIGKILL now) or, with TERM_CHILD, new_kill_child."""
        if not self.ctx.term_child:
            _signal(pid, signal.SIGKILL)
            return
        if self.ctx.pre_shutdown_timeout_s > 0 and _wait_exit(pid, self.ctx.pre_shutdown_timeout_s):
            return
        _signal(pid, signal.SIGTERM)
        if not _wait_exit(pid, self.ctx.term_timeout_s):
            _signal(pid, signal.SIGKILL)


def _child_main(job: Job | None, job_fd: int | None, write_fd: int, ctx: Context) -> None:  # pragma: no cover - child
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT):
            signal.signal(sig, signal.SIG_DFL)
        if ctx.term_child:
            signal.signal(signal.SIGTERM, _raise_term)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if job is None:
            # A spare: wait for the job (end-of-file means the worker is done with us).
            ctx.procline("Ready for a job")
            assert job_fd is not None
            data = _read_all(job_fd)
            if not data:
                os._exit(0)
            queue, _, raw = data.partition(b"\n")
            job = Job(queue.decode(), codec.decode_job(raw), raw.decode())
            ctx.procline(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
        # Otherwise the child inherited the parent's "Processing ..." title.
        try:
            hook_runner.run_all(ctx.registry.worker_hooks["after_fork"], job)
            outcome = perform(job, ctx.registry, ctx.worker_id, ctx.timeout_for(job), _term_means_timeout, ctx.client)
        except BaseException as exc:  # noqa: BLE001 - an after_fork error fails the job
            outcome = Outcome(failure_mod.record_for_job(job, exc, ctx.worker_id), True)
        # The codec, not json: a payload may hold ints longer than Python's
        # default int<->str limit (4300 digits), which json refuses both ways.
        record = "null" if outcome.record is None else failure_mod.encode_record(outcome.record)
        report = '{"record":' + record + ',"counts_as_failed":' + ("true" if outcome.counts_as_failed else "false") + "}"
        _write_all(write_fd, report.encode("utf-8", "replace"))
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)


def _raise_term(signum: int, frame: Any) -> None:  # pragma: no cover - child process
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # later TERMs are ignored, as in Ruby
    raise TermException("SIGTERM")


def _term_means_timeout(exc: JobTimeout) -> None:  # pragma: no cover - child process
    """Once a child's job is past its timeout, a SIGTERM (its worker's, see
    :class:`timeouts.Deadline`) raises :class:`JobTimeout` again, so a job
    that caught the first one still fails with the right record, backtrace
    and hooks. A SIGTERM handler the job installed itself is left alone."""
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, _raise_term):
        return

    def raise_timeout(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise JobTimeout(exc.timeout_s)

    signal.signal(signal.SIGTERM, raise_timeout)


# Linux's prctl(2) option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
_prctl: Any = None


def _load_prctl() -> None:
    global _prctl
    if _prctl is None and sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
            prctl.restype = ctypes.c_int
            _prctl = prctl
        except (OSError, AttributeError):
            _prctl = False


def _die_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """Have the kernel SIGKILL this child as soon as its worker ``parent`` dies.

    A worker killed with SIGKILL cannot stop its children, and the job it
    was running is recorded as a dirty exit by the next worker to prune it:
    a child that finished the job anyway would leave a failure record for a
    job that ran, and retrying it would run it twice. Linux only
    (``PR_SET_PDEATHSIG``; elsewhere a spare still exits when its job pipe
    closes). The death signal is tied to the *thread* that forked, which is
    the one running :meth:`Worker.work`. A worker that died before the call
    took effect has already left us with another parent: then exit now.
    """
    if _prctl:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


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


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
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
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """True once ``pid`` has exited (not reaped), within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            waited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if waited is not None:
            return True
        time.sleep(0.01)
    return False
