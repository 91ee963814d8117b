"""Keyspace notifications on the pending lists: wake-ups for tasks nobody announced.

fastq producers push a wake token with every enqueue, which an idle worker's
BLPOP returns on. Producers that do not (Go Asynq, Asynqmon's "run", a scheduler
in another language) only LPUSH the pending list, and such a task used to wait
for the worker's next poll (100 ms). When the server publishes keyspace events
for lists (``notify-keyspace-events`` holding ``K`` and ``l`` or ``A``), an idle
worker subscribed to its queues' pending-list channels ends its own blocked
BLPOP on each push (``CLIENT UNBLOCK`` on the waiting connection's id), and the
fetch pipelined behind that BLPOP runs at once. Where Redis refuses CLIENT UNBLOCK
(an ACL without it), it pushes a wake token instead. It also hears the wake lists:
a push that came with a fastq wake token (both events arrive together) ends no
wait, since the token wakes a worker already. (A fastq push onto a full wake list
brings no token event; no worker is blocked on a non-empty list, so at most a
CLIENT UNBLOCK that ends nothing follows.) The poll stays as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import redis
import redis.asyncio as aioredis
import structlog

from fastq import keys
from fastq.config import RedisConfig
from fastq.rdb.conn import translate_errors
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.rdb.topology import async_client, is_cluster, sync_client

_log = structlog.get_logger("fastq.worker")

# Events on a pending list that make a task pending (pops, LREM and the like do not).
PUSH_EVENTS = frozenset({b"lpush", b"rpush", b"linsert", b"lset"})
CONFIRM_TIMEOUT = 1.0  # seconds to wait for Redis to confirm the subscriptions
RETRY_AFTER = 30.0  # seconds before trying to subscribe again after a failure


def merged_flags(current: str) -> str | None:
    """``notify-keyspace-events`` with list keyspace events added, or None when
    ``current`` already publishes them (``K`` plus ``l`` or ``A``)."""
    keyspace = "K" in current
    lists = "l" in current or "A" in current
    if keyspace and lists:
        return None
    return current + ("" if keyspace else "K") + ("" if lists else "l")


def enable_keyspace_events(
    config: RedisConfig, client: redis.Redis | None = None
) -> tuple[bool, str]:
    """Make the server publish keyspace events for lists (CONFIG SET), keeping the
    flags already set. Returns (published now, what happened) and never raises:
    a managed Redis that refuses CONFIG leaves the workers on their poll.

    Args:
        config: how to reach Redis.
        client: an open client to ``config`` to use (left open), instead of a new one.
    """
    if is_cluster(config):
        return False, "a cluster: each node has its own CONFIG; workers poll its queues"
    own = client is None
    if client is None:
        client = sync_client(config)
    try:
        current = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        current = current.decode() if isinstance(current, bytes) else str(current)
        wanted = merged_flags(current)
        if wanted is None:
            return True, f"already on ({current!r})"
        client.config_set("notify-keyspace-events", wanted)
        return True, f"turned on: {current!r} -> {wanted!r}"
    except redis.RedisError as exc:
        return False, str(exc)
    finally:
        if own:
            client.close()


class KeyspaceWaker:
    """Subscribes, while armed, to the queues' pending-list keyspace channels and
    ends the worker's blocked wait for each push it hears while the worker waits.

    ``arm`` before an idle wait (cheap when already armed); ``disarm`` once the
    worker is busy, so a busy worker does not read an event per enqueue. Events
    heard while not waiting set ``noticed``, which the next wait consumes instead
    of blocking. ``woken`` counts the waits ended (observability and tests), of
    which ``unblocked`` by ``CLIENT UNBLOCK`` and the rest by a wake token.

    Args:
        config: how to reach Redis.
        queues: the queues whose pending lists to watch.
        blocked: the client id of the connection blocked in the worker's wait
            (``WakeWaiter.blocked_id``), None when it is not blocked.
    """

    def __init__(
        self,
        config: RedisConfig,
        queues: Sequence[str],
        blocked: Callable[[], int | None] = lambda: None,
    ) -> None:
        # No socket timeout: the subscription is idle for as long as no one pushes.
        self._redis: aioredis.Redis = async_client(config, socket_timeout=None)
        self._wake = {
            keys.keyspace_channel(config.db, keys.pending_key(q)).encode(): keys.wake_key(q)
            for q in queues
        }
        # Wake list channel -> pending channel: a push that came with a fastq wake
        # token already wakes a worker (BLPOP), so it ends no other wait.
        self._tokens = {
            keys.keyspace_channel(config.db, wake).encode(): pending
            for pending, wake in self._wake.items()
        }
        self._target = config.redacted_url
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed = asyncio.Event()
        self._armed = False
        self._retry_at = 0.0
        self.waiting = False
        self.noticed = False
        self.woken = 0
        self.unblocked = 0
        self._blocked = blocked
        self._can_unblock = True  # False once Redis refused CLIENT UNBLOCK

    @property
    def armed(self) -> bool:
        """Subscribed and confirmed: a push now is heard."""
        return self._armed

    async def arm(self) -> bool:
        """Subscribe unless already subscribed; True when events will be heard.

        True only once Redis confirmed every subscription, so a push after this
        returns is heard. Returns False (the poll covers) when Redis is unreachable
        or refuses SUBSCRIBE, and does not retry for RETRY_AFTER seconds.
        """
        if self._armed:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            with translate_errors(self._target):
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                self._confirmed.clear()
                await self._pubsub.subscribe(*self._wake, *self._tokens)
                if self._reader is None or self._reader.done():
                    self._reader = asyncio.create_task(self._read(self._pubsub))
                await asyncio.wait_for(self._confirmed.wait(), CONFIRM_TIMEOUT)
        except Exception as exc:  # the poll covers; never fail the fetch loop over this
            self._retry_at = time.monotonic() + RETRY_AFTER
            _log.warning("keyspace wake-ups unavailable, polling", error=str(exc))
            await self._reset()
            return False
        self._armed = True
        return True

    async def disarm(self) -> None:
        """Unsubscribe (the connection stays open for the next ``arm``)."""
        if not self._armed or self._pubsub is None:
            return
        self._armed = False
        self.noticed = False
        try:
            with translate_errors(self._target):
                await self._pubsub.unsubscribe()
        except Exception:
            await self._reset()

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        channels = len(self._wake) + len(self._tokens)
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                # Everything already received: one script's pending push and wake
                # token arrive together, and are judged together.
                batch = [message]
                while (more := await pubsub.get_message(timeout=0.0)) is not None:
                    batch.append(more)
                pushed: dict[bytes, None] = {}
                tokened: set[bytes] = set()
                for m in batch:
                    kind = m["type"]
                    if kind in ("subscribe", b"subscribe"):
                        if int(m["data"]) == channels:
                            self._confirmed.set()
                    elif kind in ("message", b"message") and m["data"] in PUSH_EVENTS:
                        channel = m["channel"]
                        if channel in self._tokens:
                            tokened.add(self._tokens[channel])
                        else:
                            pushed[channel] = None
                for channel in pushed:
                    if channel not in tokened:
                        await self._heard(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dropped connection: the next arm subscribes again
            _log.debug("keyspace listener stopped", error=str(exc))
            self._armed = False

    async def _heard(self, channel: bytes) -> None:
        wake = self._wake.get(channel)
        if wake is None or not self._armed:
            return
        if not self.waiting:
            self.noticed = True
            return
        ident = self._blocked()
        if ident is not None and self._can_unblock:
            try:
                ended = await self._redis.execute_command("CLIENT", "UNBLOCK", ident)
            except redis.ResponseError as exc:  # an ACL without it, or Redis < 5
                self._can_unblock = False
                _log.info("CLIENT UNBLOCK refused; waking with tokens", error=str(exc))
            else:
                if ended:
                    self.woken += 1
                    self.unblocked += 1
                else:
                    # The wait already returned (a token, or its timeout), perhaps
                    # before this push: the next wait fetches first.
                    self.noticed = True
                return
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(wake, "1")
        pipe.ltrim(wake, 0, DEFAULT_WAKE_TOKENS - 1)  # the producers' cap
        await pipe.execute()
        self.woken += 1

    async def _reset(self) -> None:
        self._armed = False
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def close(self) -> None:
        await self._reset()
        await self._redis.aclose()
