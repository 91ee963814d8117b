"""Connections that run fastq's Lua scripts, one call or many in one round trip.

Both flavours share one contract:
- ``call(Call)`` runs one script and returns its reply;
- ``call_many(calls)`` pipelines them (no MULTI) in one round trip and returns the
  replies in order; a per-call Redis error is returned in place as an exception
  instance so one bad call does not hide the others' results;
- after ``NOSCRIPT`` (a restarted or flushed Redis) scripts are loaded again and
  only the calls that did not run are sent again;
- lost connections raise ``BrokerConnectionError`` naming the redacted URL;
  ``broker_error`` maps every other redis-py error onto fastq's tree (refused
  credentials, OOM, read-only replica), keeping the cause's redacted message.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import hiredis
import redis
import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    MasterDownError,
    NoScriptError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fastq import scripts
from fastq.config import RedisConfig
from fastq.errors import (
    BrokerAuthError,
    BrokerConfigError,
    BrokerConnectionError,
    BrokerError,
    BrokerOutOfMemoryError,
    BrokerReadOnlyError,
)
from fastq.rdb import wire
from fastq.rdb.topology import async_client, async_node_client, is_cluster, sync_client
from fastq.redact import redact_text

KeyT = str | bytes
ArgT = str | bytes | int | float


class Call(NamedTuple):
    """One script invocation: the script's file stem, its KEYS and its ARGV."""

    script: str
    keys: Sequence[KeyT]
    args: Sequence[ArgT]


_CONN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
# A failover in progress (cluster without a master for some slots, a replica not yet
# promoted): an outage to wait out, as a lost connection is.
_FAILOVER_ERRORS = (ClusterDownError, TryAgainError, MasterDownError)
# How Redis (and redis-py, which drops the error code on some paths) words a refusal
# that no retry can fix. The asyncio client reports them as plain ConnectionErrors.
_AUTH_REFUSALS = (
    "WRONGPASS",
    "NOAUTH",
    "invalid username-password pair",
    "Authentication required",
    "HELLO must be called with the client already authenticated",
    "invalid password",
)
_CONFIG_REFUSALS = ("DB index is out of range", "invalid DB index", "Invalid Database", "NOPERM")


def broker_error(exc: BaseException, target: str = "") -> BrokerError:
    """The fastq error for a redis-py exception (raise it ``from exc``).

    Args:
        exc: what redis-py raised, or an error reply returned in place.
        target: the redacted URL, named by connection and configuration errors.
    """
    text = str(exc)
    if isinstance(exc, (RedisConnectionError, ResponseError)):
        if isinstance(exc, AuthenticationError) or any(m in text for m in _AUTH_REFUSALS):
            return BrokerAuthError(target, exc)
        if any(m in text for m in _CONFIG_REFUSALS):
            return BrokerConfigError(target, exc)
    if isinstance(exc, RedisOutOfMemoryError) or "OOM command not allowed" in text:
        return BrokerOutOfMemoryError(_redis_words(text, "command not allowed"))
    if isinstance(exc, RedisReadOnlyError) or "READONLY You can't write" in text:
        return BrokerReadOnlyError(_redis_words(text, "You can't write"))
    if isinstance(exc, _CONN_ERRORS + _FAILOVER_ERRORS) or text.startswith("CLUSTERDOWN"):
        return BrokerConnectionError(target, exc)
    return BrokerError(redact_text(text))


def check_replies(replies: list[Any], target: str = "") -> list[Any]:
    """``replies`` of a ``call_many``, raising the first error reply as fastq's error."""
    for reply in replies:
        if isinstance(reply, BaseException):
            raise broker_error(reply, target) from reply
    return replies


def _redis_words(text: str, marker: str) -> str:
    """Redis's own refusal, without the "Error running script (call to f_<sha>)" wrapper."""
    at = text.find(marker)
    return text[at:] if at >= 0 else text


@contextlib.contextmanager
def translate_errors(target: str) -> Iterator[None]:
    """Map redis-py's exceptions onto fastq's tree; ``target`` is a redacted URL."""
    try:
        yield
    except NoScriptError:
        raise
    except (RedisError, OSError) as exc:
        raise broker_error(exc, target) from exc


def _evalsha_args(call: Call) -> tuple[Any, ...]:
    return ("EVALSHA", scripts.get(call.script).sha, len(call.keys), *call.keys, *call.args)


