"""A fork server: one process, forked from the worker once, that forks each job's child.

Why not fork from the worker itself, as Ruby does? Every ``fork`` marks all
of the forking process's pages copy-on-write, so afterwards the first write
to each page faults and copies. A worker forks once per job, and its Redis
round trip, its bookkeeping and its logging write a few hundred pages a
job; on a virtual machine, where a fault costs tens of microseconds, that
was most of a job's cost. The fork server writes almost nothing between
forks, so the worker's pages stay its own: only the fork server pays for
forking, and it does so on another core while the worker works.

The job's child is the fork server's child, so the worker cannot ``waitpid``
it: it watches it with a pidfd and asks the server for its exit status. The
server reaps a child only when asked, so the pid the worker signals can
never be reused under it. The server dies with the worker
(``PR_SET_PDEATHSIG``), and the children with the server.

Messages on the socket pair (``SOCK_SEQPACKET``, one message each):
``F`` with file descriptors (fork a child that gets them), answered
``P<pid>``; ``W<pid>`` (that child has exited: reap it), answered
``S<pid>:<status>``.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import select
import signal
import socket
from typing import Any, Callable, NoReturn

from pyresque import jobchild

# The worker's stop, pause and kill signals: the server ignores them all; a
# job's child sets its own (see jobchild).
_WORKER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Gone(ChildProcessError):
    """The fork server has died (killed, say): its children die with it."""


def available() -> bool:
    """Whether this platform has what a fork server needs (Linux's pidfd, fd passing)."""
    return hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def settle() -> None:
    """Make the worker's memory fit for sharing with the fork server and its children.

    Collect once, then freeze what is left (Python's advice for a process
    that forks): the worker's own collections then never write to the objects
    it shares with the fork server, which would copy their pages and leave
    the server holding the originals. And hand the freed heap back to the
    system, so the server does not start with it.
    """
    gc.collect()
    gc.freeze()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_malloc_trim()


class ForkServer:
    """The worker's handle on its fork server."""

    def __init__(self, child_main: Callable[[list[int]], NoReturn], title: Callable[[], None]) -> None:
        self._child_main = child_main
        self._title = title
        self._sock: socket.socket | None = None
        self._forked: collections.deque[int] = collections.deque()
        self.pid: int | None = None

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the server process, which never returns
            ours.close()
            self._serve(theirs, worker)
        theirs.close()
        self._sock, self.pid = ours, pid

    def fork(self, fds: list[int]) -> None:
        """Ask for a child that gets ``fds``; :meth:`forked` says its pid."""
        try:
            socket.send_fds(self._socket(), [b"F"], fds)
        except OSError as exc:
            raise Gone(f"the fork server (pid {self.pid}) has gone: {exc}") from None

    def forked(self) -> int:
        """The pid of the oldest child asked for and not yet claimed."""
        while not self._forked:
            self._receive()
        return self._forked.popleft()

    def reap(self, pid: int) -> int:
        """The wait status of ``pid``, a child of the server that has exited."""
        try:
            self._socket().send(b"W%d" % pid)
        except OSError as exc:
            raise Gone(f"the fork server (pid {self.pid}) has gone: {exc}") from None
        while True:
            status = self._receive()
            if status is not None and status[0] == pid:
                return status[1]

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the server (a dead one is only reaped); its remaining children die with it."""
        sock, self._sock = self._sock, None
        if sock is None or self.pid is None:
            return
        sock.close()  # the server reads end-of-file and exits
        pidfd = os.pidfd_open(self.pid)
        try:
            if not select.select([pidfd], [], [], timeout_s)[0]:
                os.kill(self.pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
        os.waitpid(self.pid, 0)

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise Gone("the fork server is closed")
        return self._sock

    def _receive(self) -> tuple[int, int] | None:
        try:
            reply = self._socket().recv(64)
        except OSError as exc:
            raise Gone(f"the fork server (pid {self.pid}) has gone: {exc}") from None
        if not reply:
            raise Gone(f"the fork server (pid {self.pid}) has gone")
        if reply[:1] == b"P":
            self._forked.append(int(reply[1:]))
            return None
        pid, _, status = reply[1:].partition(b":")
        return int(pid), int(status)

    # The server's side ---------------------------------------------------
    def _serve(self, sock: socket.socket, worker: int) -> NoReturn:  # pragma: no cover - server process
        code = 0
        try:
            jobchild.die_with_parent(worker)
            signal.set_wakeup_fd(-1)
            for sig in _WORKER_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            signal.signal(signal.SIGCONT, signal.SIG_DFL)
            # Nothing here is garbage worth collecting, and a collection
            # would write to every object, and so copy every page, it shares.
            gc.freeze()
            gc.disable()
            self._title()
            me = os.getpid()
            while True:
                message, fds, _, _ = socket.recv_fds(sock, 64, 4)
                if not message:
                    break  # the worker closed its end
                if message == b"F":
                    sock.send(b"P%d" % self._fork_child(sock, fds, me))
                elif message[:1] == b"W":
                    pid = int(message[1:])
                    sock.send(b"S%d:%d" % (pid, _reap(pid)))
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)

    def _fork_child(self, sock: socket.socket, fds: list[int], me: int) -> int:  # pragma: no cover - server process
        pid = os.fork()
        if pid == 0:
            sock.close()
            jobchild.die_with_parent(me)
            gc.enable()
            self._child_main(fds)
        for fd in fds:
            os.close(fd)
        return pid


def _reap(pid: int) -> int:  # pragma: no cover - server process
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0
