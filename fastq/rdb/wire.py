"""Kept connections for the producer's fast path: prebuilt requests out, hiredis in.

A blocking enqueue spent most of its client CPU in redis-py's per-command layers
(argument packing, the retry wrapper, the parser's buffer handling) and in two
``poll`` calls CPython makes before every ``send``/``recv`` on a socket with a
timeout. ``WireConn`` keeps what redis-py does well (dialing and the handshake:
AUTH, SELECT, HELLO, client name) and does the rest itself:

- the socket is put in blocking mode with ``SO_SNDTIMEO``/``SO_RCVTIMEO`` set to the
  configured socket timeout, so the kernel enforces the timeout without a ``poll``
  (not a TLS socket: below);
- requests are bytes built ahead (``fastq._core.enqueue_request``, or hiredis'
  ``pack_command``), sent with one ``sendall``;
- replies are read into one reusable buffer and parsed by hiredis' ``Reader``, with
  redis-py's error classes (``NOSCRIPT``, ``OOM``, ``READONLY``...) returned in place.

Failures raise redis-py's ``ConnectionError``/``TimeoutError``, so callers keep
redis-py's retry policy and fastq's error mapping. Used for TCP, TLS and unix
sockets, on one server or behind Sentinel (``usable``); the cluster goes through
redis-py as before. A TLS socket keeps Python's own timeout (a ``poll`` before each
call): a read on a blocking TLS socket goes on waiting past ``SO_RCVTIMEO`` (with
0.2 s set, one was still blocked after 3 s). Behind Sentinel, redis-py's connection
dials whatever the sentinels name as the master at each (re)connect, and a
``READONLY`` reply on a master connection (the server it reached was demoted)
drops the connection and raises ``ConnectionError``, as redis-py's
``SentinelManagedConnection`` does: the retry reconnects to the new master.

``AsyncWire`` is the asyncio counterpart for ``AsyncClient`` and for a worker's
fetches and acknowledgements (``AsyncConn.call``/``call_many``): one pipelined
connection whose requests go out as they come and whose replies are matched to
them in order, with no pool checkout or pipeline object per request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_READ_SIZE = 64 * 1024
_PING = b"*1\r\n$4\r\nPING\r\n"


def usable(conn_class: type) -> bool:
    """Whether connections of ``conn_class`` may take the fast path: redis-py's own
    TCP, TLS and unix socket connections, and Sentinel's (not a subclass of the
    caller's, whose I/O fastq would bypass)."""
    return conn_class in (
        redis.Connection,
        redis.SSLConnection,
        redis.UnixDomainSocketConnection,
        redis.sentinel.SentinelManagedConnection,
        aioredis.Connection,
        aioredis.SSLConnection,
        aioredis.UnixDomainSocketConnection,
        aiosentinel.SentinelManagedConnection,
    )


def follows_master(pool: object) -> bool:
    """Whether ``pool`` is Sentinel's pool for the master: its connections dial the
    address the sentinels give, so a demoted server is left by reconnecting."""
    return bool(getattr(pool, "is_master", False))


def demoted(replies: Sequence[Any]) -> RedisConnectionError | None:
    """The error to raise when a master connection's replies say the server is a
    replica now (``READONLY``, raw or inside a script error), else None."""
    for reply in replies:
        if isinstance(reply, ReadOnlyError) or (
            isinstance(reply, ResponseError) and "READONLY You can't write" in str(reply)
        ):
            return RedisConnectionError("the master was demoted to a replica")
    return None


def _reader() -> hiredis.Reader:
    # Error replies come back as redis-py's exception instances (not raised).
    return hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)


