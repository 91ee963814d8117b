"""A fastq.App whose handlers record, in Redis, how many of them run at once and when
they start, for the fleet-wide flow-control tests (tests/test_flow_fleet.py).

``test:flow:running:<scope>`` (ZSET "<pid>:<task id>" -> start) holds the runs of a
scope in progress (added on entry and counted in one MULTI, removed on exit, both
before the task is acknowledged, so the count never exceeds the slots held; a test
that kills a worker removes that pid's entries); ``test:flow:max`` (ZSET scope ->
highest count seen, ZADD GT) keeps the maximum; ``test:flow:starts`` gets the start
time (unix ms) of every run; ``test:flow:done`` every finished task id.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio as aioredis

from fastq.app import App, Context, IncomingTask

app = App()

MAX_KEY = "test:flow:max"
STARTS_KEY = "test:flow:starts"
DONE_KEY = "test:flow:done"

_client: tuple[int, aioredis.Redis] | None = None


def _redis() -> aioredis.Redis:
    global _client
    if _client is None or _client[0] != os.getpid():  # one client per process
        _client = (os.getpid(), aioredis.Redis.from_url(os.environ["FASTQ_REDIS_URL"]))
    return _client[1]


async def _run(task: IncomingTask, scopes: list[str]) -> None:
    r = _redis()
    me = f"{os.getpid()}:{task.id}"
    for scope in scopes:
        pipe = r.pipeline(transaction=True)
        pipe.zadd(f"test:flow:running:{scope}", {me: time.time()})
        pipe.zcard(f"test:flow:running:{scope}")
        _, n = await pipe.execute()
        await r.zadd(MAX_KEY, {scope: n}, gt=True)
    await asyncio.sleep(float(task.json().get("sleep", 0)))
    for scope in scopes:
        await r.zrem(f"test:flow:running:{scope}", me)
    await r.rpush(DONE_KEY, task.id)


@app.task("capped")
async def capped(task: IncomingTask, ctx: Context) -> None:
    await _run(task, ["queue"])


@app.task("sync:user", concurrency_key=lambda t: t.json()["user_id"], concurrency=1)
async def sync_user(task: IncomingTask, ctx: Context) -> None:
    await _run(task, [f"user:{task.json()['user_id']}", "all"])


@app.task("rated")
async def rated(task: IncomingTask, ctx: Context) -> None:
    await _redis().rpush(STARTS_KEY, int(time.time() * 1000))
    await _redis().rpush(DONE_KEY, task.id)
