"""A run's outcome belongs to that run: stale runs never acknowledge, and a run past
its deadline fails whatever its handler returns (issue 11, items 2 and 3)."""

from __future__ import annotations

import asyncio
import time

import redis
from test_worker_engine import _gone, _state, engine, until
from workerapps.helpers import enqueue, task_msg

from fastq import keys
from fastq.app import App, Context, IncomingTask


def _recover_to_pending(r: redis.Redis, q: str, tid: str) -> None:
    """What the recoverer and the forwarder do to a task whose lease expired."""
    pipe = r.pipeline(transaction=True)
    pipe.zrem(keys.lease_key(q), tid)
    pipe.lrem(keys.active_key(q), 0, tid)
    pipe.hset(keys.task_key(q, tid), "state", "pending")
    pipe.lpush(keys.pending_key(q), tid)
    pipe.lpush(keys.wake_key(q), "1")
    pipe.execute()


async def test_a_stale_run_never_acknowledges_the_task_fetched_again(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    releases: list[asyncio.Event] = []

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        release = asyncio.Event()
        releases.append(release)
        await release.wait()

    async with engine(app, redis_url, concurrency=4) as e:
        tid = enqueue(r, "hold")
        await until(lambda: len(releases) == 1)
        first = e.running[tid]
        _recover_to_pending(r, "default", tid)
        await until(lambda: len(releases) == 2)
        second = e.running[tid]
        assert second is not first
        lease = r.zscore(keys.lease_key("default"), tid)
        releases[0].set()  # the stale run ends first (if it was not interrupted)
        await until(lambda: e.busy == 1)
        await asyncio.sleep(0.2)  # any acknowledgement would have been flushed
        assert e.running.get(tid) is second
        assert _state(r, "default", tid)() == b"active"
        assert r.zscore(keys.lease_key("default"), tid) == lease
        assert r.get(keys.processed_total_key("default")) is None
        releases[1].set()
        await until(_gone(r, "default", tid))
    assert r.get(keys.processed_total_key("default")) == b"1"


async def test_a_def_handler_that_returns_after_its_deadline_fails(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()

    @app.task("polite")
    def polite(task: IncomingTask, ctx: Context) -> None:
        while not ctx.done:  # the README's pattern: stop when told, return normally
            time.sleep(0.005)

    # The engine's clock stands still, so its tick never interrupts the run: the
    # handler sees its deadline pass (ctx.done) and returns on its own.
    frozen = time.time()
    async with engine(app, redis_url, clock=lambda: frozen):
        tid = enqueue(r, "polite", retry=3, timeout=1)
        await until(lambda: _state(r, "default", tid)() == b"retry", timeout=5)
    msg = task_msg(r, "default", tid)
    assert msg.error_msg.startswith("TaskTimeoutError")
    assert msg.retried == 1
    assert r.get(keys.processed_total_key("default")) == b"1"
    assert r.get(keys.failed_total_key("default")) == b"1"


async def test_an_async_handler_that_swallows_its_cancel_still_fails(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    started = asyncio.Event()

    @app.task("stubborn")
    async def stubborn(task: IncomingTask, ctx: Context) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return  # swallowed: the handler "returns normally"

    async with engine(app, redis_url):
        tid = enqueue(r, "stubborn", retry=3)
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.1)  # the cancel subscription is up well before this
        r.publish(keys.CANCEL_CHANNEL, tid)
        await until(lambda: _state(r, "default", tid)() == b"retry")
    assert task_msg(r, "default", tid).error_msg.startswith("TaskCanceledError")


def test_answers_about_an_old_lease_leave_the_new_one_alone() -> None:
    from fastq.worker.leases import Leases

    leases = Leases(30)
    leases.add("t", "q", 100)
    calls, meta = leases.extension_calls(now=90)  # due: within half a lease
    leases.add("t", "q", 200)  # the task was fetched again meanwhile
    assert leases.apply_extension(calls, meta, [[b"t"]]) == []  # "lost" meant lease 100
    assert leases.score("t") == 200 and "t" not in leases.lost
    leases.release("t", 100)  # an acknowledgement made with the old lease was answered
    assert leases.score("t") == 200
    leases.release("t", 200)
    assert leases.score("t") is None
