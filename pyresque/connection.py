"""Turning what a user gives us into a Redis client and a namespace.

Accepts what Ruby's ``Resque.redis=`` accepts plus URLs: a ``redis.Redis``
client, a ``redis://``, ``rediss://`` or ``unix://`` URL, or Resque's own
``host:port[:db][/namespace]`` string, where the ``/namespace`` suffix wins
over the ``namespace`` argument as it does in Ruby.
"""

from __future__ import annotations

from typing import Any

import redis as redis_py

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
        try:
            return redis_py.Redis.from_url(target), ns
        except ValueError as exc:
            raise ConnectionFailed(f"bad Redis URL {target!r}: {exc}") from None
    return _from_resque_string(target, ns)


def _from_resque_string(text: str, ns: str) -> tuple[redis_py.Redis, str]:
    address, slash, suffix = text.partition("/")
    if slash and suffix:
        ns = suffix
    parts = address.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ConnectionFailed(
            f"bad Redis address {text!r}: use host:port[:db][/namespace] or a redis:// URL"
        )
    try:
        port = int(parts[1])
        db = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ConnectionFailed(f"bad Redis address {text!r}: port and db must be numbers") from None
    return redis_py.Redis(host=parts[0], port=port, db=db), ns


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
