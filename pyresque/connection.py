"""Turning what a user gives us into a Redis client and a namespace.

Accepts what Ruby's ``Resque.redis=`` accepts plus URLs: a ``redis.Redis``
client, a ``redis://``, ``rediss://`` or ``unix://`` URL, or Resque's own
``host[:port[:db]][/namespace]`` string, where the ``/namespace`` suffix wins
over the ``namespace`` argument (Ruby has no namespace argument).

Stricter than Ruby, on purpose: Ruby ignores a fourth ``:field`` and lets a
bad port fail at first use; we refuse such strings at once with
:class:`ConnectionFailed`. As redis-rb does (and redis-py does not), a URL
whose path is not a database number (``redis://host/myapp``) is refused: a
URL cannot carry a namespace.

:func:`clone` and :func:`raw_connection` make more connections with a
client's settings, for the parts of the worker that must not share its pool.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import redis as redis_py
from redis.connection import Connection, SSLConnection
from redis.sentinel import Sentinel, SentinelConnectionPool

from pyresque.errors import ConnectionFailed
from pyresque.keys import DEFAULT_NAMESPACE

DEFAULT_REDIS = "localhost:6379"
_URL_SCHEMES = ("redis://", "rediss://", "unix://")


def connect(target: Any = None, namespace: str | None = None) -> tuple[redis_py.Redis, str]:
    """A ``(client, namespace)`` pair for ``target`` (see module doc)."""
    ns = namespace if namespace is not None else DEFAULT_NAMESPACE
    if target is None:
        target = DEFAULT_REDIS
    if isinstance(target, redis_py.Redis):
        return target, ns
    if not isinstance(target, str):
        raise ConnectionFailed(f"cannot use {type(target).__name__} as a Redis connection")
    if target.startswith(_URL_SCHEMES):
        return _from_url(target), ns
    if "://" in target:
        raise ConnectionFailed(f"bad Redis URL {target!r}: the scheme must be one of {', '.join(_URL_SCHEMES)}")
    return _from_resque_string(target, ns)


def _from_url(url: str) -> redis_py.Redis:
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("no socket path")
        else:
            if not parts.hostname:
                raise ValueError("no host")
            parts.port  # noqa: B018 - raises ValueError for a bad port
            if not re.fullmatch(r"/?\d*", parts.path):
                raise ValueError(f"the path {parts.path!r} is not a database number (a URL cannot carry a namespace)")
        return redis_py.Redis.from_url(url)
    except ValueError as exc:
        raise ConnectionFailed(f"bad Redis URL {url!r}: {exc}") from None


def _from_resque_string(text: str, ns: str) -> tuple[redis_py.Redis, str]:
    address, slash, suffix = text.partition("/")
    if slash and suffix:
        ns = suffix
    parts = address.split(":")
    if len(parts) > 3 or not parts[0] or not parts[0].strip():
        raise ConnectionFailed(
            f"bad Redis address {text!r}: use host[:port[:db]][/namespace] or a redis:// URL"
        )
    try:
        port = int(parts[1]) if len(parts) > 1 else 6379  # Ruby: a bare host means port 6379
        db = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ConnectionFailed(f"bad Redis address {text!r}: port and db must be numbers") from None
    if not 0 < port < 65536 or db < 0:
        raise ConnectionFailed(f"bad Redis address {text!r}: port must be 1-65535 and db 0 or more")
    return redis_py.Redis(host=parts[0], port=port, db=db), ns


def clone(client: redis_py.Redis) -> redis_py.Redis:
    """A new client for the same server with the same settings and a pool of its own.

    For a Sentinel client, its own Sentinel connections too, so nothing is
    shared with ``client`` (a forked child never inherits a lock another
    thread held).
    """
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        manager = pool.sentinel_manager
        fresh = Sentinel(_sentinel_addresses(manager), min_other_sentinels=manager.min_other_sentinels,
                         sentinel_kwargs=dict(manager.sentinel_kwargs))
        for_role = fresh.master_for if pool.is_master else fresh.slave_for
        return for_role(pool.service_name, connection_class=pool.connection_class,
                        check_connection=pool.check_connection, max_connections=pool.max_connections,
                        **_own_kwargs(pool))
    return redis_py.Redis(connection_pool=pool.__class__(
        connection_class=pool.connection_class, max_connections=pool.max_connections, **pool.connection_kwargs))


def raw_connection(client: redis_py.Redis) -> Connection:
    """A new connection, in no pool, to ``client``'s server with its settings.

    For a Sentinel client this asks the Sentinels for the primary now (raising
    a ``redis.ConnectionError`` when none is known), so calling it again after
    a failover reaches the new primary.
    """
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        if pool.is_master:
            host, port = pool.sentinel_manager.discover_master(pool.service_name)
        else:
            host, port = next(iter(pool.rotate_slaves()))
        cls = SSLConnection if issubclass(pool.connection_class, SSLConnection) else Connection
        return cls(host=host, port=port, **_own_kwargs(pool))
    return pool.connection_class(**pool.connection_kwargs)


def _own_kwargs(pool: SentinelConnectionPool) -> dict[str, Any]:
    # A Sentinel pool hands its connections a reference to itself.
    return {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}


def _sentinel_addresses(manager: Sentinel) -> list[tuple[str, int]]:
    return [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels]


def describe(client: redis_py.Redis) -> str:
    """A short ``redis://host:port/db`` description for logs and ``info``."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def as_text(value: bytes | str) -> str:
    """A Redis reply as text; bytes that are not UTF-8 become U+FFFD, never an error."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def as_int(value: bytes | str | None) -> int:
    """A Redis counter as Ruby's ``to_i`` reads it: missing or garbage is 0."""
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0
