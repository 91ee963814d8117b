"""Prefetch: a worker keeps a few leased tasks ready beyond its free slots. They are
active (leased) in Redis, start as slots free, and go back to pending at shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from workerapps.helpers import enqueue, task_msg

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.config import RedisConfig
from fastq.worker.process import PREFETCH_SHARE, Engine
from fastq.worker.settings import WorkerSettings

pytestmark = pytest.mark.timeout(60)
SLOTS = 2 * PREFETCH_SHARE  # concurrency with a prefetch of 2
AHEAD = SLOTS // PREFETCH_SHARE


async def until(cond: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _holding_app() -> tuple[App, asyncio.Event, list[str]]:
    app = App()
    release = asyncio.Event()
    started: list[str] = []

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        started.append(ctx.task_id)
        await release.wait()

    return app, release, started


def _engine(app: App, redis_url: str) -> Engine:
    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url), concurrency=SLOTS, poll_interval=0.05
    )
    return Engine(app, settings)


def _ids(r: redis.Redis, key: str) -> list[str]:
    return [x.decode() for x in r.lrange(key, 0, -1)]


async def test_a_worker_leases_its_slots_plus_its_prefetch_and_no_more(
    redis_url: str, r: redis.Redis
) -> None:
    app, release, started = _holding_app()
    ids = [enqueue(r, "hold") for _ in range(SLOTS + AHEAD + 5)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    try:
        await until(
            lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
        )
        await asyncio.sleep(0.3)
        assert r.llen(keys.active_key("default")) == SLOTS + AHEAD
        assert r.llen(keys.pending_key("default")) == 5
        ready = [
            tid for tid in ids if tid not in started and tid in _ids(r, "asynq:{default}:active")
        ]
        assert len(ready) == AHEAD
        for tid in ready:  # leased and active, as Asynq shows a task a worker holds
            assert r.hget(keys.task_key("default", tid), "state") == b"active"
            assert r.zscore(keys.lease_key("default"), tid) is not None
    finally:
        release.set()
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 10) == 0


async def test_a_freed_slot_starts_a_prefetched_task(redis_url: str, r: redis.Redis) -> None:
    app = App()
    gates: dict[str, asyncio.Event] = {}
    started: list[str] = []

    @app.task("gated")
    async def gated(task: IncomingTask, ctx: Context) -> None:
        started.append(ctx.task_id)
        await gates.setdefault(ctx.task_id, asyncio.Event()).wait()

    ids = [enqueue(r, "gated") for _ in range(SLOTS + AHEAD)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    try:
        await until(
            lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
        )
        ready = [tid for tid in ids if tid not in started]
        assert len(ready) == AHEAD
        gates.setdefault(started[0], asyncio.Event()).set()
        await until(lambda: len(started) == SLOTS + 1)
        assert started[-1] == ready[0]  # the first prefetched task, in fetch order
        assert r.llen(keys.pending_key("default")) == 0
    finally:
        for tid in ids:
            gates.setdefault(tid, asyncio.Event()).set()
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 10) == 0


async def test_prefetched_tasks_go_back_to_pending_at_once_on_a_graceful_stop(
    redis_url: str, r: redis.Redis
) -> None:
    app, release, started = _holding_app()
    ids = [enqueue(r, "hold") for _ in range(SLOTS + AHEAD)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    await until(
        lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
    )
    ready = [tid for tid in ids if tid not in started]
    e.stop(graceful=True)
    # Back before the running tasks finish (they are still held).
    await until(lambda: set(_ids(r, keys.pending_key("default"))) == set(ready))
    assert len(e.running) == SLOTS
    for tid in ready:
        assert r.hget(keys.task_key("default", tid), "state") == b"pending"
        assert r.zscore(keys.lease_key("default"), tid) is None
    # The first prefetched is the next to dequeue (Asynq pops pending from the right).
    assert _ids(r, keys.pending_key("default"))[-1] == ready[0]
    release.set()
    assert await asyncio.wait_for(run, 10) == 0
    assert set(started) == set(ids) - set(ready)  # none of them ran here
    assert r.get(keys.processed_total_key("default")) == str(SLOTS).encode()


async def test_prefetched_tasks_are_requeued_on_a_fast_stop(redis_url: str, r: redis.Redis) -> None:
    app, _release, started = _holding_app()
    ids = [enqueue(r, "hold") for _ in range(SLOTS + AHEAD + 3)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    await until(
        lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
    )
    e.stop(graceful=False)
    assert await asyncio.wait_for(run, 10) == 0
    assert r.llen(keys.active_key("default")) == 0
    assert r.zcard(keys.lease_key("default")) == 0
    assert sorted(_ids(r, keys.pending_key("default"))) == sorted(ids)


async def test_after_quiet_prefetched_tasks_still_run_and_nothing_more_is_fetched(
    redis_url: str, r: redis.Redis
) -> None:
    app, release, started = _holding_app()
    ids = [enqueue(r, "hold") for _ in range(SLOTS + AHEAD + 3)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    try:
        await until(
            lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
        )
        e.quiet()
        release.set()
        done = str(SLOTS + AHEAD).encode()
        await until(lambda: r.get(keys.processed_total_key("default")) == done)
        await asyncio.sleep(0.2)
        assert len(started) == SLOTS + AHEAD
        assert r.llen(keys.pending_key("default")) == 3
        assert set(_ids(r, keys.pending_key("default"))) == set(ids) - set(started)
    finally:
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 10) == 0


async def test_a_capped_queue_is_not_prefetched(redis_url: str, r: redis.Redis) -> None:
    app, release, started = _holding_app()
    for _ in range(SLOTS + AHEAD + 3):
        enqueue(r, "hold")
    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url),
        concurrency=SLOTS,
        poll_interval=0.05,
        queue_limits={"default": 100},  # a cap far above what this worker runs
    )
    e = Engine(app, settings)
    run = asyncio.create_task(e.run())
    try:
        await until(lambda: len(started) == SLOTS)
        await asyncio.sleep(0.3)
        # A task held ready would hold one of the cap's slots that another worker
        # with a free slot could use: only what runs is leased.
        assert r.llen(keys.active_key("default")) == SLOTS
    finally:
        release.set()
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 10) == 0


async def test_a_prefetched_task_canceled_before_it_starts_is_canceled_as_it_starts(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    gates: dict[str, asyncio.Event] = {}
    started: list[str] = []

    @app.task("gated")
    async def gated(task: IncomingTask, ctx: Context) -> None:
        started.append(ctx.task_id)
        await gates.setdefault(ctx.task_id, asyncio.Event()).wait()

    ids = [enqueue(r, "gated", retry=3) for _ in range(SLOTS + AHEAD)]
    e = _engine(app, redis_url)
    run = asyncio.create_task(e.run())
    try:
        await until(
            lambda: len(started) == SLOTS and r.llen(keys.active_key("default")) == SLOTS + AHEAD
        )
        ready = [tid for tid in ids if tid not in started]
        await asyncio.sleep(0.1)  # the cancel subscription is up well before this
        r.publish(keys.CANCEL_CHANNEL, ready[0])  # Asynqmon's cancel of an active task
        await until(lambda: ready[0] in e._cancel_ready)
        gates.setdefault(started[0], asyncio.Event()).set()
        await until(lambda: r.hget(keys.task_key("default", ready[0]), "state") == b"retry")
        assert ready[0] not in started  # its handler never ran a step
        msg = task_msg(r, "default", ready[0])
        assert msg.error_msg.startswith("TaskCanceledError")
    finally:
        for tid in ids:
            gates.setdefault(tid, asyncio.Event()).set()
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 10) == 0
