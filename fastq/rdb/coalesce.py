"""Coalescing of concurrent enqueues into batch calls (``AsyncClient.enqueue``).

While one enqueue is in flight, the tasks other coroutines enqueue queue up; when
it returns, everything queued goes out together, planned like ``enqueue_many``
(plain pending tasks share one ``enqueue_batch`` script call per queue). A lone
sequential caller pays nothing extra: its call goes straight out.
"""

from __future__ import annotations

import asyncio

from fastq.errors import FastqError
from fastq.rdb.conn import AsyncConn
from fastq.rdb.enqueue import enqueue_call, finish_many, finish_one, plan_many
from fastq.task import Prepared, TaskInfo

MAX_BATCH = 1000  # tasks per flush: keeps one request and its replies modest


class Coalescer:
    """Enqueues prepared tasks on ``conn``, batching those that arrive while one
    request is in flight. Each caller gets its own TaskInfo or its own typed error.

    Args:
        conn: the connection pool the calls run on.
        wake_tokens: the cap of each queue's wake list.
    """

    def __init__(self, conn: AsyncConn, wake_tokens: int) -> None:
        self._conn = conn
        self._wake_tokens = wake_tokens
        self._busy = False
        self._queued: list[tuple[Prepared, asyncio.Future[TaskInfo]]] = []

    async def enqueue(self, p: Prepared) -> TaskInfo:
        """Enqueue ``p`` (its queue already published); raises its typed error."""
        if self._busy:
            fut: asyncio.Future[TaskInfo] = asyncio.get_running_loop().create_future()
            self._queued.append((p, fut))
            return await fut
        self._busy = True
        try:
            return finish_one(p, await self._conn.call(enqueue_call(p, self._wake_tokens)))
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """Send what queued meanwhile (in its own task), or become idle."""
        if self._queued:
            asyncio.get_running_loop().create_task(self._flush())
        else:
            self._busy = False

    async def _flush(self) -> None:
        try:
            while self._queued:
                batch = self._queued[:MAX_BATCH]
                del self._queued[:MAX_BATCH]
                await self._send([p for p, _ in batch], [f for _, f in batch])
                # Let the callers just answered enqueue their next tasks into the
                # next batch (rather than one of them going out alone).
                await asyncio.sleep(0)
        finally:
            self._busy = False

    async def _send(
        self, prepared: list[Prepared], futures: list[asyncio.Future[TaskInfo]]
    ) -> None:
        try:
            plan = plan_many(prepared, (), self._wake_tokens)
            results = finish_many(prepared, plan, await self._conn.call_many(plan.calls))
        except Exception as exc:  # unreachable Redis: every caller of the batch sees it
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, result in zip(futures, results, strict=True):
            if fut.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, FastqError):
                fut.set_exception(result)
            else:
                fut.set_result(result)
