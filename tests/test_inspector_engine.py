"""The Inspector against a live fastq worker engine: it sees the server and its running
task, cancels it, and a task it runs from the schedule is picked up at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from fastq import AsyncClient, Task
from fastq.app import App, Context, IncomingTask
from fastq.config import RedisConfig
from fastq.inspect.inspector import AsyncInspector
from fastq.task import TaskInfo, TaskState
from fastq.worker.process import Engine
from fastq.worker.settings import WorkerSettings


async def until(cond: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await cond()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_inspector_sees_and_steers_a_running_engine(redis_url: str, r: redis.Redis) -> None:
    app = App()
    ran: list[str] = []

    @app.task("block")
    async def block(task: IncomingTask, ctx: Context) -> None:
        await asyncio.sleep(60)  # ends only by cancellation

    @app.task("quick")
    async def quick(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.id)

    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url), poll_interval=5.0, heartbeat_interval=0.2
    )
    eng = Engine(app, settings)
    runner = asyncio.create_task(eng.run())
    try:
        async with AsyncClient(redis_url) as client, AsyncInspector(redis_url) as insp:
            blocked = await client.enqueue(Task("block", b"x", max_retry=3))

            async def running() -> list[Any]:
                return [t for t in await insp.list_tasks("default", "active") if t.id == blocked.id]

            (active,) = await until(running)
            assert isinstance(active, TaskInfo) and not active.is_orphaned

            async def serving() -> list[Any]:
                return [
                    s
                    for s in await insp.servers()
                    if any(w.task_id == blocked.id for w in s.active_workers)
                ]

            (server,) = await until(serving)
            assert server.queues and server.status

            assert await insp.cancel(blocked.id) >= 1

            async def left_active() -> bool:
                info = await insp.task_info("default", blocked.id)
                return isinstance(info, TaskInfo) and info.state is not TaskState.ACTIVE

            await until(left_active)

            later = await client.enqueue(Task("quick", b"", process_in=3600))
            await insp.run_task("default", later.id)
            # poll_interval is 5 s: only the wake token makes this fast
            t0 = time.monotonic()
            await until(lambda: asyncio.sleep(0, result=later.id in ran), timeout=4)
            assert time.monotonic() - t0 < 4
    finally:
        eng.stop(graceful=False)
        assert await asyncio.wait_for(runner, 10) == 0
