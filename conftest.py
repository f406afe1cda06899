"""Fixtures shared by tests/ and compat-tests/: a private, real redis-server.

One ``redis-server`` per test session on a free port, no persistence, its
database flushed before every test. Nothing here is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import redis as redis_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from pyresque import Resque  # noqa: E402
from pyresque.registry import Registry  # noqa: E402
from testsupport import free_port, wait_until  # noqa: E402,F401

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of the Redis this test session owns; every test flushes it.

    By default a private ``redis-server`` on a free port. Elsewhere:
    ``PYRESQUE_TEST_REDIS_URL`` names a Redis to use instead (a throwaway
    one: the tests FLUSHALL it), and without redis-server the ``containers``
    extra (testcontainers) starts one in Docker.
    """
    external = os.environ.get("PYRESQUE_TEST_REDIS_URL")
    if external:
        yield external
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield from _redis_in_a_container()
        return
    yield from _private_redis_server(binary)


def _private_redis_server(binary: str) -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="pyresque-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_py.Redis.from_url(url)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis_py.ConnectionError:
            return False

    try:
        wait_until(ready, 10, "redis-server to accept connections")
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _redis_in_a_container() -> Iterator[str]:
    message = ("redis-server not found: install it (`apt-get install redis-server`), set "
               "PYRESQUE_TEST_REDIS_URL to a throwaway Redis, or install the containers extra "
               "(`pip install pyresque[containers]`) on a machine with Docker")
    try:
        from testcontainers.redis import RedisContainer
    except ImportError:
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with RedisContainer("redis:7") as container:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"


@pytest.fixture
def r(redis_server: str) -> Iterator[redis_py.Redis]:
    """A raw redis-py client on an empty database."""
    client = redis_py.Redis.from_url(redis_server)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def registry() -> Registry:
    """A fresh job registry, so tests never see each other's jobs."""
    return Registry()


@pytest.fixture
def resque(r: redis_py.Redis, redis_server: str, registry: Registry) -> Resque:
    return Resque(redis_server, registry=registry)
