"""Fetching: one script call moves up to K tasks to active; idle waits block on wake keys.

Queues with a concurrency cap or a rate limit pass them to the dequeue script (see
docs/flow-control.md); caps stored in Redis are re-read every ``LIMITS_REFRESH``
seconds. A queue with neither adds nothing to a fetch.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

from redis.exceptions import NoScriptError

from fastq._core import QueueOrder
from fastq.errors import BrokerError
from fastq.rdb import flow as rdb_flow
from fastq.rdb import worker as rdb
from fastq.rdb.blocking import WakeWaiter
from fastq.rdb.conn import AsyncConn, broker_error
from fastq.rdb.notify import KeyspaceWaker
from fastq.rdb.plan import run_async
from fastq.rdb.topology import is_cluster
from fastq.worker.settings import WorkerSettings

LIMITS_REFRESH = 1.0  # seconds between reads of the caps stored in Redis
CAP_WAKE_WINDOW = 5.0  # seconds after a cap last held tasks back that releases wake workers
FRESH_FETCH_EVERY = 1.0  # seconds between immediate fetches right after subscribing


class Fetcher:
    """Dequeues in the weighted (or strict) queue order and waits for wake-ups.

    Args:
        settings: queues, weights, strictness, lease duration, poll interval.
        conn: the process's script connection.
        clock: unix time source (tests inject one).
    """

    def __init__(
        self, settings: WorkerSettings, conn: AsyncConn, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.clock = clock
        self.order = QueueOrder(settings.queues, settings.strict_priority)
        self.waiter = WakeWaiter(settings.redis, list(settings.queues))
        # Keyspace events are per node: a cluster's fetcher polls (see wait_then_fetch).
        listen = settings.keyspace_wakeups and not is_cluster(settings.redis)
        self.notices = (
            KeyspaceWaker(settings.redis, list(settings.queues), lambda: self.waiter.blocked_id)
            if listen
            else None
        )
        self._stored: dict[str, int] = {}
        self._waking: frozenset[str] = frozenset()
        self._cap_bound_at = float("-inf")
        self.flow = self._build_flow()
        self._next_refresh = 0.0
        self._fresh_fetch_at = float("-inf")
        # Seconds until a rate-limited queue that held tasks back has a token due
        # (None: none did in the last fetch).
        self.rate_due: float | None = None

    @property
    def has_caps(self) -> bool:
        """A queue of this worker has a concurrency cap (configured or stored in Redis)."""
        return bool(self._capped)

    def capped(self) -> frozenset[str]:
        """The capped queues whose finished tasks should wake idle workers: all of them
        while a cap held tasks back within the last ``CAP_WAKE_WINDOW`` seconds (a
        worker may be idle waiting for a slot), else none (no cap binds: waking no one
        costs nothing)."""
        return self._waking

    def _build_flow(self) -> dict[str, rdb.QueueFlow]:
        flow: dict[str, rdb.QueueFlow] = {}
        for q in self.settings.queues:
            cap = self._stored.get(q) or self.settings.queue_limits.get(q, 0)
            rate = self.settings.rate_limits.get(q)
            if cap or rate:
                interval, burst = (rate.interval_ms, rate.burst) if rate else (0, 1)
                flow[q] = rdb.QueueFlow(cap, interval, burst)
        self._capped = frozenset(q for q, f in flow.items() if f.cap)
        self._waking = self._waking & self._capped
        return flow

    async def refresh_limits(self) -> None:
        """Re-read the caps stored in Redis if ``LIMITS_REFRESH`` has passed."""
        now = self.clock()
        if now < self._next_refresh:
            return
        self._next_refresh = now + LIMITS_REFRESH
        try:
            stored = await run_async(self.conn, rdb_flow.queue_limits())
        except BrokerError:
            return  # keep the last known caps; the fetch itself reports the outage
        if stored != self._stored:
            self._stored = stored
            self.flow = self._build_flow()

    def _call(self, queues: list[str], count: int, expiry: int) -> rdb.Call:
        quotas = self._quotas(queues, count)
        max_bytes = self.settings.fetch_max_bytes
        if not self.flow:
            return rdb.dequeue_call(queues, count, expiry, quotas, max_bytes)
        return rdb.dequeue_call(queues, count, expiry, quotas, max_bytes, self.flow, self.clock())

    def _parse(self, queues: list[str], reply: list[object]) -> list[rdb.Fetched]:
        if self.flow:
            self.rate_due = rdb.rate_due(reply)
            if self._capped:
                now = self.clock()
                if rdb.cap_bound(reply):
                    self._cap_bound_at = now
                bound = now - self._cap_bound_at < CAP_WAKE_WINDOW
                self._waking = self._capped if bound else frozenset()
        return rdb.parse_dequeue(queues, reply)

    async def fetch(self, count: int) -> tuple[list[rdb.Fetched], int]:
        """Move up to ``count`` tasks to active; returns them and their lease score."""
        fetched, expiry = await self._fetch(count)
        if self.notices is not None and fetched and self.notices.armed:
            await self.notices.disarm()  # busy: stop hearing an event per enqueue
        return fetched, expiry

    async def _fetch(self, count: int) -> tuple[list[rdb.Fetched], int]:
        await self.refresh_limits()
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration)
        if self.conn.cluster:
            return await self._fetch_per_slot(queues, count, expiry), expiry
        reply = await self.conn.call(self._call(queues, count, expiry))
        return self._parse(queues, reply), expiry

    async def wait_then_fetch(self, timeout: float, count: int) -> tuple[list[rdb.Fetched], int]:
        """Wait up to ``timeout`` for a wake-up, then fetch up to ``count`` tasks, in
        one round trip on the waiting connection. When a rate limit held tasks back
        and its next token is due sooner, sleep until then and fetch instead."""
        due = self.rate_due
        if due is not None and due < timeout:
            await asyncio.sleep(due)
            return await self.fetch(count)
        if self.conn.cluster:  # no multi-queue BLPOP on a cluster: poll
            await asyncio.sleep(timeout)
            return await self.fetch(count)
        notices = self.notices
        if notices is not None:
            fresh = not notices.armed
            if await notices.arm() and (fresh or notices.noticed):
                # A push between the last fetch and now may not have been heard: fetch
                # at once (a BLPOP would block at least 10 ms). A subscription that
                # keeps dropping gets the BLPOP instead, so it cannot turn into a spin.
                now = time.monotonic()
                if notices.noticed or now - self._fresh_fetch_at >= FRESH_FETCH_EVERY:
                    self._fresh_fetch_at = now if fresh else self._fresh_fetch_at
                    notices.noticed = False
                    return await self._fetch(count)  # stays armed: it was idle just now
                timeout = 0.0
            notices.noticed = False
            notices.waiting = True
        await self.refresh_limits()
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration + timeout)
        call = self._call(queues, count, expiry)
        try:
            reply = await self.waiter.wait_then_call(timeout, call)
        except NoScriptError:
            reply = await self.conn.call(call)  # loads the scripts
        finally:
            if notices is not None:
                notices.waiting = False
        return self._parse(queues, reply), expiry

    async def _fetch_per_slot(
        self, queues: Sequence[str], count: int, expiry: int
    ) -> list[rdb.Fetched]:
        """The cluster form of one fetch: each queue's keys live in their own hash
        slot, so the script runs once per queue. First every queue's quota (one
        pipelined round trip, which redis-py splits per master), then what is still
        wanted from the queues in the weighted (or strict) order, as the one-call
        script does across queues. The byte budget is shared out the same way."""
        max_bytes = self.settings.fetch_max_bytes
        got: list[rdb.Fetched] = []
        quotas = self._quotas(queues, count)  # empty under strict priority
        first = [(q, n) for q, n in zip(queues, quotas, strict=False) if n > 0]
        drained: set[str] = set()  # gave less than asked: empty (or paused) for now
        if first:
            calls = [
                self._one_queue_call(
                    q, n, expiry, max(1, max_bytes * n // count) if max_bytes else 0
                )
                for q, n in first
            ]
            for (q, n), reply in zip(first, await self.conn.call_many(calls), strict=True):
                if isinstance(reply, BaseException):
                    raise broker_error(reply, self.conn.target) from reply
                fetched = self._parse([q], reply)
                if sum(1 for f in fetched if f.msg is not None) < n:
                    drained.add(q)
                got += fetched
        for q in queues:
            want = count - sum(1 for f in got if f.msg is not None)
            left = max_bytes - sum(len(f.msg) for f in got if f.msg is not None)
            if want <= 0 or (max_bytes and left <= 0):
                break
            if q in drained:
                continue
            budget = left if max_bytes else 0
            reply = await self.conn.call(self._one_queue_call(q, want, expiry, budget))
            got += self._parse([q], reply)
        return got

    def _one_queue_call(self, queue: str, count: int, expiry: int, max_bytes: int) -> rdb.Call:
        # One queue's keys share one hash slot: the cluster path's unit (caps and
        # rate limits included).
        if queue in self.flow:
            flow = {queue: self.flow[queue]}
            return rdb.dequeue_call([queue], count, expiry, (), max_bytes, flow, self.clock())
        return rdb.dequeue_call([queue], count, expiry, (), max_bytes)

    def _quotas(self, queues: Sequence[str], count: int) -> list[int]:
        if self.settings.strict_priority:
            return []  # all from the first non-empty queue, in priority order
        weights = self.settings.queues
        return split_batch(count, [weights[q] for q in queues], random.randrange)

    async def close(self) -> None:
        await self.waiter.close()
        if self.notices is not None:
            await self.notices.close()


def split_batch(count: int, weights: Sequence[int], draw: Callable[[int], int]) -> list[int]:
    """Per-queue quotas for one fetch of ``count`` tasks, so that every task of a
    batch follows the weights (not only the batch's first queue).

    Each queue gets its exact share ``count * w / total`` rounded down; the rest goes
    out by systematic sampling over the fractions (a queue gets one more with
    probability equal to its fraction), so each quota's expectation is exactly its
    share and its spread is below one task. At ``count == 1`` this is one weighted draw.

    Args:
        count: tasks the fetch asks for.
        weights: the queues' weights, in the fetch's queue order.
        draw: ``draw(n)`` returns a uniform integer in ``[0, n)`` (``random.randrange``).
    """
    total = sum(weights)
    if count <= 0 or total <= 0:
        return [0] * len(weights)
    quotas = [count * w // total for w in weights]
    point = draw(total)  # positions point, point + total, ... over the summed remainders
    acc = 0
    for i, w in enumerate(weights):
        acc += count * w % total
        while point < acc:
            quotas[i] += 1
            point += total
    return quotas
