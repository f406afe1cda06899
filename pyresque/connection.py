"""Turning what a user gives us into a Redis client and a namespace.

Accepts what Ruby's ``Resque.redis=`` accepts plus URLs: a ``redis.Redis``
client, a ``redis://``, ``rediss://`` or ``unix://`` URL, a Sentinel URL
(below), or Resque's own ``host[:port[:db]][/namespace]`` string, where the
``/namespace`` suffix wins over the ``namespace`` argument (Ruby has no
namespace argument).

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

Sentinel URLs (the ``redis+sentinel`` form of the Redis-Sentinel-Url package
and others)::

    redis+sentinel://[[user]:password@]host[:port][,host2[:port2]...]/service_name[/db][?options]

Each ``host:port`` is a Sentinel (port 26379 by default); the password and
user are the data nodes' (the primary's). ``sentinel_password`` and
``sentinel_username`` in the query authenticate to the Sentinels; every other
query option is a redis-py URL option for the data nodes, and the timeouts
apply to the Sentinels too. The client asks the Sentinels for the current
primary on every new connection, so after a failover the next connection
reaches the new primary.

:func:`clone` and :func:`raw_connection` make more connections with a
client's settings, for the parts of the worker that must not share its pool.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import redis as redis_py
from redis.connection import URL_QUERY_ARGUMENT_PARSERS, Connection, SSLConnection, parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

from pyresque.errors import ConnectionFailed
from pyresque.keys import DEFAULT_NAMESPACE

DEFAULT_REDIS = "localhost:6379"
DEFAULT_SENTINEL_PORT = 26379
SENTINEL_SCHEME = "redis+sentinel"
_URL_SCHEMES = ("redis://", "rediss://", "unix://", f"{SENTINEL_SCHEME}://")
# Query options of a Sentinel URL that are for the Sentinels, not the data nodes.
_SENTINEL_AUTH_OPTIONS = {"sentinel_password": "password", "sentinel_username": "username"}
# The options a Sentinel connection shares with the data nodes' connections.
# How the clients pyresque makes encode text: a surrogate escape stands for the byte
# it was decoded from (as_name), so a name read from Redis reaches the same key.
NAME_ENCODING_ERRORS = "surrogateescape"
_TIMEOUT_OPTIONS = ("socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval")


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
        """These settings as redis-py connection keyword arguments, with the
        encoding every client pyresque makes uses (see :func:`as_name`)."""
        kwargs: dict[str, Any] = {
            "socket_timeout": self.timeout_s,
            "health_check_interval": self.health_check_interval_s,
            "encoding_errors": NAME_ENCODING_ERRORS,
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
    sentinel: Sequence[tuple[str, int]] | None = None,
    service_name: str | None = None,
) -> tuple[redis_py.Redis, str]:
    """A ``(client, namespace)`` pair for ``target`` (see module doc).

    ``sentinel`` (a list of ``(host, port)`` Sentinels) with ``service_name``
    instead of ``target`` finds the primary through Sentinel.
    """
    ns = namespace if namespace is not None else DEFAULT_NAMESPACE
    settings = timeouts if timeouts is not None else RedisTimeouts()
    if sentinel is not None or service_name is not None:
        if target is not None:
            raise ConnectionFailed("give either a Redis to connect to or sentinel= and service_name=, not both")
        return from_sentinel(sentinel or [], service_name or "", timeouts=settings), ns
    if target is None:
        target = DEFAULT_REDIS
    if isinstance(target, redis_py.Redis):
        return target, ns
    if not isinstance(target, str):
        raise ConnectionFailed(f"cannot use {type(target).__name__} as a Redis connection")
    if target.startswith(f"{SENTINEL_SCHEME}://"):
        return _from_sentinel_url(target, settings), ns
    if target.startswith(_URL_SCHEMES):
        return _from_url(target, settings), ns
    if "://" in target:
        raise ConnectionFailed(f"bad Redis URL {_redacted(target)!r}: the scheme must be one of {', '.join(_URL_SCHEMES)}")
    return _from_resque_string(target, ns, settings)


def from_sentinel(
    sentinels: Iterable[tuple[str, int]],
    service_name: str,
    *,
    db: int = 0,
    timeouts: RedisTimeouts | None = None,
    sentinel_auth: dict[str, str] | None = None,
    **options: Any,
) -> redis_py.Redis:
    """A client for the primary of ``service_name``, as the Sentinels report it.

    ``options`` are redis-py connection options for the data nodes
    (``password``...; timeouts in them win over ``timeouts``);
    ``sentinel_auth`` holds ``password``/``username`` for the Sentinels.
    """
    addresses = [(str(host), int(port)) for host, port in sentinels]
    if not addresses:
        raise ConnectionFailed("no Sentinels given: pass at least one (host, port)")
    if not service_name:
        raise ConnectionFailed("no Sentinel service name given (the name Sentinel monitors, e.g. mymaster)")
    kwargs = (timeouts if timeouts is not None else RedisTimeouts()).redis_kwargs()
    kwargs.update(options)
    try:
        _check_timeouts(kwargs)
    except ValueError as exc:
        raise ConnectionFailed(str(exc)) from None
    # The Sentinels get the same timeouts: a hung Sentinel must not hang discovery.
    sentinel_kwargs = {k: v for k, v in kwargs.items() if k in _TIMEOUT_OPTIONS}
    sentinel_kwargs.update(sentinel_auth or {})
    return Sentinel(addresses, sentinel_kwargs=sentinel_kwargs).master_for(service_name, db=db, **kwargs)


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


def _from_sentinel_url(url: str, settings: RedisTimeouts) -> redis_py.Redis:
    try:
        rest = url[len(SENTINEL_SCHEME) + 3:]
        rest, _, query = rest.partition("?")
        netloc, _, path = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        options: dict[str, Any] = {}
        if at:
            user, colon, password = userinfo.partition(":")
            if user:
                options["username"] = unquote(user)
            if colon and password:
                options["password"] = unquote(password)
        addresses = [_sentinel_address(h) for h in hosts.split(",")]
        service, _, db_text = path.partition("/")
        if not service:
            raise ValueError("no service name: use redis+sentinel://host:26379[,host2:26379]/mymaster[/db]")
        if not re.fullmatch(r"\d*/?", db_text):
            raise ValueError(f"the path {path!r} is not service_name/db (a URL cannot carry a namespace)")
        db = int(db_text.rstrip("/") or 0)
        auth: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=False):
            if name in _SENTINEL_AUTH_OPTIONS:
                auth[_SENTINEL_AUTH_OPTIONS[name]] = value
            elif name == "db":
                db = int(value)
            else:
                parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
                try:
                    options[name] = parser(value) if parser else value
                except (TypeError, ValueError):
                    raise ValueError(f"invalid value for {name}: {value!r}") from None
        return from_sentinel(addresses, unquote(service), db=db, timeouts=settings, sentinel_auth=auth, **options)
    except ValueError as exc:
        raise ConnectionFailed(f"bad Sentinel URL {_redacted(url)!r}: {exc}") from None
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"bad Sentinel URL {_redacted(url)!r}: {exc}") from None


def _sentinel_address(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text)
    if not match:
        raise ValueError(f"bad Sentinel address {text!r}: use host[:port], e.g. 10.0.0.1:26379")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4) or DEFAULT_SENTINEL_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"bad Sentinel address {text!r}: port must be 1-65535")
    return host, port


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


def clone(client: redis_py.Redis, *, single_connection_client: bool = False) -> redis_py.Redis:
    """A new client for the same server with the same settings and a pool of its own.

    For a Sentinel client, its own Sentinel connections too, so nothing is
    shared with ``client`` (a forked child never inherits a lock another
    thread held). ``single_connection_client`` as for ``redis.Redis``.
    """
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        manager = pool.sentinel_manager
        fresh = Sentinel(_sentinel_addresses(manager), min_other_sentinels=manager.min_other_sentinels,
                         sentinel_kwargs=dict(manager.sentinel_kwargs))
        new_pool: redis_py.ConnectionPool = pool.__class__(
            pool.service_name, fresh, is_master=pool.is_master, check_connection=pool.check_connection,
            connection_class=pool.connection_class, max_connections=pool.max_connections, **_own_kwargs(pool))
    else:
        new_pool = pool.__class__(connection_class=pool.connection_class, max_connections=pool.max_connections,
                                  **pool.connection_kwargs)
    return redis_py.Redis(connection_pool=new_pool, single_connection_client=single_connection_client)


def raw_connection(client: redis_py.Redis) -> Connection:
    """A new connection, in no pool, to ``client``'s server with its settings.

    Without the health check, though: it is for connections that subscribe
    or turn on tracking, where a PING before a command would be answered as
    a push message and taken for a broken connection.

    For a Sentinel client this asks the Sentinels for the primary now (raising
    a ``redis.ConnectionError`` when none is known), so calling it again after
    a failover reaches the new primary.
    """
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "health_check_interval": 0}
    if isinstance(pool, SentinelConnectionPool):
        if pool.is_master:
            host, port = pool.sentinel_manager.discover_master(pool.service_name)
        else:
            host, port = next(iter(pool.rotate_slaves()))
        cls = SSLConnection if issubclass(pool.connection_class, SSLConnection) else Connection
        del kwargs["connection_pool"]  # a Sentinel pool hands its connections a reference to itself
        return cls(host=host, port=port, **kwargs)
    return pool.connection_class(**kwargs)


def _own_kwargs(pool: SentinelConnectionPool) -> dict[str, Any]:
    # A Sentinel pool hands its connections a reference to itself.
    return {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}


def _sentinel_addresses(manager: Sentinel) -> list[tuple[str, int]]:
    return [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels]


def describe(client: redis_py.Redis) -> str:
    """A short ``redis://host:port/db`` description for logs and ``info``; never a password."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if isinstance(pool, SentinelConnectionPool):
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in _sentinel_addresses(pool.sentinel_manager))
        return f"{SENTINEL_SCHEME}://{hosts}/{quote(pool.service_name, safe='')}/{kwargs.get('db', 0)}"
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _check_seconds(name: str, value: Any, *, allow_zero: bool) -> None:
    """ValueError naming ``name`` unless ``value`` is a positive number of seconds (or 0, with ``allow_zero``)."""
    # The wording of pyresque.timeouts.validated, which has no "0 means off".
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'0 (off) or ' if allow_zero else ''}a positive number of seconds, not {value!r}")


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


