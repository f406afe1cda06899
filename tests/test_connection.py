"""Connection strings: redis-py clients, URLs and Resque's host:port[:db][/namespace]."""

from __future__ import annotations

import pytest
import redis as redis_py
from redis.sentinel import Sentinel, SentinelConnectionPool

from pyresque import ConnectionFailed, Resque
from pyresque.connection import clone, connect, describe, raw_connection


def _where(client: redis_py.Redis) -> tuple:
    kw = client.connection_pool.connection_kwargs
    return kw.get("host"), kw.get("port"), kw.get("db", 0), kw.get("path")


@pytest.mark.parametrize(
    ("target", "where", "namespace"),
    [
        ("localhost", ("localhost", 6379, 0, None), "resque"),  # Ruby: bare host, port 6379
        ("localhost:6380", ("localhost", 6380, 0, None), "resque"),
        ("db.example:6380:2", ("db.example", 6380, 2, None), "resque"),
        ("db.example:6380:2/myapp", ("db.example", 6380, 2, None), "myapp"),
        ("db.example:6380/resque:myapp", ("db.example", 6380, 0, None), "resque:myapp"),
        ("db.example:6380/", ("db.example", 6380, 0, None), "resque"),
        ("redis://db.example:6381/4", ("db.example", 6381, 4, None), "resque"),
        ("redis://db.example", ("db.example", None, 0, None), "resque"),
        ("rediss://db.example:6390/1", ("db.example", 6390, 1, None), "resque"),
        ("unix:///run/redis.sock?db=3", (None, None, 3, "/run/redis.sock"), "resque"),
    ],
)
def test_connection_strings(target: str, where: tuple, namespace: str) -> None:
    client, ns = connect(target, "resque")
    assert _where(client) == where
    assert ns == namespace


def test_namespace_suffix_wins_over_argument_and_urls_never_carry_one() -> None:
    assert connect("h:1/fromstring", "fromarg")[1] == "fromstring"
    assert connect("h:1", "fromarg")[1] == "fromarg"
    assert connect("redis://h:1/0", "fromarg")[1] == "fromarg"
    assert Resque("h:1:2/app").layout.queue("q") == "app:queue:q"


def test_default_is_localhost_6379() -> None:
    client, ns = connect(None)
    assert _where(client) == ("localhost", 6379, 0, None) and ns == "resque"