class WireConn:
    """One connection: redis-py's ``Connection`` dials it, fastq does the I/O.

    Args:
        conn: an unconnected redis-py connection carrying the pool's options.
    """

    __slots__ = ("buf", "conn", "demotable", "idle_check", "reader", "sock", "used")

    def __init__(self, conn: redis.connection.AbstractConnection) -> None:
        self.conn = conn
        self.demotable = follows_master(getattr(conn, "connection_pool", None))
        self.sock: socket.socket | None = None
        self.reader = _reader()
        self.buf = bytearray(_READ_SIZE)
        self.idle_check = float(getattr(conn, "health_check_interval", 0) or 0)
        self.used = 0.0  # time.monotonic() of the last request

    def _socket(self) -> socket.socket:
        """The connected socket. One idle for longer than the health-check interval
        gets a PING first (as redis-py does) and is dialled again if that fails: a
        request is not sent on a connection that died while idle."""
        sock = self.sock
        now = time.monotonic()
        if sock is not None and self.idle_check and now - self.used > self.idle_check:
            try:
                sock.sendall(_PING)
                reply = self.reader.gets()
                while reply is False:
                    reply = self._more(sock, self.reader)
                if reply != b"PONG":
                    raise ConnectionResetError(f"health check answered {reply!r}")
            except Exception:
                self.close()
                sock = None
        if sock is None:
            sock = self.open()
        self.used = now
        return sock

    def open(self) -> socket.socket:
        """Dial and hand-shake (redis-py, with its retry policy), then go blocking."""
        conn = self.conn
        conn.connect()
        sock: socket.socket | None = conn._sock
        if sock is None:  # pragma: no cover - connect() raises instead
            raise RedisConnectionError("no socket after connect")
        timeout = sock.gettimeout()
        # Windows takes milliseconds there, and a read on a blocking TLS socket retries
        # past the kernel's timeout (it would wait for ever): both keep Python's own.
        if sys.platform != "win32" and not isinstance(sock, ssl.SSLSocket):
            sock.settimeout(None)
            if timeout:
                tv = struct.pack("@ll", int(timeout), int((timeout % 1) * 1_000_000))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        self.reader = _reader()  # nothing left over from a dropped connection
        self.sock = sock
        return sock

    def close(self) -> None:
        self.sock = None
        self.conn.disconnect()

    def roundtrip(self, request: bytes) -> Any:
        """Send one request, return its reply (an error reply as an exception instance)."""
        sock = self._socket()
        reader = self.reader
        try:
            sock.sendall(request)
            reply = reader.gets()
            while reply is False:
                reply = self._more(sock, reader)
        except OSError as exc:
            raise self._lost(exc) from exc
        except BaseException:  # a bad reply, an interrupt: replies may be left unread
            self.close()
            raise
        if self.demotable and isinstance(reply, ResponseError):
            self._leave_if_demoted((reply,))
        return reply

    def pipeline(self, requests: Sequence[bytes], n_replies: int, between: Any = None) -> list[Any]:
        """Send ``requests`` (chunks of one pipeline), call ``between()`` if given while
        Redis works, then read ``n_replies`` replies in order."""
        sock = self._socket()
        reader = self.reader
        out: list[Any] = []
        try:
            for chunk in requests:
                sock.sendall(chunk)
            if between is not None:
                between()
            while len(out) < n_replies:
                reply = reader.gets()
                while reply is False:
                    reply = self._more(sock, reader)
                out.append(reply)
        except OSError as exc:
            raise self._lost(exc) from exc
        except BaseException:
            self.close()
            raise
        if self.demotable:
            self._leave_if_demoted(out)
        return out

    def _leave_if_demoted(self, replies: Sequence[Any]) -> None:
        error = demoted(replies)
        if error is not None:
            self.close()  # the next request asks the sentinels again
            raise error

    def _more(self, sock: socket.socket, reader: hiredis.Reader) -> Any:
        n = sock.recv_into(self.buf)
        if not n:
            raise ConnectionResetError("Connection closed by server.")
        reader.feed(self.buf, 0, n)  # type: ignore[arg-type]  # any buffer will do
        return reader.gets()

    def _lost(self, exc: OSError) -> Exception:
        """redis-py's error for a failed socket call (the connection is dropped)."""
        self.close()
        if isinstance(exc, (BlockingIOError, socket.timeout)):  # SO_RCVTIMEO/SO_SNDTIMEO ran out
            return RedisTimeoutError("Timeout reading from socket")
        return RedisConnectionError(f"Error while reading from {self._where()}: {exc}")

    def _where(self) -> str:
        path = getattr(self.conn, "path", None)
        if path:
            return str(path)
        return f"{getattr(self.conn, 'host', '?')}:{getattr(self.conn, 'port', '?')}"


