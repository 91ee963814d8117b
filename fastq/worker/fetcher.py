"""Fetching: one script call moves up to K tasks to active; idle waits block on wake keys."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from redis.exceptions import NoScriptError

from fastq._core import QueueOrder
from fastq.rdb import worker as rdb
from fastq.rdb.blocking import WakeWaiter
from fastq.rdb.conn import AsyncConn, broker_error
from fastq.worker.settings import WorkerSettings


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

    async def fetch(self, count: int) -> tuple[list[rdb.Fetched], int]:
        """Move up to ``count`` tasks to active; returns them and their lease score."""
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration)
        if self.conn.cluster:
            return await self._fetch_per_slot(queues, count, expiry), expiry
        reply = await self.conn.call(
            rdb.dequeue_call(
                queues, count, expiry, self._quotas(queues, count), self.settings.fetch_max_bytes
            )
        )
        return rdb.parse_dequeue(queues, reply), expiry

    async def wait_then_fetch(self, timeout: float, count: int) -> tuple[list[rdb.Fetched], int]:
        """Wait up to ``timeout`` for a wake-up, then fetch up to ``count`` tasks, in
        one round trip on the waiting connection."""
        if self.conn.cluster:  # no multi-queue BLPOP on a cluster: poll
            await asyncio.sleep(timeout)
            return await self.fetch(count)
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration + timeout)
        quotas = self._quotas(queues, count)
        call = rdb.dequeue_call(queues, count, expiry, quotas, self.settings.fetch_max_bytes)
        try:
            reply = await self.waiter.wait_then_call(timeout, call)
        except NoScriptError:
            reply = await self.conn.call(call)  # loads the scripts
        return rdb.parse_dequeue(queues, reply), expiry

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
                rdb.dequeue_call([q], n, expiry, (), max(1, max_bytes * n // count))
                if max_bytes
                else rdb.dequeue_call([q], n, expiry)
                for q, n in first
            ]
            for (q, n), reply in zip(first, await self.conn.call_many(calls), strict=True):
                if isinstance(reply, BaseException):
                    raise broker_error(reply, self.conn.target) from reply
                fetched = rdb.parse_dequeue([q], reply)
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
            reply = await self.conn.call(rdb.dequeue_call([q], want, expiry, (), budget))
            got += rdb.parse_dequeue([q], reply)
        return got

    def _quotas(self, queues: Sequence[str], count: int) -> list[int]:
        if self.settings.strict_priority:
            return []  # all from the first non-empty queue, in priority order
        weights = self.settings.queues
        return split_batch(count, [weights[q] for q in queues], random.randrange)

    async def close(self) -> None:
        await self.waiter.close()


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