def test_a_client_is_used_as_is(r: redis_py.Redis) -> None:
    resque = Resque(r, namespace="myapp")
    assert resque.redis is r and resque.namespace == "myapp"


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("", "host[:port[:db]]"),
        (":6379", "host[:port[:db]]"),
        ("h:1:2:3", "host[:port[:db]]"),
        ("h:abc", "must be numbers"),
        ("h:6379:x", "must be numbers"),
        ("h:0", "1-65535"),
        ("h:70000", "1-65535"),
        ("h:1:-1", "db 0 or more"),
        ("redis://h:6379/myapp", "not a database number"),
        ("redis://h:x/0", "Port"),
        ("redis://", "no host"),
        ("unix://", "no socket path"),
        ("http://h:80", "scheme must be one of"),
        (42, "cannot use int"),
    ],
)
def test_bad_connection_strings_raise_connection_failed(target: object, words: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        Resque(target)
    assert words in str(info.value)
    assert repr(target) in str(info.value) or isinstance(target, int)


def test_clone_has_its_own_pool_and_the_same_settings(r: redis_py.Redis) -> None:
    original = redis_py.Redis.from_url(_url(r), socket_timeout=3, client_name="x")
    copy = clone(original)
    assert copy.connection_pool is not original.connection_pool
    assert copy.connection_pool.connection_kwargs == original.connection_pool.connection_kwargs
    assert copy.ping() and copy.client_getname() == "x"
    copy.close()
    single = clone(original, single_connection_client=True)
    assert single.connection is not None and single.connection.socket_timeout == 3
    single.close()
    original.close()


def test_clone_of_a_sentinel_client_shares_no_connection_with_it() -> None:
    sentinels = Sentinel([("127.0.0.1", 1), ("127.0.0.2", 2)], sentinel_kwargs={"socket_timeout": 1.5})
    original = sentinels.master_for("mymaster", db=3, socket_timeout=2)
    copy = clone(original)
    pool, copy_pool = original.connection_pool, copy.connection_pool
    assert isinstance(copy_pool, SentinelConnectionPool) and copy_pool is not pool
    assert copy_pool.service_name == "mymaster" and copy_pool.is_master
    assert copy_pool.sentinel_manager is not pool.sentinel_manager
    old_pools = {id(s.connection_pool) for s in pool.sentinel_manager.sentinels}
    assert not old_pools & {id(s.connection_pool) for s in copy_pool.sentinel_manager.sentinels}
    assert copy_pool.sentinel_manager.sentinel_kwargs == {"socket_timeout": 1.5}
    own = {k: v for k, v in copy_pool.connection_kwargs.items() if k != "connection_pool"}
    assert own == {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}
    assert describe(copy) == describe(original) == "redis+sentinel://127.0.0.1:1,127.0.0.2:2/mymaster/3"


def test_raw_connection_is_a_new_unpooled_connection_to_the_same_server(r: redis_py.Redis) -> None:
    client = redis_py.Redis.from_url(_url(r), socket_timeout=3)
    conn = raw_connection(client)
    try:
        assert conn not in client.connection_pool._available_connections
        assert conn.socket_timeout == 3
        assert conn.health_check_interval == 0, "no PING on a connection meant to subscribe"
        conn.send_command("PING")
        assert conn.read_response() == b"PONG"
    finally:
        conn.disconnect()
        client.close()


def _url(r: redis_py.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def _sentinel_setup(client: redis_py.Redis) -> tuple:
    pool = client.connection_pool
    manager = pool.sentinel_manager
    addresses = [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                 for s in manager.sentinels]
    kw = pool.connection_kwargs
    auth = {k: v for k, v in manager.sentinel_kwargs.items() if k in ("password", "username")}
    return addresses, pool.service_name, kw["db"], kw.get("username"), kw.get("password"), auth


@pytest.mark.parametrize(
    ("url", "setup"),
    [
        ("redis+sentinel://h1:26379,h2:26380/mymaster",
         ([("h1", 26379), ("h2", 26380)], "mymaster", 0, None, None, {})),
        ("redis+sentinel://h1/mymaster/2/", ([("h1", 26379)], "mymaster", 2, None, None, {})),
        ("redis+sentinel://h1/mymaster?db=5", ([("h1", 26379)], "mymaster", 5, None, None, {})),
        ("redis+sentinel://:p%40ss@h1,[::1]:26380/my%20master/3?sentinel_password=sp&sentinel_username=su",
         ([("h1", 26379), ("::1", 26380)], "my master", 3, None, "p@ss", {"password": "sp", "username": "su"})),
        ("redis+sentinel://app:pw@10.0.0.1:1/m", ([("10.0.0.1", 1)], "m", 0, "app", "pw", {})),
    ],
)
def test_sentinel_urls(url: str, setup: tuple) -> None:
    client, ns = connect(url, "myapp")
    assert isinstance(client.connection_pool, SentinelConnectionPool) and client.connection_pool.is_master
    assert _sentinel_setup(client) == setup
    assert ns == "myapp", "the namespace is never in the URL"


def test_sentinel_by_keywords_and_how_it_is_described() -> None:
    resque = Resque(sentinel=[("10.0.0.1", 26379), ("::1", 26380)], service_name="mymaster", namespace="app")
    assert _sentinel_setup(resque.redis) == ([("10.0.0.1", 26379), ("::1", 26380)], "mymaster", 0, None, None, {})
    assert resque.namespace == "app"
    assert repr(resque) == "<Resque redis+sentinel://10.0.0.1:26379,[::1]:26380/mymaster/0 namespace='app'>"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"redis": "redis+sentinel://h1/"}, "no service name"),
        ({"redis": "redis+sentinel:///m"}, "bad Sentinel address ''"),
        ({"redis": "redis+sentinel://h:x/m"}, "bad Sentinel address 'h:x'"),
        ({"redis": "redis+sentinel://h:70000/m"}, "port must be 1-65535"),
        ({"redis": "redis+sentinel://h/m/x"}, "not service_name/db"),
        ({"redis": "redis+sentinel://h/m/1/2"}, "not service_name/db"),
        ({"redis": "redis+sentinel://h/m?socket_timeout=abc"}, "invalid value for socket_timeout"),
        ({"redis": "redis+sentinel://:pw@h/m?socket_timeout=0"}, "redis+sentinel://:***@h/m"),
        ({"redis": "redis://h/0", "sentinel": [("h", 1)], "service_name": "m"}, "not both"),
        ({"sentinel": [("h", 1)]}, "no Sentinel service name"),
        ({"service_name": "m"}, "no Sentinels given"),
    ],
)
def test_bad_sentinel_settings_raise_connection_failed(kwargs: dict, words: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        Resque(**kwargs)
    assert words in str(info.value)
    assert "pw" not in str(info.value)
