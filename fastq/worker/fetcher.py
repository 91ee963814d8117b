"""Fetching: one script call moves up to K tasks to active; idle waits block on wake keys."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from redis.exceptions import NoScriptError

from fastq._core import QueueOrder
from fastq.rdb import worker as rdb
from fastq.rdb.blocking import WakeWaiter
from fastq.rdb.conn import AsyncConn
from fastq.rdb.notify import KeyspaceWaker
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
        self.notices = (
            KeyspaceWaker(settings.redis, list(settings.queues))
            if settings.keyspace_wakeups
            else None
        )

    async def fetch(self, count: int) -> tuple[list[rdb.Fetched], int]:
        """Move up to ``count`` tasks to active; returns them and their lease score."""
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration)
        reply = await self.conn.call(
            rdb.dequeue_call(
                queues, count, expiry, self._quotas(queues, count), self.settings.fetch_max_bytes
            )
        )
        fetched = rdb.parse_dequeue(queues, reply)
        if self.notices is not None and fetched and self.notices.armed:
            await self.notices.disarm()  # busy: stop hearing an event per enqueue
        return fetched, expiry

    async def wait_then_fetch(self, timeout: float, count: int) -> tuple[list[rdb.Fetched], int]:
        """Wait up to ``timeout`` for a wake-up, then fetch up to ``count`` tasks, in
        one round trip on the waiting connection."""
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration + timeout)
        quotas = self._quotas(queues, count)
        call = rdb.dequeue_call(queues, count, expiry, quotas, self.settings.fetch_max_bytes)
        notices = self.notices
        if notices is not None:
            fresh = not notices.armed
            if await notices.arm() and (fresh or notices.noticed):
                # A push between the last fetch and now may not have been heard.
                timeout = 0.0
            notices.noticed = False
            notices.waiting = True
        try:
            reply = await self.waiter.wait_then_call(timeout, call)
        except NoScriptError:
            reply = await self.conn.call(call)  # loads the scripts
        finally:
            if notices is not None:
                notices.waiting = False
        return rdb.parse_dequeue(queues, reply), expiry

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
