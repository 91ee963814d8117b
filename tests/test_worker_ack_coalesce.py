"""Acknowledgement coalescing: while many tasks run and outcomes keep coming, the
writer waits a moment for a fuller batch; a lone outcome is written at once, and
every outcome is written exactly once whatever the timing."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from workerapps.helpers import enqueue

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.config import RedisConfig
from fastq.rdb import worker as rdb
from fastq.worker.process import Engine
from fastq.worker.settings import WorkerSettings

pytestmark = pytest.mark.timeout(60)
SLOTS = 8  # an acknowledgement batch of 4


async def until(cond: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _engine(app: App, redis_url: str) -> Engine:
    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url), concurrency=SLOTS, poll_interval=0.05
    )
    return Engine(app, settings)


def _waiting(e: Engine, n: int) -> None:
    """Put ``n`` successes in the acker, as finished tasks would."""
    e.acker._successes = {"default": [rdb.Success(f"t{i}", 1) for i in range(n)]}


async def _lingers(e: Engine) -> bool:
    """Whether the writer's coalescing step waits (it always ends by itself)."""
    task = asyncio.create_task(e._coalesce())
    await asyncio.sleep(0)
    waiting = not task.done() and e._linger is not None
    await task
    assert e._linger is None
    return waiting


async def test_the_writer_waits_for_a_batch_only_while_many_tasks_run_and_outcomes_flow(
    redis_url: str,
) -> None:
    e = _engine(App(), redis_url)
    e.loop = asyncio.get_running_loop()
    batch = e._ack_batch
    assert batch == SLOTS // 2
    e._last_flush = e.loop.time()
    e.busy = SLOTS
    _waiting(e, 1)
    assert await _lingers(e)  # many running, one waiting: worth a moment
    _waiting(e, batch)
    assert not await _lingers(e)  # a full batch goes at once
    _waiting(e, 1)
    e.busy = batch - 1
    assert not await _lingers(e)  # few tasks run: no batch is coming
    e.busy = SLOTS
    e._last_flush = e.loop.time() - 1.0
    assert not await _lingers(e)  # the first outcome after a quiet spell goes at once
    e._last_flush = e.loop.time()
    e.stop(graceful=True)
    assert not await _lingers(e)  # stopping: no waiting


async def test_outcomes_that_trickle_in_are_each_acknowledged_once(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    runs: dict[str, int] = {}

    @app.task("nap")
    async def nap(task: IncomingTask, ctx: Context) -> None:
        runs[ctx.task_id] = runs.get(ctx.task_id, 0) + 1
        await asyncio.sleep(random.uniform(0, 0.004))  # finish one by one, not in batches

    n = 400
    ids = [enqueue(r, "nap") for _ in range(n)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    try:
        await until(lambda: int(r.get(keys.processed_total_key("default")) or 0) == n)
    finally:
        e.stop(graceful=True)
        assert await run == 0
    assert sorted(runs) == sorted(ids) and set(runs.values()) == {1}
    assert r.llen(keys.active_key("default")) == 0
    assert r.zcard(keys.lease_key("default")) == 0
    assert not any(r.exists(keys.task_key("default", tid)) for tid in ids)
    assert int(r.get(keys.processed_total_key("default")) or 0) == n
