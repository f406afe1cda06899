"""Every Redis client pyresque makes gives up on a hung Redis instead of blocking forever.

Defaults: 5 s to connect, 10 s for any reply, a PING before reusing a
connection idle for 30 s, TCP keepalive. Overridden by a URL's query
(redis-py's names), by ``RedisTimeouts`` in Python, and by
``--redis-timeout``/``--redis-connect-timeout`` or ``PYRESQUE_REDIS_TIMEOUT``/
``PYRESQUE_REDIS_CONNECT_TIMEOUT`` on the command line.
"""

from __future__ import annotations

import math
import subprocess
import time

import pytest
import redis as redis_py

from faultkit import RedisServer, UnacceptingServer
from pyjobs_procs import env_for, pyresque_cmd
from pyresque import ConnectionFailed, Resque
from pyresque.connection import RedisTimeouts

DEFAULTS = {"socket_timeout": 10.0, "socket_connect_timeout": 5.0, "health_check_interval": 30.0,
            "socket_keepalive": True}
TIMEOUT_OPTIONS = tuple(DEFAULTS)


def options(client: redis_py.Redis) -> dict:
    kwargs = client.connection_pool.connection_kwargs
    return {k: kwargs[k] for k in TIMEOUT_OPTIONS if k in kwargs}


def cli(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    environment = env_for("redis://127.0.0.1:1/0", **env)
    for name in ("PYRESQUE_REDIS_TIMEOUT", "PYRESQUE_REDIS_CONNECT_TIMEOUT"):
        if name not in env:
            environment.pop(name, None)
    t0 = time.monotonic()
    result = subprocess.run(pyresque_cmd(*args), env=environment, capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - t0


@pytest.fixture
def hung(tmp_path):
    """A redis-server frozen with SIGSTOP: it accepts connections and never answers."""
    server = RedisServer(tmp_path)
    server.start().close()
    server.freeze()
    yield server
    server.close()


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# What every client gets -------------------------------------------------------
@pytest.mark.parametrize("target", ["redis://db.example:6379/0", "rediss://db.example/1", "db.example:6380:2/app",
                                    "redis+sentinel://s1:26379,s2/mymaster/0"])
def test_every_client_pyresque_makes_has_the_default_timeouts(target: str) -> None:
    assert options(Resque(target).redis) == DEFAULTS


def test_unix_sockets_get_the_timeouts_they_take() -> None:
    # redis-py's unix connections take no connect timeout and no keepalive.
    assert options(Resque("unix:///run/redis.sock").redis) == {"socket_timeout": 10.0, "health_check_interval": 30.0}


def test_the_sentinels_themselves_get_the_timeouts_too() -> None:
    client = Resque(sentinel=[("s1", 26379)], service_name="mymaster").redis
    assert options(client) == DEFAULTS
    assert client.connection_pool.sentinel_manager.sentinel_kwargs == DEFAULTS


def test_the_url_query_wins_over_the_settings_which_win_over_the_defaults() -> None:
    settings = RedisTimeouts(timeout_s=3, connect_timeout_s=2, health_check_interval_s=0, keepalive=False)
    assert options(Resque("redis://h/0", timeouts=settings).redis) == {
        "socket_timeout": 3, "socket_connect_timeout": 2, "health_check_interval": 0, "socket_keepalive": False}
    url = "redis://h/0?socket_timeout=2&socket_connect_timeout=1&health_check_interval=5"
    assert options(Resque(url, timeouts=settings).redis) == {
        "socket_timeout": 2.0, "socket_connect_timeout": 1.0, "health_check_interval": 5, "socket_keepalive": False}
    sentinel = Resque("redis+sentinel://s1/mymaster?socket_timeout=2", timeouts=settings).redis
    assert options(sentinel)["socket_timeout"] == 2.0
    assert sentinel.connection_pool.sentinel_manager.sentinel_kwargs["socket_timeout"] == 2.0


def test_a_client_passed_in_is_left_as_it_is() -> None:
    mine = redis_py.Redis(host="h", socket_timeout=None)
    assert Resque(mine, timeouts=RedisTimeouts(timeout_s=1)).redis is mine
    assert options(mine) == {"socket_timeout": None, "socket_connect_timeout": None, "socket_keepalive": None,
                             "health_check_interval": 0}


# Refused at once ----------------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [("timeout_s", 0), ("timeout_s", -1), ("connect_timeout_s", 0),
                                               ("timeout_s", math.nan), ("health_check_interval_s", -5)])
def test_a_zero_or_negative_setting_is_refused_naming_it(field: str, value: float) -> None:
    with pytest.raises(ConnectionFailed, match=f"RedisTimeouts.{field} must be (0 \\(off\\) or )?a positive number of seconds"):
        RedisTimeouts(**{field: value})