class _Waiter:
    """A request's future and the replies it still expects."""

    __slots__ = ("fut", "left", "replies")

    def __init__(self, fut: asyncio.Future[list[Any]], n: int) -> None:
        self.fut = fut
        self.left = n
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    """Reads replies of pipelined requests in order and hands each request its own."""

    def __init__(self, transport: asyncio.Transport, keep: object) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.used = self.loop.time()  # of the last request
        # The redis-py connection and its StreamWriter: CPython 3.11.5+ closes a
        # transport when its StreamWriter is garbage-collected.
        self.keep = keep
        self.reader = _reader()
        self.waiters: collections.deque[_Waiter] = collections.deque()
        self.lost: Exception | None = None

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiters = self.waiters
        try:
            reply = reader.gets()
            while reply is not False:
                w = waiters[0]
                w.replies.append(reply)
                w.left -= 1
                if not w.left:
                    waiters.popleft()
                    if not w.fut.done():  # its caller may have been cancelled
                        w.fut.set_result(w.replies)
                reply = reader.gets()
        except Exception as exc:  # a protocol error, or a reply nobody asked for
            self.fail(RedisConnectionError(f"bad reply from Redis: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Connection closed by server: {exc or 'EOF'}"))

    def fail(self, exc: Exception) -> None:
        """Drop the connection: every request still waiting gets ``exc``."""
        if self.lost is None:
            self.lost = exc
            self.transport.abort()
        while self.waiters:
            w = self.waiters.popleft()
            if not w.fut.done():
                w.fut.set_exception(exc)


class AsyncWire:
    """One pipelined asyncio connection: requests (RESP bytes) go out as they come,
    replies are matched to them in order. redis-py's connection dials it and does
    the handshake; then the transport's protocol becomes fastq's ``_Protocol``.

    Args:
        pool: the redis-py pool whose connection class and options are used.
        timeout: seconds a request may wait for its replies (the socket timeout);
            past it the connection is dropped and its requests fail.
    """

    def __init__(self, pool: aioredis.ConnectionPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._demotable = follows_master(pool)
        self._idle_check = float(pool.connection_kwargs.get("health_check_interval") or 0)
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            proto = self._proto
            if proto is not None and proto.lost is None:
                return proto  # another caller connected meanwhile
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            await conn.connect()
            writer = conn._writer
            if writer is None:  # pragma: no cover - connect() raises instead
                raise RedisConnectionError("no transport after connect")
            transport = writer.transport
            conn._reader = conn._writer = None  # the transport is ours now
            proto = _Protocol(transport, (conn, writer))  # type: ignore[arg-type]
            transport.set_protocol(proto)
            self._proto = proto
            return proto

    async def request(
        self, data: bytes, n_replies: int, between: Callable[[], object] | None = None
    ) -> list[Any]:
        """Send ``data`` (``n_replies`` commands) and return their replies in order;
        error replies come back in place as redis-py's exception instances.
        ``between()``, if given, runs once the request is written, while Redis works."""
        loop = asyncio.get_running_loop()
        proto = self._proto
        if proto is not None and proto.loop is not loop:  # a new event loop: start over
            with contextlib.suppress(Exception):  # the old loop may be closed
                proto.transport.abort()
            self._proto = proto = None
            self._connecting = None
        if proto is not None and self._idle_for_long(proto):
            await self._health_check(proto)
        if proto is None or proto.lost is not None:
            proto = await self._connect()
        replies = await self._send(proto, data, n_replies, between)
        if self._demotable:
            error = demoted(replies)
            if error is not None:
                proto.fail(error)  # the next request asks the sentinels again
                raise error
        return replies

    def _idle_for_long(self, proto: _Protocol) -> bool:
        if proto.lost is not None or proto.waiters or not self._idle_check:
            return False
        return proto.loop.time() - proto.used > self._idle_check

    async def _health_check(self, proto: _Protocol) -> None:
        """PING a connection that was idle, as redis-py's health check does, so a
        request is not sent on a connection that died meanwhile; a failed check
        drops it (the caller then dials again)."""
        try:
            if await self._send(proto, _PING, 1) != [b"PONG"]:
                proto.fail(RedisConnectionError("health check failed"))
        except (RedisConnectionError, RedisTimeoutError):
            pass

    async def _send(
        self,
        proto: _Protocol,
        data: bytes,
        n_replies: int,
        between: Callable[[], object] | None = None,
    ) -> list[Any]:
        if proto.lost is not None:  # a request on a dead transport would wait in vain
            raise proto.lost
        loop = proto.loop
        proto.used = loop.time()
        w = _Waiter(loop.create_future(), n_replies)
        proto.waiters.append(w)
        # No flow control: the request is already built, whole, in memory; the
        # transport holds it until the socket takes it.
        proto.transport.write(data)
        if between is not None:
            between()
        if self._timeout is None:
            return await w.fut
        timer = loop.call_later(self._timeout, _time_out, proto, w)
        try:
            return await w.fut
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._proto is not None:
            self._proto.fail(RedisConnectionError("connection closed by the client"))
            self._proto = None


def _time_out(proto: _Protocol, w: _Waiter) -> None:
    if not w.fut.done():
        proto.fail(RedisTimeoutError("Timeout reading from socket"))
