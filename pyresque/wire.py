"""The Redis protocol packed by hand, for the calls made once per job.

redis-py's general path costs about as much as a round trip on a fast
network: a pool checkout that probes the socket, a retry wrapper, every
argument encoded and packed anew, a pipeline object for two commands. The
worker's one script call a job and a single enqueue go through here
instead; everything else uses redis-py as usual. Errors are redis-py's own
(its connections and parser do the I/O), so callers handle them as before.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from pyresque.scripts import source


def packed(*args: bytes) -> bytes:
    """``args`` as bulk strings of the Redis protocol (RESP)."""
    return b"".join(b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args)


def command(*args: bytes) -> bytes:
    """One whole command."""
    return b"*%d\r\n" % len(args) + packed(*args)


def call(client: Any, data: bytes, replies: int) -> list[Any]:
    """Send packed commands ``data`` on a pooled connection; their ``replies`` replies.

    An error reply is raised once every reply is read, so the connection
    goes back to the pool clean.
    """
    pool = client.connection_pool
    connection = pool.get_connection("_")
    try:
        connection.send_packed_command([data])
        results: list[Any] = []
        error: ResponseError | None = None
        for _ in range(replies):
            try:
                results.append(connection.read_response())
            except ResponseError as exc:
                error = error or exc
        if error is not None:
            raise error
        return results
    except ResponseError:
        raise
    except BaseException:
        connection.disconnect()  # cut short: a late reply must not reach the next caller
        raise
    finally:
        pool.release(connection)


class HotScript:
    """A script called in a tight loop, on a connection of its own.

    Not thread-safe: one caller (the worker's loop). It takes its arguments
    already packed, so the caller packs constant keys once. A dropped or
    interrupted call disconnects, and the next connects again (through
    Sentinel too); a Redis that lost its script cache gets it loaded again.
    """

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.text = source(name)
        self.sha = hashlib.sha1(self.text.encode("utf-8")).hexdigest().encode()
        self._connection: Any = None

    def __call__(self, numkeys: int, count: int, body: bytes) -> Any:
        """Run it with ``numkeys`` keys among ``count`` packed arguments ``body``."""
        head = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%b\r\n" % (count + 3, self.sha) + packed(b"%d" % numkeys)
        try:
            return self._send(head + body)
        except NoScriptError:
            self.client.script_load(self.text)  # Redis restarted, or SCRIPT FLUSH
            return self._send(head + body)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.disconnect()
            self.client.connection_pool.release(connection)

    def _send(self, data: bytes) -> Any:
        if self._connection is None:
            self._connection = self.client.connection_pool.get_connection("EVALSHA")
        connection = self._connection
        try:
            connection.send_packed_command([data])
            return connection.read_response()
        except ResponseError:
            raise  # the reply was read: the connection is fine
        except BaseException:
            connection.disconnect()  # cut short: a late reply must never be read as the next call's
            raise
