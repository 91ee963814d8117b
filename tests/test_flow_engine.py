"""Flow control in one real worker engine: RetryAfter, a key function that fails,
and a task parked behind its key's slot running once the slot frees."""

from __future__ import annotations

import asyncio
import time

import redis
from test_worker_engine import _state, engine, until
from workerapps.helpers import enqueue, task_msg

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.errors import RetryAfter
from fastq.inspect.inspector import Inspector


async def test_retry_after_reschedules_without_using_a_retry_or_counting_a_failure(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()

    @app.task("upstream")
    async def upstream(task: IncomingTask, ctx: Context) -> None:
        raise RetryAfter(30)

    async with engine(app, redis_url) as e:
        tid = enqueue(r, "upstream", retry=1)
        before = time.time()
        await until(lambda: _state(r, "default", tid)() == b"retry")
        assert e.busy == 0
    at = r.zscore(keys.retry_key("default"), tid)
    assert at is not None and before + 30 <= at <= time.time() + 31
    assert task_msg(r, "default", tid).retried == 0
    assert r.get(keys.failed_total_key("default")) is None


def test_retry_after_refuses_a_negative_delay() -> None:
    try:
        RetryAfter(-1)
    except ValueError as exc:
        assert "seconds" in str(exc)
    else:
        raise AssertionError("RetryAfter(-1) was accepted")


async def test_a_parked_task_runs_when_its_keys_slot_frees(redis_url: str, r: redis.Redis) -> None:
    app = App()
    gates: dict[str, asyncio.Event] = {}
    order: list[str] = []

    @app.task("k", concurrency_key=lambda t: t.payload.decode(), concurrency=1)
    async def k(task: IncomingTask, ctx: Context) -> None:
        order.append(task.id)
        gates[task.id] = asyncio.Event()
        await gates[task.id].wait()

    async with engine(app, redis_url, concurrency=4) as e:
        a = enqueue(r, "k", b"same")
        await until(lambda: order == [a])
        b = enqueue(r, "k", b"same")
        await until(lambda: _state(r, "default", b)() == b"scheduled")  # parked, not run
        assert order == [a] and e.busy == 1
        assert task_msg(r, "default", b).retried == 0
        gates[a].set()  # a finishes: its slot frees and wakes b at once
        await until(lambda: order == [a, b], timeout=3)
        gates[b].set()
        await until(lambda: not r.exists(keys.task_key("default", b)))
    assert r.zcard(keys.key_slots_key("default", "same")) == 0


async def test_a_failing_key_function_fails_the_task_and_the_worker_lives(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()

    @app.task("bad", concurrency_key=lambda t: t.json()["missing"], concurrency=1)
    async def bad(task: IncomingTask, ctx: Context) -> None:
        raise AssertionError("never runs")

    async with engine(app, redis_url) as e:
        tid = enqueue(r, "bad", b"{}", retry=0)
        await until(lambda: _state(r, "default", tid)() == b"archived")
        assert e.busy == 0
    assert "KeyError" in task_msg(r, "default", tid).error_msg


async def test_a_cap_stored_at_run_time_overrides_the_workers_and_clears(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    release = asyncio.Event()

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        await release.wait()

    with Inspector(redis_url) as insp:
        insp.set_queue_limit("default", 1)
        assert insp.queue_limits() == {"default": 1}
        async with engine(app, redis_url, concurrency=8, queue_limits={"default": 3}) as e:
            for _ in range(6):
                enqueue(r, "hold")
            await until(lambda: e.busy == 1)
            await asyncio.sleep(0.3)
            assert e.busy == 1 and r.llen(keys.pending_key("default")) == 5
            insp.set_queue_limit("default", None)  # back to the worker's own cap of 3
            await until(lambda: e.busy == 3, timeout=3)
            await asyncio.sleep(0.3)
            assert e.busy == 3
            release.set()
            await until(lambda: r.llen(keys.pending_key("default")) == 0 and e.busy == 0)
        assert insp.queue_limits() == {}


async def test_a_type_rate_limit_runs_the_burst_and_parks_the_rest(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    ran: list[str] = []

    @app.task("mail", rate_limit="1/min burst 2")
    async def mail(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.id)

    @app.task("other")
    async def other(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.id)

    async with engine(app, redis_url, concurrency=8):
        ids = [enqueue(r, "mail") for _ in range(5)]
        free = enqueue(r, "other")
        await until(lambda: len(ran) == 3 and r.zcard(keys.scheduled_key("default")) == 3)
        await asyncio.sleep(0.2)
    assert free in ran and len(ran) == 3  # the burst of two mails and the unlimited task
    parked = [x.decode() for x in r.zrange(keys.scheduled_key("default"), 0, -1)]
    assert sorted(parked + [t for t in ran if t != free]) == sorted(ids)
    assert all(task_msg(r, "default", t).retried == 0 for t in parked)
