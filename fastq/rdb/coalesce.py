"""Coalescing of concurrent enqueues into batch calls (``AsyncClient.enqueue``).

While a request is in flight, the tasks other coroutines enqueue queue up and go
out together, planned like ``enqueue_many`` (plain pending tasks share one
``enqueue_batch`` script call per queue). Two batches may be in flight at once,
so Redis runs one while the client hands out the other's results and its callers
enqueue their next tasks; what is queued is split so the two stay about the same
size. A lone sequential caller pays nothing extra: its call goes straight out.
"""

from __future__ import annotations

import asyncio

from fastq.errors import FastqError
from fastq.rdb.conn import AsyncConn, pack_call, translate_errors
from fastq.rdb.enqueue import (
    Requests,
    enqueue_call,
    finish_many,
    finish_one,
    infos_for,
    plan_many,
    wire_plan,
)
from fastq.task import Prepared, TaskInfo, TaskState

MAX_BATCH = 1000  # tasks per batch: keeps one request and its replies modest
IN_FLIGHT = 2  # batches sent and not yet answered, at most


class Coalescer:
    """Enqueues prepared tasks on ``conn``, batching those that arrive while
    requests are in flight. Each caller gets its own TaskInfo or its own typed error.

    Args:
        conn: the connection pool the calls run on.
        wake_tokens: the cap of each queue's wake list.
    """

    def __init__(self, conn: AsyncConn, wake_tokens: int) -> None:
        self._conn = conn
        self._wake_tokens = wake_tokens
        self._requests = Requests(wake_tokens)
        self._in_flight = 0  # requests sent and not yet answered
        self._in_flight_tasks = 0  # tasks they carry
        self._flush_soon = False
        self._queued: list[tuple[Prepared, asyncio.Future[TaskInfo]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def enqueue(self, p: Prepared) -> TaskInfo:
        """Enqueue ``p`` (its queue already published); raises its typed error."""
        fut = self.queue(p)
        if fut is not None:
            return await fut
        return await self.send_alone(p)

    def queue(self, p: Prepared) -> asyncio.Future[TaskInfo] | None:
        """Queue ``p`` behind the requests in flight and return its future; None when
        nothing is in flight (then ``send_alone``). Split from ``enqueue`` so the
        caller awaits the future itself: one coroutine less per task."""
        if not (self._in_flight or self._queued):
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[TaskInfo] = loop.create_future()
        self._queued.append((p, fut))
        # _schedule() inlined: this runs once per task.
        if not self._flush_soon and self._in_flight < IN_FLIGHT:
            self._flush_soon = True
            loop.call_soon(self._flush)
        return fut

    async def send_alone(self, p: Prepared) -> TaskInfo:
        """Send ``p`` straight out, as one script call (a lone caller)."""
        self._in_flight += 1
        self._in_flight_tasks += 1
        try:
            return finish_one(p, await self._call_one(p))
        finally:
            self._in_flight -= 1
            self._in_flight_tasks -= 1
            self._schedule()

    async def _call_one(self, p: Prepared) -> object:
        conn = self._conn
        if conn.wire is None:
            return await conn.call(enqueue_call(p, self._wake_tokens))
        if p.state is TaskState.PENDING and not p.unique_ttl:
            part = self._requests.enqueue(p)
        else:
            part = pack_call(enqueue_call(p, self._wake_tokens))
        reply = (await conn.call_parts((part,)))[0]
        if isinstance(reply, BaseException):  # as AsyncConn.call raises it
            with translate_errors(conn.target):
                raise reply
        return reply

    def _schedule(self) -> None:
        """Flush once the coroutines ready to run now have queued their tasks too."""
        if self._queued and not self._flush_soon and self._in_flight < IN_FLIGHT:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        loop = asyncio.get_running_loop()
        while self._queued and self._in_flight < IN_FLIGHT:
            # Half of all the work on hand per batch: the two in flight stay even.
            total = len(self._queued) + self._in_flight_tasks
            size = min(MAX_BATCH, max(1, -(-total // IN_FLIGHT)))
            batch = self._queued[:size]
            del self._queued[:size]
            self._in_flight += 1
            self._in_flight_tasks += len(batch)
            task = loop.create_task(self._send(batch))
            self._sending.add(task)  # a reference until it is done
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Prepared, asyncio.Future[TaskInfo]]]) -> None:
        try:
            await self._send_batch([p for p, _ in batch], [f for _, f in batch])
        finally:
            self._in_flight -= 1
            self._in_flight_tasks -= len(batch)
            self._schedule()

    async def _send_batch(
        self, prepared: list[Prepared], futures: list[asyncio.Future[TaskInfo]]
    ) -> None:
        try:
            if self._conn.wire is None:
                plan = plan_many(prepared, (), self._wake_tokens)
                results = finish_many(prepared, plan, await self._conn.call_many(plan.calls))
            else:
                parts, plan = wire_plan(prepared, self._requests, self._wake_tokens)
                infos: list[TaskInfo] = []
                # The TaskInfos are built while Redis runs the batch.
                replies = await self._conn.call_parts(
                    parts, lambda: infos.extend(infos_for(prepared))
                )
                results = finish_many(prepared, plan, replies, infos)
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