def as_name(value: bytes | str, client: redis_py.Redis | None = None) -> str:
    r"""A name read from Redis (a queue, a worker id, a failure list) as text that gives its
    exact bytes back: bytes that are not UTF-8 become surrogate escapes (PEP 383, as
    ``os.fsdecode`` does), which the clients pyresque makes send back as those bytes.

    So a queue named ``b"bad\xff"`` is ``"bad\udcff"``: ``keys.queue()`` of it is that
    queue's key, not the key of ``"bad\ufffd"``. Show such a name with :func:`shown`.

    A ``redis.Redis`` made elsewhere and given to pyresque encodes strictly unless made
    with ``encoding_errors="surrogateescape"``: through it, such a name raises
    ``UnicodeEncodeError`` instead of reaching another key. Given that ``client``,
    names are read as :func:`as_text` reads them (U+FFFD), so listing still works.
    """
    if not isinstance(value, bytes):
        return value
    if client is not None and not _sends_names(client):
        return as_text(value)
    return value.decode("utf-8", NAME_ENCODING_ERRORS)


def _sends_names(client: redis_py.Redis) -> bool:
    return client.connection_pool.connection_kwargs.get("encoding_errors") == NAME_ENCODING_ERRORS


def name_bytes(name: str) -> bytes:
    """The bytes a name stands for (the inverse of :func:`as_name`)."""
    return name.encode("utf-8", NAME_ENCODING_ERRORS)


def shown(name: str) -> str:
    """A name as text to show: what is not UTF-8 in it becomes U+FFFD (as :func:`as_text`)."""
    if name.isascii():
        return name
    return name.encode("utf-8", NAME_ENCODING_ERRORS).decode("utf-8", "replace")


def as_int(value: bytes | str | None) -> int:
    """A Redis counter as Ruby's ``to_i`` reads it: missing or garbage is 0."""
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0
