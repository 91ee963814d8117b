"""A fastq.App whose one task records which event loop class ran it.

``test:loops`` (LIST) gets ``<module>.<class>`` of the running loop per task.
"""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as aredis

from fastq.app import App, Context, IncomingTask

app = App()
LOOPS_KEY = "test:loops"


@app.task("which_loop")
async def which_loop(task: IncomingTask, ctx: Context) -> None:
    loop = type(asyncio.get_running_loop())
    async with aredis.Redis.from_url(os.environ["FASTQ_REDIS_URL"]) as r:
        await r.rpush(LOOPS_KEY, f"{loop.__module__}.{loop.__qualname__}")
