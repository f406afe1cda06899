"""Compat tests run against the real Ruby Resque; in CI they never skip."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis as redis_py

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rubyside import INSTALL_HINT, RESULTS_KEY, Ruby, ruby_problem  # noqa: E402


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def ruby_available() -> None:
    problem = ruby_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"Ruby Resque is required in CI: {problem}. {INSTALL_HINT}")
        pytest.skip(f"{problem}. {INSTALL_HINT}")


@pytest.fixture
def ruby(ruby_available: None, r: redis_py.Redis, redis_server: str) -> Ruby:
    """Ruby Resque on the test's Redis, default namespace."""
    return Ruby(redis_server)


@pytest.fixture
def ruby_results(r: redis_py.Redis):
    """A function returning what Ruby jobs recorded, oldest first."""

    def read() -> list[dict[str, Any]]:
        return [json.loads(x) for x in r.lrange(RESULTS_KEY, 0, -1)]

    return read


@pytest.fixture
def procs(r: redis_py.Redis, redis_server: str):
    """Python and Ruby worker processes a test starts (compat-tests/webside.py); all killed at teardown."""
    from webside import Procs

    p = Procs(redis_server)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def web(ruby_available: None, redis_server: str):
    """The real resque-web over HTTP on this session's Redis, default namespace."""
    from webside import ResqueWeb

    with ResqueWeb(redis_server).running() as server:
        yield server


@pytest.fixture(scope="session")
def node_available() -> None:
    from nodeside import INSTALL_HINT as NODE_HINT, node_problem

    problem = node_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"node-resque is required in CI: {problem}. {NODE_HINT}")
        pytest.skip(f"{problem}. {NODE_HINT}")


@pytest.fixture
def node(node_available: None, r: redis_py.Redis, redis_server: str):
    """The real node-resque on the test's Redis, namespace resque."""
    from nodeside import Node

    return Node(redis_server)


@pytest.fixture(scope="session")
def resque32_available(ruby_available: None) -> None:
    from resque32 import INSTALL_HINT as HINT_32, resque32_problem

    problem = resque32_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"Resque 3.2.0 is required in CI: {problem}. {HINT_32}")
        pytest.skip(f"{problem}. {HINT_32}")


@pytest.fixture
def ruby32(resque32_available: None, r: redis_py.Redis, redis_server: str) -> Ruby:
    """Resque 3.2.0's real code (from its unpacked gem) on the test's Redis, default namespace."""
    from resque32 import LIB

    return Ruby(redis_server, resque_lib=LIB)


@pytest.fixture(scope="module")
def web32(resque32_available: None, redis_server: str):
    """resque-web 3.2.0 over HTTP on this session's Redis, default namespace."""
    from resque32 import LIB
    from webside import ResqueWeb

    with ResqueWeb(redis_server, resque_lib=LIB).running() as server:
        yield server