_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:  # hiredis packs a command in C, several times faster than redis-py's packers
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis comes with redis[hiredis]
    _hiredis_pack = None

# Bytes of packed commands per socket write: Redis starts running the first
# script while the next ones are still being packed.
_SEND_BYTES = 64 * 1024


def _pack(conn: redis.connection.AbstractConnection, args: tuple[Any, ...]) -> list[bytes]:
    if _hiredis_pack is not None:
        try:
            return [_hiredis_pack(args)]
        except (TypeError, ValueError):
            pass  # a type hiredis does not pack: let redis-py do it (and raise its error)
    return list(conn.pack_command(*args))


def pack_call(call: Call) -> bytes:
    """A script call as RESP bytes, for ``AsyncConn.call_parts``."""
    packed: bytes = hiredis.pack_command(_evalsha_args(call))
    return packed


def _dropped(exc: Exception) -> bool:
    """A lost connection (retried), not a timeout: Redis may still run a timed-out call."""
    return not isinstance(exc, RedisTimeoutError)


def _wire_roundtrip(w: wire.WireConn, request: bytes) -> Any:
    """One request on ``w``; a dropped connection is retried under redis-py's policy
    (a fresh connection, backing off), as redis-py's own commands are."""
    try:
        return w.roundtrip(request)
    except RedisConnectionError:
        return w.conn.retry.call_with_retry(
            lambda: w.roundtrip(request), lambda e: w.close(), is_retryable=_dropped
        )


class FastPackConnection(aioredis.Connection):
    """An asyncio TCP connection that packs commands with hiredis (redis-py's asyncio
    packer copies its buffer per argument; an ack batch has ~600 arguments)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if _hiredis_pack is not None and not (isinstance(args[0], str) and " " in args[0]):
            try:
                return [_hiredis_pack(args)]
            except (TypeError, ValueError):
                pass  # a type hiredis does not pack: let redis-py do it
        return super().pack_command(*args)


def use_fast_packer(client: aioredis.Redis) -> None:
    """Make a plain-TCP asyncio client pack with hiredis (TLS/unix pools are left alone)."""
    pool = client.connection_pool
    if pool.connection_class is aioredis.Connection:
        pool.connection_class = FastPackConnection


def _raise_outage(got: list[Any]) -> list[Any]:
    """Raise the first lost-connection or failover reply of a cluster pipeline (which
    returns them in place): the caller's outage path retries the whole batch, where
    a per-call error would be taken for the script's own refusal."""
    for reply in got:
        if isinstance(reply, _CONN_ERRORS + _FAILOVER_ERRORS):
            raise reply
    return got


def _is_noscript(reply: Any) -> bool:
    return isinstance(reply, NoScriptError) or (
        isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")
    )


def _merge_replies(
    replies: list[Any], todo: list[int], got: list[Any], *, retry: bool
) -> list[int]:
    """Store pipeline replies in place; return the indexes that hit NOSCRIPT (did not run)."""
    missing = []
    for i, reply in zip(todo, got, strict=True):
        if retry and _is_noscript(reply):
            missing.append(i)
        else:
            replies[i] = reply
    return missing


_SYNC_CONNS: weakref.WeakSet[SyncConn] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for c in list(_SYNC_CONNS):
        c._idle = []  # the parent's sockets: never used (nor closed) by the child
        c._idle_wire = []
        c._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


