"""Helpers shared by tests/, compat-tests/ and bench/ (never imported by pyresque)."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition", step_s: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Tests wait on conditions, never on fixed sleeps; ``what`` names the
    condition in the failure message when ``timeout_s`` runs out.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(step_s)