@pytest.mark.parametrize("url", ["redis://h/0?socket_timeout=0", "redis://h/0?socket_connect_timeout=-1",
                                 "redis+sentinel://s1/mymaster?socket_timeout=0", "unix:///s.sock?socket_timeout=-2"])
def test_a_zero_or_negative_url_option_is_refused_naming_it(url: str) -> None:
    name = url.split("?")[1].split("=")[0]
    with pytest.raises(ConnectionFailed, match=f"{name} must be a positive number of seconds, not -?[0-9.]+$"):
        Resque(url)


@pytest.mark.parametrize(("flag", "value"), [("--redis-timeout", "0"), ("--redis-connect-timeout", "-1"),
                                              ("--redis-timeout", "soon")])
def test_a_bad_timeout_flag_is_one_usage_line(flag: str, value: str) -> None:
    result, _ = cli("info", flag, value)
    assert result.returncode == 2
    assert f"argument {flag}: {value!r} is not a positive number of seconds" in one_line(result)


@pytest.mark.parametrize("var", ["PYRESQUE_REDIS_TIMEOUT", "PYRESQUE_REDIS_CONNECT_TIMEOUT"])
def test_a_bad_timeout_variable_is_one_line_naming_it(var: str) -> None:
    result, _ = cli("info", **{var: "0"})
    assert result.returncode == 1
    assert f"{var}='0' is not a positive number of seconds" in one_line(result)


# Against a Redis that never answers ---------------------------------------------
def test_the_client_gives_up_on_a_server_that_never_answers(hung: RedisServer) -> None:
    url = f"redis://127.0.0.1:{hung.port}/0"
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed, match=f"cannot reach Redis at {url}: Timeout"):
        Resque(url + "?socket_timeout=1").info()
    assert 0.9 < time.monotonic() - t0 < 3
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed, match="Timeout"):
        Resque(url, timeouts=RedisTimeouts(timeout_s=0.5)).enqueue_to("q", "Job")
    assert 0.4 < time.monotonic() - t0 < 2.5


@pytest.mark.parametrize(("how", "args", "env"), [
    ("flag", ["--redis-timeout", "1"], {}),
    ("variable", [], {"PYRESQUE_REDIS_TIMEOUT": "1"}),
    ("url", [], {}),
])
def test_pyresque_info_gives_up_on_a_server_that_never_answers(hung: RedisServer, how: str, args: list[str],
                                                               env: dict) -> None:
    url = f"redis://127.0.0.1:{hung.port}/0"
    result, elapsed = cli("info", "--redis", url + ("?socket_timeout=1" if how == "url" else ""), *args, **env)
    assert result.returncode == 1
    assert one_line(result).startswith(f"pyresque: error: cannot reach Redis at {url}: Timeout")
    assert elapsed < 6, elapsed  # 1 s, plus starting Python


def test_pyresque_info_gives_up_by_default_too(hung: RedisServer) -> None:
    url = f"redis://127.0.0.1:{hung.port}/0"
    result, elapsed = cli("info", "--redis", url)
    assert result.returncode == 1
    assert one_line(result).startswith(f"pyresque: error: cannot reach Redis at {url}: Timeout")
    assert 9.5 < elapsed < 16, elapsed  # the 10 s default


def test_a_tls_url_pointed_at_a_port_that_never_answers_gives_up(hung: RedisServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed, match="Timeout"):
        Resque(f"rediss://127.0.0.1:{hung.port}/0?socket_timeout=1").info()
    assert 0.9 < time.monotonic() - t0 < 3


def test_connecting_gives_up_after_the_connect_timeout() -> None:
    with UnacceptingServer() as server:
        url = f"redis://127.0.0.1:{server.port}/0"
        t0 = time.monotonic()
        with pytest.raises(ConnectionFailed, match="Timeout connecting"):
            Resque(url, timeouts=RedisTimeouts(connect_timeout_s=0.5)).info()
        assert 0.4 < time.monotonic() - t0 < 2.5
        result, elapsed = cli("queues", "--redis", url, "--redis-connect-timeout", "1")
    assert result.returncode == 1
    assert one_line(result).startswith(f"pyresque: error: cannot reach Redis at {url}: Timeout connecting")
    assert elapsed < 6, elapsed


def test_a_worker_against_a_server_that_never_answers_exits_instead_of_hanging(hung: RedisServer) -> None:
    url = f"redis://127.0.0.1:{hung.port}/0"
    result, elapsed = cli("work", "-q", "q", "--import", "pyjobs_files", "--redis", url, "--redis-timeout", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    # The worker logs its start and stop too; the error is one line, the last.
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("pyresque: error: cannot reach Redis") and "Timeout" in error, result.stderr
    # A timeout or two (startup, then teardown's unregister), not forever.
    assert elapsed < 8, elapsed


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(ConnectionFailed) as info:
        Resque("redis://user:s3cret@h/0?socket_timeout=0")
    assert "s3cret" not in str(info.value) and "redis://user:***@h/0" in str(info.value)
