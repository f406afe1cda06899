"""``pyresque work --count N``: N worker processes under one supervisor.

The supervisor is the process to signal (as Ruby's ``COUNT``): it forwards
every worker signal to its children. A child that dies on its own (killed,
crashed, OOM) is unregistered at once, its job recorded as a
``Resque::DirtyExit`` failure (no ghost entry is left in ``workers``), and
started again, after a delay that doubles while it keeps dying soon after
starting. A child that keeps dying makes the supervisor give up: it stops
the others and exits 1 with one line. A child that exits 0 by itself (a
drain, ``-i 0``) is done, and one that exits 2 was started with bad
settings: neither is started again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("pyresque.supervisor")

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
QUICK_DEATH_S = 10.0     # a child that dies sooner than this after starting "keeps dying"
GIVE_UP_AFTER = 5        # quick deaths in a row
FIRST_DELAY_S = 0.5      # then doubled for each quick death in a row
MAX_DELAY_S = 30.0


@dataclass
class Slot:
    proc: subprocess.Popen
    started: float
    quick_deaths: int = 0
    restart_at: float | None = None
    done: bool = False
    codes: list[int] = field(default_factory=list)


class Supervisor:
    """Runs ``count`` copies of ``argv`` and keeps them running (see module doc).

    ``forget(pid)`` unregisters a dead child's worker (and records its job);
    the caller supplies it, so this module never talks to Redis itself.
    """

    def __init__(self, argv: list[str], env: dict[str, str], count: int, forget: Callable[[int], None]) -> None:
        self.argv = argv
        self.env = env
        self.count = count
        self.forget = forget
        self.stopping = False
        self.slots: list[Slot] = []

    def run(self) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        self.slots = [Slot(self._spawn(), time.monotonic()) for _ in range(self.count)]
        log.info("supervisor %d started %d workers: %s", os.getpid(), self.count,
                 ", ".join(str(s.proc.pid) for s in self.slots))
        gave_up = False
        while not all(s.done for s in self.slots):
            time.sleep(0.2)  # polling children; signals interrupt it and are forwarded at once
            for slot in self.slots:
                if slot.done:
                    continue
                if slot.restart_at is not None:
                    if self.stopping:
                        slot.done = True
                    elif time.monotonic() >= slot.restart_at:
                        slot.proc, slot.started, slot.restart_at = self._spawn(), time.monotonic(), None
                        log.info("supervisor: started worker %d again", slot.proc.pid)
                    continue
                code = slot.proc.poll()
                if code is None:
                    continue
                if self._ended(slot, code):
                    gave_up = True
        return 1 if gave_up else max((c for s in self.slots for c in s.codes if c > 0), default=0)

    def _ended(self, slot: Slot, code: int) -> bool:
        """A child exited: decide what next. True when the supervisor gives up."""
        slot.codes.append(code)
        if self.stopping or code in (0, 2):
            slot.done = True
            return False
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
        self.forget(slot.proc.pid)
        quick = time.monotonic() - slot.started < QUICK_DEATH_S
        slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
        if slot.quick_deaths >= GIVE_UP_AFTER:
            log.error("supervisor: worker %d %s, the %dth time in a row within %.0f s of starting; giving up",
                      slot.proc.pid, how, slot.quick_deaths, QUICK_DEATH_S)
            self._stop_all()
            return True
        delay_s = min(FIRST_DELAY_S * 2 ** max(slot.quick_deaths - 1, 0), MAX_DELAY_S)
        slot.restart_at = time.monotonic() + delay_s
        log.warning("supervisor: worker %d %s; starting another in %.1f s", slot.proc.pid, how, delay_s)
        return False

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, env=self.env)

    def _forward(self, signum: int, frame: Any) -> None:
        if signum in STOPPING:
            self.stopping = True
        for slot in self.slots:
            if slot.proc.poll() is None:
                slot.proc.send_signal(signum)

    def _stop_all(self) -> None:
        self.stopping = True
        for slot in self.slots:
            if slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGQUIT)
        for slot in self.slots:
            try:
                slot.codes.append(slot.proc.wait(60))
            except subprocess.TimeoutExpired:
                slot.proc.kill()
            slot.done = True


def child_argv(argv: list[str]) -> list[str]:
    """The command line of one child: this one without --count, --pidfile, --background."""
    rest = _without_options(argv, {"--pidfile", "--count"})
    return [sys.executable, "-m", "pyresque"] + [a for a in rest if a != "--background"] + ["--count", "1"]


def child_env() -> dict[str, str]:
    env = dict(os.environ, COUNT="1")
    env.pop("PIDFILE", None)
    env.pop("BACKGROUND", None)
    return env


def _without_options(argv: list[str], options: set[str]) -> list[str]:
    """``argv`` minus ``--opt VALUE`` and ``--opt=VALUE`` for each of ``options``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif arg.split("=", 1)[0] not in options or "=" not in arg:
            out.append(arg)
    return out


def hostname() -> str:
    return socket.gethostname()
