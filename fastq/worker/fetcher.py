"""Fetching: one script call moves up to K tasks to active; idle waits block on wake keys."""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import NoScriptError

from fastq._core import QueueOrder
from fastq.rdb import worker as rdb
from fastq.rdb.blocking import WakeWaiter
from fastq.rdb.conn import AsyncConn
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
        reply = await self.conn.call(rdb.dequeue_call(queues, count, expiry))
        return rdb.parse_dequeue(queues, reply), expiry

    async def wait_then_fetch(self, timeout: float, count: int) -> tuple[list[rdb.Fetched], int]:
        """Wait up to ``timeout`` for a wake-up, then fetch up to ``count`` tasks, in
        one round trip on the waiting connection."""
        queues = self.order.order()
        expiry = int(self.clock() + self.settings.lease_duration + timeout)
        call = rdb.dequeue_call(queues, count, expiry)
        try:
            reply = await self.waiter.wait_then_call(timeout, call)
        except NoScriptError:
            reply = await self.conn.call(call)  # loads the scripts
        return rdb.parse_dequeue(queues, reply), expiry

    async def close(self) -> None:
        await self.waiter.close()
