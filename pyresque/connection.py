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

Every client made here has timeouts (:class:`RedisTimeouts`): without them a
hung server, a half-open connection or a TLS URL pointed at a plain port
blocks a worker or a command forever. Options in a URL's query string
(redis-py's names: ``?socket_timeout=2&socket_connect_timeout=1``) win over
the settings. A ``redis.Redis`` client given to us is used as it is.

:func:`clone` and :func:`raw_connection` make more connections with a
client's settings, for the parts of the worker that must not share its pool.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis as redis_py
from redis.connection import Connection, SSLConnection, parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

from pyresque.errors import ConnectionFailed
from pyresque.keys import DEFAULT_NAMESPACE

DEFAULT_REDIS = "localhost:6379"
_URL_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class RedisTimeouts:
    """How long any client pyresque makes waits on Redis before giving up.

    ``timeout_s`` bounds every reply (redis-py's ``socket_timeout``): a
    server that stops answering raises ``redis.TimeoutError`` instead of
    blocking forever. ``connect_timeout_s`` bounds connecting
    (``socket_connect_timeout``). A connection idle for
    ``health_check_interval_s`` is PINGed before its next command, so a
    half-open one fails there and not mid-command (0 turns the check off).
    ``keepalive`` turns on TCP keepalive. A zero or negative timeout raises
    :class:`ConnectionFailed`.
    """

    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    health_check_interval_s: float = 30.0
    keepalive: bool = True

    def __post_init__(self) -> None:
        try:
            for name in ("timeout_s", "connect_timeout_s", "health_check_interval_s"):
                _check_seconds(f"RedisTimeouts.{name}", getattr(self, name), allow_zero=name.startswith("health"))
        except ValueError as exc:
            raise ConnectionFailed(str(exc)) from None

    def redis_kwargs(self, unix: bool = False) -> dict[str, Any]:
        """These settings as redis-py connection keyword arguments."""
        kwargs: dict[str, Any] = {
            "socket_timeout": self.timeout_s,
            "health_check_interval": self.health_check_interval_s,
        }
        if not unix:  # redis-py's unix socket connections take neither
            kwargs["socket_connect_timeout"] = self.connect_timeout_s
            kwargs["socket_keepalive"] = self.keepalive
        return kwargs


def connect(
    target: Any = None,
    namespace: str | None = None,
    *,
    timeouts: RedisTimeouts | None = None,
) -> tuple[redis_py.Redis, str]:
    """A ``(client, namespace)`` pair for ``target`` (see module doc)."""
    ns = namespace if namespace is not None else DEFAULT_NAMESPACE
    settings = timeouts if timeouts is not None else RedisTimeouts()
    if target is None:
        target = DEFAULT_REDIS
    if isinstance(target, redis_py.Redis):
        return target, ns
    if not isinstance(target, str):
        raise ConnectionFailed(f"cannot use {type(target).__name__} as a Redis connection")
    if target.startswith(_URL_SCHEMES):
        return _from_url(target, settings), ns
    if "://" in target:
        raise ConnectionFailed(f"bad Redis URL {_redacted(target)!r}: the scheme must be one of {', '.join(_URL_SCHEMES)}")
    return _from_resque_string(target, ns, settings)


def _from_url(url: str, settings: RedisTimeouts) -> redis_py.Redis:
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
        defaults = settings.redis_kwargs(unix=parts.scheme == "unix")
        _check_timeouts({**defaults, **parse_url(url)})
        return redis_py.Redis.from_url(url, **defaults)  # the URL's own options win
    except ValueError as exc:
        raise ConnectionFailed(f"bad Redis URL {_redacted(url)!r}: {exc}") from None


def _from_resque_string(text: str, ns: str, settings: RedisTimeouts) -> tuple[redis_py.Redis, str]:
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
    return redis_py.Redis(host=parts[0], port=port, db=db, **settings.redis_kwargs()), ns


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


def _check_seconds(name: str, value: Any, *, allow_zero: bool) -> None:
    """ValueError unless ``value`` is a finite number of seconds > 0 (or >= 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "more than 0"
        raise ValueError(f"{name} must be a number of seconds {bound}, got {value!r}")


def _check_timeouts(kwargs: dict[str, Any]) -> None:
    """Refuse a zero or negative timeout from a URL's query or redis-py options."""
    for name in ("socket_timeout", "socket_connect_timeout", "health_check_interval"):
        if kwargs.get(name) is not None:
            _check_seconds(name, kwargs[name], allow_zero=name == "health_check_interval")


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, for error messages."""
    return re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", url, count=1)


def as_text(value: bytes | str) -> str:
    """A Redis reply as text; bytes that are not UTF-8 become U+FFFD, never an error."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def as_int(value: bytes | str | None) -> int:
    """A Redis counter as Ruby's ``to_i`` reads it: missing or garbage is 0."""
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0
