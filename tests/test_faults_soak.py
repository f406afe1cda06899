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
    figures = soak.kill_soak(r, redis_server, tmp_path, jobs=1500, kills=40, seed=SEED)
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
    figures = soak.redis_restart_soak(aof_server, tmp_path, jobs=600, restarts=4, seed=SEED)
    check(figures)


def test_redis_hang_soak(aof_server, tmp_path):
    figures = soak.redis_hang_soak(aof_server, tmp_path, jobs=600, hangs=4, seed=SEED)
    check(figures)
    assert figures.max_stop_s is not None and figures.max_stop_s < 5, "QUIT is honoured while Redis hangs"
