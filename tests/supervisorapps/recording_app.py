"""A fastq.App whose tasks record their id in Redis when they finish.

``test:done`` (LIST) gets one entry per completed run, so a test can count lost
and duplicated tasks. The payload says how long the task takes.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis

from fastq.app import App, Context, IncomingTask

app = App()

_client: tuple[int, redis.Redis] | None = None
DONE_KEY = "test:done"


def _redis() -> redis.Redis:
    global _client
    if _client is None or _client[0] != os.getpid():  # one client per process
        _client = (os.getpid(), redis.Redis.from_url(os.environ["FASTQ_REDIS_URL"]))
    return _client[1]


@app.task("record")
async def record(task: IncomingTask, ctx: Context) -> None:
    await asyncio.sleep(float(task.json().get("sleep", 0)))
    _redis().rpush(DONE_KEY, task.id)


@app.task("record_sync")
def record_sync(task: IncomingTask, ctx: Context) -> None:
    time.sleep(float(task.json().get("sleep", 0)))
    _redis().rpush(DONE_KEY, task.id)
