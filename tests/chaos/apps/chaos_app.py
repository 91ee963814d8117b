"""Handlers for the fault suite; every run is recorded in a Redis of the test's choosing.

Records go to ``CHAOS_RECORD_URL`` (default: ``FASTQ_REDIS_URL``), so a test that
stops the broker Redis still sees what ran. ``chaos:done`` (HASH id -> count) is
bumped once per completed handler run, so duplicates are counted, not hidden;
``chaos:starts`` counts starts of the handlers that kill their own process.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time

import redis

from fastq.app import App, Context, IncomingTask

app = App()

DONE = "chaos:done"
STARTS = "chaos:starts"
BLOCKED = "chaos:blocked"
RELEASED = "chaos:released"  # a blocked first run ends once its id is in this set

_client: tuple[int, redis.Redis] | None = None


def record_redis() -> redis.Redis:
    global _client
    if _client is None or _client[0] != os.getpid():  # never reuse a parent's socket
        url = os.environ.get("CHAOS_RECORD_URL") or os.environ["FASTQ_REDIS_URL"]
        _client = (os.getpid(), redis.Redis.from_url(url))
    return _client[1]


@app.task("rec")
async def rec(task: IncomingTask, ctx: Context) -> None:
    sleep = float(task.json().get("sleep", 0))
    if sleep:
        await asyncio.sleep(sleep)
    record_redis().hincrby(DONE, task.id, 1)


@app.task("rec_sync")
def rec_sync(task: IncomingTask, ctx: Context) -> None:
    time.sleep(float(task.json().get("sleep", 0)))
    record_redis().hincrby(DONE, task.id, 1)


@app.task("exit")
def exit_process(task: IncomingTask, ctx: Context) -> None:
    record_redis().hincrby(STARTS, task.id, 1)
    os._exit(1)


@app.task("segv")
def segfault(task: IncomingTask, ctx: Context) -> None:
    record_redis().hincrby(STARTS, task.id, 1)
    ctypes.string_at(0)  # reads address 0: SIGSEGV


@app.task("block_once")
async def block_once(task: IncomingTask, ctx: Context) -> None:
    # The first run blocks the whole event loop (no lease extension, no heartbeat),
    # as a CPU-bound or stuck async handler would, until the test releases it (at
    # most "block" seconds); later runs finish at once.
    rec = record_redis()
    if rec.hsetnx(BLOCKED, task.id, os.getpid()):
        until = time.monotonic() + float(task.json()["block"])
        while time.monotonic() < until and not rec.sismember(RELEASED, task.id):
            time.sleep(0.05)
    record_redis().hincrby(DONE, task.id, 1)
