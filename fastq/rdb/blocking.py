"""The engine's dedicated blocking connections: wake-up waits and cancel notices.

Kept apart from ``rdb/worker.py`` (pure call builders and reply parsers) so that
module stays free of I/O; like ``conn.py`` these own connections and issue
commands, which is why they stay in ``rdb/`` (the only layer that talks to Redis).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import NoScriptError, ResponseError

from fastq import keys, scripts
from fastq.config import RedisConfig
from fastq.errors import BrokerError
from fastq.rdb.conn import Call, broker_error, translate_errors, use_fast_packer
from fastq.rdb.topology import async_client, async_node_client, is_cluster
from fastq.rdb.worker import wake_keys

_log = structlog.get_logger("fastq.worker")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _reply(conn: Any) -> Any:
    """One reply off a raw connection; an error reply is returned, not raised."""
    try:
        return await conn.read_response()
    except ResponseError as exc:
        return exc


class WakeWaiter:
    """Blocks on the queues' wake keys (BLPOP) over its own connection.

    An idle worker waits here instead of sleeping: fastq producers push a token on
    every pending enqueue. The timeout is the poll interval, so tasks that Go
    producers enqueue (no token) are still found quickly.
    """

    def __init__(self, config: RedisConfig, queues: Sequence[str]) -> None:
        kw = config.connection_kwargs()
        kw["socket_timeout"] = None  # a blocking pop must not trip the socket timeout
        self._redis: aioredis.Redis = async_client(config, **kw)
        # A BLPOP over several queues' wake keys spans hash slots: on a cluster the
        # worker polls instead (see Fetcher, which splits its dequeue per queue).
        self.cluster = is_cluster(config)
        if not self.cluster:
            use_fast_packer(self._redis)
        self._keys = wake_keys(queues)
        self._target = config.redacted_url
        self._warned_until = 0.0
        self.blocked_id: int | None = None  # client id of the connection in BLPOP

    async def wait_then_call(self, timeout: float, call: Call) -> Any:
        """Block for a wake-up token (up to ``timeout``), then run ``call`` at once.

        Both go out in one write on this connection, so Redis runs the script the
        moment the pop returns: a woken worker gets its tasks without another round
        trip. While the pop blocks, ``blocked_id`` is this connection's client id,
        so a keyspace event can end the wait with ``CLIENT UNBLOCK`` (the script
        then runs as after a token). Returns the script's reply; raises
        ``NoScriptError`` if Redis does not have the script yet (the caller runs it
        on its main connection).
        """
        script = scripts.get(call.script)
        commands = [
            ("CLIENT", "ID"),
            ("BLPOP", *self._keys, max(timeout, 0.01)),
            ("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args),
        ]
        pool = self._redis.connection_pool
        with translate_errors(self._target):
            conn = await pool.get_connection()
            try:
                # Raw reads, not a pipeline: the id is known before the pop returns.
                await conn.send_packed_command(conn.pack_commands(commands))
                ident = await _reply(conn)
                self.blocked_id = ident if isinstance(ident, int) else None
                popped = await _reply(conn)
                self.blocked_id = None
                reply = await _reply(conn)
            except BaseException:
                self.blocked_id = None
                await conn.disconnect()  # replies may be left unread: never reuse it
                raise
            finally:
                await pool.release(conn)
        if isinstance(popped, BaseException):
            # A wake key of the wrong type answers at once: wait out the poll
            # interval anyway, or an idle worker would spin.
            now = time.monotonic()
            if now >= self._warned_until:
                self._warned_until = now + 60
                _log.warning("cannot wait on wake keys", error=str(popped))
            await asyncio.sleep(timeout)
        if isinstance(reply, BaseException):
            if isinstance(reply, NoScriptError) or str(reply).startswith("NOSCRIPT"):
                raise NoScriptError(str(reply))
            raise broker_error(reply) from reply  # OOM / read-only keep their classes
        return reply

    async def close(self) -> None:
        await self._redis.aclose()


class CancelListener:
    """Subscribes to ``asynq:cancel``; yields the task ids to cancel.

    On a cluster it subscribes on one node (a PUBLISH reaches every node) and moves
    to the next listed node after a failure, so a dead node does not silence it.
    """

    def __init__(self, config: RedisConfig) -> None:
        self._config = config
        self._node = 0
        self._failed = False  # the last subscription failed: next node, on a cluster
        self._redis: aioredis.Redis = self._client()
        self._target = config.redacted_url

    def _client(self) -> aioredis.Redis:
        if is_cluster(self._config):
            host, port = self._config.nodes[self._node % len(self._config.nodes)]
            return async_node_client(self._config, socket_timeout=None, host=host, port=port)
        return async_node_client(self._config, socket_timeout=None)

    async def listen(self) -> AsyncIterator[str]:
        if self._failed and is_cluster(self._config):
            await self._redis.aclose()
            self._node += 1
            self._redis = self._client()
        self._failed = False
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            with translate_errors(self._target):
                await pubsub.subscribe(keys.CANCEL_CHANNEL)
            while True:
                with translate_errors(self._target):
                    message = await pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    yield _s(message["data"])
        except BrokerError:
            self._failed = True
            raise
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self._redis.aclose()
