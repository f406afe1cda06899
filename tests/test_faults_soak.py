"""The fault soak at CI's size (tests/soak.py; ``dev/faults`` runs it at full size).

Every job must end performed, as a failure record a user can retry, or
still queued: none lost, whatever was killed and whenever.
"""

from __future__ import annotations

import os

import pytest

import soak

SEED = int(os.environ.get("PYRESQUE_SOAK_SEED", "20261202"))


def check(figures: soak.Figures) -> None:
    print("\n" + soak.table([figures]))
    assert figures.lost == 0, f"lost {figures.lost} jobs, e.g. {figures.lost_ids} (seed {SEED})"
    assert figures.unretryable == 0, "every failure record names its job's class and args"
    assert figures.performed + figures.dirty_exits >= figures.jobs - figures.still_queued - figures.failed_on_purpose


def test_kill_soak(r, redis_server, tmp_path):
    figures = soak.kill_soak(r, redis_server, tmp_path, jobs=soak.SMALL["kill"][0], kills=soak.SMALL["kill"][1], seed=SEED)
    check(figures)
    assert figures.ran_twice == 0, "nothing re-runs a job a killed worker held: it becomes a failure record"


@pytest.fixture
def aof_server(tmp_path):
    from faultkit import RedisServer

    server = RedisServer(tmp_path / "redis", appendonly=True)
    (tmp_path / "redis").mkdir()
    server.start()
    yield server
    server.close()


def test_redis_restart_soak(aof_server, tmp_path):
    figures = soak.redis_restart_soak(aof_server, tmp_path, jobs=soak.SMALL["restart"][0], restarts=soak.SMALL["restart"][1], seed=SEED)
    check(figures)


def test_redis_hang_soak(aof_server, tmp_path):
    figures = soak.redis_hang_soak(aof_server, tmp_path, jobs=soak.SMALL["hang"][0], hangs=soak.SMALL["hang"][1], seed=SEED)
    check(figures)
    assert figures.max_stop_s is not None and figures.max_stop_s < 5, "QUIT is honoured while Redis hangs"


def test_an_in_process_worker_keeps_a_flat_rss(r, redis_server):
    memory = soak.memory_run(r, redis_server, jobs=soak.SMALL["memory"])
    print("\n" + memory.table())
    assert int(r.get("resque:stat:processed")) == soak.SMALL["memory"]
    # Allocator noise is a few hundred kB; a leak of even 20 bytes a job would be 200 kB per 10,000.
    assert memory.growth_kb_per_10k < 150, memory.table()


@pytest.fixture
def cluster():
    import shutil

    from conftest import IN_CI
    from faultkit import SentinelCluster, sentinel_binary

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


def test_sentinel_failover_soak(cluster, tmp_path):
    figures = soak.failover_soak(cluster, tmp_path, jobs=soak.SMALL["failover"][0],
                                 failovers=soak.SMALL["failover"][1], seed=SEED)
    check(figures)
