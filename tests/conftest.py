"""Fixtures the Python-only tests share (the Redis ones are in the root conftest.py)."""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from faultkit import SentinelCluster, sentinel_binary
from pyjobs_procs import Procs

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Real processes a test starts; each killed with its process group at teardown."""
    p = Procs()
    yield p
    p.kill_all()


@pytest.fixture
def cluster() -> Iterator[SentinelCluster]:
    """A primary, a replica and three Sentinels on loopback ports (tests/faultkit.py)."""
    if sentinel_binary() is None or shutil.which("redis-server") is None:
        message = "redis-sentinel not found: apt-get install redis-sentinel (and redis-server)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    c = SentinelCluster()
    try:
        yield c.start()
    finally:
        c.stop()