class SyncConn:
    """A blocking connection pool plus script runner.

    Script calls use their own small free list of connections rather than
    redis-py's pool, whose per-checkout pid checks and "unread data" poll cost
    three system calls per enqueue; a fork hook drops them in the child instead.
    On one server over plain TCP or a unix socket those connections are
    ``WireConn`` (fastq/rdb/wire.py): prebuilt requests, hiredis replies.
    """

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.target = config.redacted_url
        self.redis: redis.Redis = sync_client(config)
        # On a cluster every call goes through redis-py's cluster pipeline, which
        # sends each script to its slot's master and follows MOVED/ASK. Behind
        # Sentinel, a connection built from the pool's options asks the sentinels
        # for the current master whenever it dials (the options carry the pool).
        self.cluster = is_cluster(config)
        self._fast = config.topology in ("single", "sentinel")
        self.wire = self._fast and wire.usable(self.redis.connection_pool.connection_class)
        self._idle: list[redis.connection.AbstractConnection] = []
        self._idle_wire: list[wire.WireConn] = []
        self._lock = threading.Lock()
        _SYNC_CONNS.add(self)

    def _checkout(self) -> redis.connection.AbstractConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        pool = self.redis.connection_pool
        conn: redis.connection.AbstractConnection = pool.connection_class(**pool.connection_kwargs)
        return conn

    def _checkin(self, conn: redis.connection.AbstractConnection) -> None:
        with self._lock:
            self._idle.append(conn)

    def _checkout_wire(self) -> wire.WireConn:
        try:  # list.pop and list.append are atomic: no lock on the per-enqueue path
            return self._idle_wire.pop()
        except IndexError:
            pool = self.redis.connection_pool
            return wire.WireConn(pool.connection_class(**pool.connection_kwargs))

    def _checkin_wire(self, w: wire.WireConn) -> None:
        self._idle_wire.append(w)

    def call_request(self, request: bytes) -> Any:
        """Run one script call given as its RESP bytes, built ahead
        (``fastq._core.enqueue_request``), as ``call`` does. Only when ``wire``."""
        w = self._checkout_wire()
        try:  # translate_errors, inlined: this is the per-enqueue path
            reply = _wire_roundtrip(w, request)
            if type(reply) is not int and _is_noscript(reply):  # Redis restarted or was flushed
                self.load_scripts()
                reply = _wire_roundtrip(w, request)
            if isinstance(reply, BaseException):
                raise reply
        except NoScriptError:
            raise
        except (RedisError, OSError) as exc:
            raise broker_error(exc, self.target) from exc
        finally:
            self._checkin_wire(w)
        return reply

    def load_scripts(self) -> None:
        """Load every script into Redis's script cache (one round trip)."""
        with translate_errors(self.target):
            if self.cluster:  # redis-py sends SCRIPT LOAD to every master
                for s in scripts.all_scripts().values():
                    self.redis.script_load(s.source)
                return
            pipe = self.redis.pipeline(transaction=False)
            for s in scripts.all_scripts().values():
                pipe.execute_command("SCRIPT", "LOAD", s.source)
            pipe.execute()

    def call(self, call: Call) -> Any:
        reply = self.call_many((call,))[0]
        if isinstance(reply, BaseException):
            with translate_errors(self.target):
                raise reply
        return reply

    def call_many(
        self, calls: Sequence[Call], overlap: Callable[[], object] | None = None
    ) -> list[Any]:
        """Pipeline ``calls``; ``overlap`` (if given) runs once while Redis executes
        them, before the replies are read (the client builds its results there)."""
        replies: list[Any] = [None] * len(calls)
        todo: list[int] = list(range(len(calls)))
        for attempt in range(2):
            with translate_errors(self.target):
                if self.wire:
                    got = self._wire_stream(calls, todo, overlap)
                elif not self._fast:
                    got = self._pipeline(calls, todo, overlap)
                else:
                    got = self._stream(calls, todo, overlap)
            overlap = None
            todo = _merge_replies(replies, todo, got, retry=attempt == 0)
            if not todo:
                break
            self.load_scripts()
        return replies

    def _pipeline(
        self, calls: Sequence[Call], todo: list[int], overlap: Callable[[], object] | None
    ) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for i in todo:
            pipe.execute_command(*_evalsha_args(calls[i]))
        if overlap is not None:
            overlap()
        try:
            return _raise_outage(list(pipe.execute(raise_on_error=False)))
        except _CONN_ERRORS + _FAILOVER_ERRORS:
            if self.cluster:  # a master died: read the slot map again before the retry
                with contextlib.suppress(RedisError, OSError):
                    self.redis.nodes_manager.initialize()  # type: ignore[attr-defined]
            raise

    def _stream(
        self, calls: Sequence[Call], todo: list[int], overlap: Callable[[], object] | None
    ) -> list[Any]:
        # A pipeline written in pieces on one pooled connection (no MULTI), then read
        # back; redis-py's retry policy re-runs it on a fresh connection as its own
        # pipelines do. Per-call error replies come back in place.
        conn = self._checkout()
        ran_overlap = False

        def run() -> list[Any]:
            nonlocal ran_overlap
            buf: list[bytes] = []
            size = 0
            first = True
            for i in todo:
                for part in _pack(conn, _evalsha_args(calls[i])):
                    buf.append(part)
                    size += len(part)
                if size >= _SEND_BYTES:
                    conn.send_packed_command(buf, check_health=first)
                    buf, size, first = [], 0, False
            if buf:
                conn.send_packed_command(buf, check_health=first)
            if overlap is not None and not ran_overlap:
                ran_overlap = True
                overlap()
            got: list[Any] = []
            for _ in todo:
                try:
                    got.append(conn.read_response())
                except ResponseError as exc:
                    got.append(exc)
            return got

        def fail(error: Exception) -> None:
            conn.disconnect()

        try:
            return conn.retry.call_with_retry(run, fail)
        except BaseException:
            conn.disconnect()  # replies may be left unread on it
            raise
        finally:
            self._checkin(conn)

    def _wire_stream(
        self, calls: Sequence[Call], todo: list[int], overlap: Callable[[], object] | None
    ) -> list[Any]:
        # The same pipeline as _stream, on a WireConn.
        w = self._checkout_wire()
        try:
            chunks: list[bytes] = []
            buf: list[bytes] = []
            size = 0
            for i in todo:
                for part in _pack(w.conn, _evalsha_args(calls[i])):
                    buf.append(part)
                    size += len(part)
                if size >= _SEND_BYTES:
                    chunks.append(b"".join(buf))
                    buf, size = [], 0
            if buf:
                chunks.append(b"".join(buf))
            try:
                return w.pipeline(chunks, len(todo), overlap)
            except RedisConnectionError:
                return w.conn.retry.call_with_retry(  # type: ignore[no-any-return]
                    lambda: w.pipeline(chunks, len(todo)),
                    lambda e: w.close(),
                    is_retryable=_dropped,
                )
        finally:
            self._checkin_wire(w)

    def call_and_wait(self, call: Call, replicas: int, timeout_ms: int) -> tuple[Any, int]:
        """Run ``call``, then Redis ``WAIT replicas timeout_ms`` on the same
        connection (WAIT counts that connection's writes); returns the script's
        reply (an error reply in place) and how many replicas confirmed it."""
        client: Any = self.redis
        if self.cluster:  # the slot's master, over its own node client
            client = self.redis.get_node_from_key(call.keys[0]).redis_connection  # type: ignore[attr-defined]
        for attempt in range(2):
            with translate_errors(self.target):
                pipe = client.pipeline(transaction=False)
                pipe.execute_command(*_evalsha_args(call))
                pipe.execute_command("WAIT", replicas, timeout_ms)
                reply, acked = pipe.execute(raise_on_error=False)
            if attempt == 0 and _is_noscript(reply):
                self.load_scripts()
                continue
            break
        if isinstance(acked, BaseException):
            raise broker_error(acked, self.target) from acked
        return reply, int(acked)

    def ping(self) -> bool:
        with translate_errors(self.target):
            return bool(self.redis.ping())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            idle_wire, self._idle_wire = self._idle_wire, []
        for conn in idle:
            conn.disconnect()
        for w in idle_wire:
            w.close()
        self.redis.close()


