"""What runs inside a job's forked child (the parent side is :mod:`pyresque.forking`).

A child never talks to Redis on the worker's behalf. It reads its job from
a pipe (unless it was forked with the job in hand), runs it, and writes one
report per job back on another pipe, so a failure record is written exactly
once, by the parent, whatever happens to the child.

Frames on the pipes:

* a job: ``!II`` (the lengths of the queue name and of the payload), then
  both, as raw bytes; end-of-file means "no more jobs, exit";
* a report: one line of JSON, ``{"record": …, "counts_as_failed": …}``. A
  whole line means the job is over, so the worker goes on without waiting
  for the child's exit, which is slow on virtual machines (the kernel tears
  down the child's copy of the worker's address space).

A *spare* child, forked before its job exists, rehearses the way a job
runs while it waits (see :func:`_rehearse`), so the pages that path writes
are copied from its parent before the job arrives, not after.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from pyresque import failure as failure_mod
from pyresque import hooks as hook_runner
from pyresque import payload as codec
from pyresque.connection import name_bytes
from pyresque.errors import JobTimeout, TermException
from pyresque.execution import Outcome, perform
from pyresque.payload import Job, Payload
from pyresque.registry import Registry

if TYPE_CHECKING:
    from pyresque.execution import Context

_HEADER = struct.Struct("!II")
# In a frame's first length: the job is only to rehearse with (see _rehearse).
_REHEARSAL_FLAG = 1 << 31
# The largest payload worth rehearsing with: it must fit the pipe's buffer,
# so that writing it never waits for a spare that is still being forked.
REHEARSAL_MAX = 8 * 1024


def send_job(fd: int, job: Job, rehearsal: bool = False) -> None:
    """Write ``job`` to a child's job pipe (raises OSError if the child is gone).

    A ``rehearsal`` job is one like those to come (the worker's last), that
    a spare walks through without running it.
    """
    queue = name_bytes(job.queue)
    raw = job.raw.encode("utf-8", "surrogateescape")
    write_all(fd, _HEADER.pack(len(queue) | (_REHEARSAL_FLAG if rehearsal else 0), len(raw)) + queue + raw)


def main(job: Job | None, job_fd: int | None, report_fd: int, ctx: "Context", jobs: int = 1) -> NoReturn:  # pragma: no cover - child
    """The child's whole life: up to ``jobs`` jobs (the first may be given), then exit.

    A spare (``job`` None) waits for its jobs on ``job_fd``; a child forked
    with its job runs that one first, then takes more on ``job_fd`` if it
    has one (``--jobs-per-child``). ``after_fork`` hooks run once, before
    the child's first job, as Ruby runs them once after each fork.
    """
    code = 0
    try:
        _reset_signals(ctx.term_child)
        forked = True
        for _ in range(max(jobs, 1)):
            if job is None:
                job = _next_job(job_fd, ctx, rehearse=forked)
                if job is None:
                    break  # the worker has no (more) work for us
            # Otherwise the child inherited the parent's "Processing ..." title.
            outcome = _run(job, ctx, run_after_fork=forked)
            forked = False
            _write_report(report_fd, outcome)
            job = None
            if job_fd is None:
                break
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)


def _next_job(job_fd: int | None, ctx: "Context", rehearse: bool) -> Job | None:
    assert job_fd is not None
    ctx.procline("Ready for a job")
    if rehearse and not _readable(job_fd):
        _rehearse(ctx)  # nothing to go by yet: a made-up job
    while True:
        job, rehearsal = _read_job(job_fd)
        if not rehearsal:
            break
        if rehearse and job is not None and not _readable(job_fd):  # never while a job waits
            _rehearse(ctx, job)
    if job is not None:
        ctx.procline(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
    return job


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _read_job(fd: int) -> tuple[Job | None, bool]:
    frame = read_frame(fd)
    if frame is None:
        return None, False
    queue, raw, rehearsal = frame
    return Job(queue, codec.decode_job(raw), raw.decode("utf-8", "surrogateescape")), rehearsal


def _run(job: Job, ctx: "Context", run_after_fork: bool, registry: Registry | None = None) -> Outcome:
    try:
        if run_after_fork:
            hook_runner.run_all(ctx.registry.worker_hooks["after_fork"], job)
        return perform(job, registry or ctx.registry, ctx.worker_id, ctx.timeout_for(job), _term_means_timeout,
                       ctx.client)
    except BaseException as exc:  # noqa: BLE001 - an after_fork error fails the job
        return Outcome(failure_mod.record_for_job(job, exc, ctx.worker_id), True)


def _write_report(fd: int, outcome: Outcome) -> None:
    # The codec, not json: a payload may hold ints longer than Python's
    # default int<->str limit (4300 digits), which json refuses both ways.
    record = "null" if outcome.record is None else failure_mod.encode_record(outcome.record)
    report = '{"record":' + record + ',"counts_as_failed":' + ("true" if outcome.counts_as_failed else "false") + "}\n"
    write_all(fd, report.encode("utf-8", "replace"))


# The rehearsal's job: registered in a registry of its own, never in the
# worker's, so no payload can name it.
_REHEARSAL = Registry()
_REHEARSAL.register(lambda *args: None, name="pyresque.rehearsal", queue="rehearsal")
_NOTHING = Payload("")  # send_job sends a job's queue and raw bytes only
_REHEARSAL_RAW = b'{"class":"pyresque.rehearsal","args":["a",1,2.5,{"k":[true,null]}]}'


def _rehearse(ctx: "Context", like: Job | None = None) -> None:  # pragma: no cover - child process
    """Walk the path a job takes, with a no-op job, while waiting for the real one.

    Right after ``fork`` every page the child writes must first be copied
    from its parent; on a virtual machine each such fault costs tens of
    microseconds, and a job's first steps write hundreds of pages (the
    allocator's pools, the reference counts of the code they run). Running
    the same functions here, on a pipe of its own, before the job arrives,
    takes that cost off the job's pickup. ``like``, a job like those to
    come (the worker sends its last), makes the walk closer to the real one:
    its payload's shape, its class's entry in the worker's registry. Nothing
    of it is visible: no hooks, no Redis, the title it sets is the one shown.
    """
    job_read, job_write = os.pipe()
    report_read, report_write = os.pipe()
    try:
        raw = like.raw if like is not None else _REHEARSAL_RAW.decode()
        send_job(job_write, Job(like.queue if like is not None else "rehearsal", _NOTHING, raw))
        job, _ = _read_job(job_read)
        assert job is not None
        ctx.procline("Ready for a job")
        spec = ctx.registry.get(job.class_name) if isinstance(job.class_name, str) else None
        if spec is not None:
            ctx.timeout_for(job)
            (spec.perform, spec.hooks)  # noqa: B018 - touched, so their pages are ours
        job = Job(job.queue, Payload("pyresque.rehearsal", job.args), raw)
        _write_report(report_write, _run(job, ctx, run_after_fork=False, registry=_REHEARSAL))
        os.read(report_read, 65536)
    except Exception:  # noqa: BLE001 - a rehearsal must never cost a job
        pass
    finally:
        for fd in (job_read, job_write, report_read, report_write):
            os.close(fd)


def _reset_signals(term_child: bool) -> None:  # pragma: no cover - child process
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _raise_term if term_child else signal.SIG_DFL)


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


def load_prctl() -> None:
    """Look up prctl(2) once, in the parent, so a child only makes the call."""
    global _prctl
    if _prctl is None and sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
            prctl.restype = ctypes.c_int
            _prctl = prctl
        except (OSError, AttributeError):
            _prctl = False


def die_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """Have the kernel SIGKILL this process as soon as its parent ``parent`` dies.

    A worker killed with SIGKILL cannot stop its children, and the job it
    was running is recorded as a dirty exit by the next worker to prune it:
    a child that finished the job anyway would leave a failure record for a
    job that ran, and retrying it would run it twice. Linux only
    (``PR_SET_PDEATHSIG``; elsewhere a spare still exits when its job pipe
    closes). The death signal is tied to the *thread* that forked. A parent
    that died before the call took effect has already left us with another
    parent: then exit now.
    """
    if _prctl:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def read_frame(fd: int) -> tuple[str, bytes, bool] | None:
    """One job frame from ``fd``: (queue, payload bytes, rehearsal?); None at end-of-file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    queue_len, raw_len = _HEADER.unpack(header)
    rehearsal, queue_len = bool(queue_len & _REHEARSAL_FLAG), queue_len & ~_REHEARSAL_FLAG
    body = _read_exactly(fd, queue_len + raw_len)
    if body is None:
        return None
    return body[:queue_len].decode("utf-8", "surrogateescape"), body[queue_len:], rehearsal


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        data = os.read(fd, left)
        if not data:
            return None
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
