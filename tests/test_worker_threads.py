"""``def`` handlers in the worker's thread pool: threads pull their own jobs, and a
job waiting while a thread is free always gets one."""

from __future__ import annotations

import threading

import redis
from test_worker_engine import _gone, engine, until
from workerapps.helpers import enqueue, enqueue_many

from fastq import keys
from fastq.app import App, Context, IncomingTask


async def test_blocking_def_handlers_all_run_at_once(redis_url: str, r: redis.Redis) -> None:
    # Each handler waits at a barrier for all the others: only a pool that gives
    # every waiting job a thread (up to the concurrency) lets them all pass. The
    # second round finds the threads parked, so each must be woken for its job.
    n = 12
    barrier = threading.Barrier(n, timeout=10)
    passed: list[int] = []

    app = App()

    @app.task("meet")
    def meet(task: IncomingTask, ctx: Context) -> None:
        barrier.wait()
        passed.append(1)

    def processed() -> int:
        return int(r.get(keys.processed_total_key("default")) or 0)

    enqueue_many(r, "meet", n)  # one fetch takes them all
    async with engine(app, redis_url, concurrency=n):
        await until(lambda: processed() == n, timeout=15)
        enqueue_many(r, "meet", n)
        await until(lambda: processed() == 2 * n, timeout=15)
    assert len(passed) == 2 * n


async def test_slow_def_handler_does_not_hold_up_later_tasks(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    release = threading.Event()
    quick_ran: list[str] = []

    @app.task("slow")
    def slow(task: IncomingTask, ctx: Context) -> None:
        release.wait(10)

    @app.task("quick")
    def quick(task: IncomingTask, ctx: Context) -> None:
        quick_ran.append(task.type)

    async with engine(app, redis_url, concurrency=3):
        s = enqueue(r, "slow")
        await until(lambda: r.llen(keys.pending_key("default")) == 0)
        ids = [enqueue(r, "quick") for _ in range(30)]
        try:
            await until(lambda: all(_gone(r, "default", t)() for t in ids), timeout=10)
            assert not release.is_set() and not _gone(r, "default", s)()
        finally:
            release.set()
        await until(_gone(r, "default", s))
    assert len(quick_ran) == 30