class AsyncConn:
    """An asyncio connection pool plus script runner."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.target = config.redacted_url
        self.redis: aioredis.Redis = async_client(config)
        self.cluster = is_cluster(config)
        self._node_clients: dict[str, aioredis.Redis] = {}  # wait_replicas on a cluster
        if not self.cluster:
            use_fast_packer(self.redis)
        # One server (or Sentinel's master) over TCP, TLS or a unix socket: script
        # calls built as RESP bytes ahead go out on one pipelined connection
        # (fastq/rdb/wire.py).
        self.wire: wire.AsyncWire | None = None
        if config.topology in ("single", "sentinel"):
            pool = self.redis.connection_pool
            cls = pool.connection_class
            if cls is FastPackConnection or wire.usable(cls):
                self.wire = wire.AsyncWire(pool, config.socket_timeout)

    async def call_parts(
        self, parts: Sequence[bytes], overlap: Callable[[], object] | None = None
    ) -> list[Any]:
        """Run script calls given as RESP bytes, one part per call (only when ``wire``),
        in one round trip; replies in order, error replies in place, as ``call_many``.
        After NOSCRIPT the scripts are loaded and only those calls sent again.
        ``overlap`` (if given) runs once, after the first write, while Redis works."""
        assert self.wire is not None
        replies: list[Any] = [None] * len(parts)
        todo = list(range(len(parts)))
        for attempt in range(2):
            data = parts[todo[0]] if len(todo) == 1 else b"".join(parts[i] for i in todo)
            with translate_errors(self.target):
                got = await self._wire_request(data, len(todo), overlap)
            overlap = None
            todo = _merge_replies(replies, todo, got, retry=attempt == 0)
            if not todo:
                break
            await self.load_scripts()
        return replies

    async def _wire_request(
        self, data: bytes, n: int, between: Callable[[], object] | None = None
    ) -> list[Any]:
        assert self.wire is not None
        try:
            return await self.wire.request(data, n, between)
        except RedisConnectionError:
            # Dropped (a restart, CLIENT KILL, an idle timeout): once more on a fresh
            # connection, as redis-py's pool replaces a dead connection at checkout.
            # Not after a timeout: Redis may still be running the calls.
            return await self.wire.request(data, n)

    async def load_scripts(self) -> None:
        with translate_errors(self.target):
            if self.cluster:  # redis-py sends SCRIPT LOAD to every master
                for s in scripts.all_scripts().values():
                    await self.redis.script_load(s.source)
                return
            for attempt in range(2):
                pipe = self.redis.pipeline(transaction=False)
                for s in scripts.all_scripts().values():
                    pipe.execute_command("SCRIPT", "LOAD", s.source)
                try:
                    await pipe.execute()
                    return
                except RedisConnectionError:
                    # After a restart (the usual reason for NOSCRIPT) the pool's idle
                    # connection is dead; it was dropped, so a second try dials anew.
                    if attempt:
                        raise

    def _wire_parts(self, calls: Sequence[Call]) -> list[bytes] | None:
        """The calls as RESP bytes for the kept pipelined connection, or None (no wire,
        or an argument hiredis does not pack: redis-py's pipeline takes them)."""
        if self.wire is None or _hiredis_pack is None:
            return None
        try:
            return [_hiredis_pack(_evalsha_args(c)) for c in calls]
        except (TypeError, ValueError):
            return None

    async def call(self, call: Call) -> Any:
        # The worker's fetches and acknowledgements: on one server, the kept pipelined
        # connection (no redis-py command or pipeline object per call).
        parts = self._wire_parts((call,))
        if parts is not None:
            reply = (await self.call_parts(parts))[0]
            if isinstance(reply, Exception):
                with translate_errors(self.target):
                    raise reply
            return reply
        with translate_errors(self.target):
            try:
                return await self.redis.execute_command(*_evalsha_args(call))
            except NoScriptError:
                await self.load_scripts()
                return await self.redis.execute_command(*_evalsha_args(call))

    async def call_many(self, calls: Sequence[Call]) -> list[Any]:
        parts = self._wire_parts(calls) if calls else None
        if parts is not None:
            got = await self.call_parts(parts)
            with translate_errors(self.target):
                return _raise_outage(got)  # e.g. LOADING: an outage, as below
        replies: list[Any] = [None] * len(calls)
        todo: list[int] = list(range(len(calls)))
        for attempt in range(2):
            with translate_errors(self.target):
                pipe = self.redis.pipeline(transaction=False)
                for i in todo:
                    pipe.execute_command(*_evalsha_args(calls[i]))
                got = _raise_outage(await pipe.execute(raise_on_error=False))
            todo = _merge_replies(replies, todo, got, retry=attempt == 0)
            if not todo:
                break
            await self.load_scripts()
        return replies

    async def call_and_wait(self, call: Call, replicas: int, timeout_ms: int) -> tuple[Any, int]:
        """``SyncConn.call_and_wait`` for asyncio: the script, then ``WAIT`` on the
        same connection (on a cluster, a plain client on the slot's master)."""
        client: Any = self.redis
        if self.cluster:
            node = self.redis.get_node_from_key(call.keys[0])  # type: ignore[attr-defined]
            client = self._node_clients.get(node.name)
            if client is None:
                client = async_node_client(self.config, host=node.host, port=node.port)
                self._node_clients[node.name] = client
        for attempt in range(2):
            with translate_errors(self.target):
                pipe = client.pipeline(transaction=False)
                pipe.execute_command(*_evalsha_args(call))
                pipe.execute_command("WAIT", replicas, timeout_ms)
                reply, acked = await pipe.execute(raise_on_error=False)
            if attempt == 0 and _is_noscript(reply):
                await self.load_scripts()
                continue
            break
        if isinstance(acked, BaseException):
            raise broker_error(acked, self.target) from acked
        return reply, int(acked)

    async def ping(self) -> bool:
        with translate_errors(self.target):
            return bool(await self.redis.ping())

    async def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
        for client in self._node_clients.values():
            await client.aclose()
        await self.redis.aclose()
