"""ctx.write_result: written at once (Asynq ResultWriter.Write), never after the lease
was lost; from def and async def handlers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
from workerapps.helpers import engine, enqueue, until

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.errors import LeaseLostError


def _result(r: redis.Redis, tid: str) -> bytes | None:
    return r.hget(keys.task_key("default", tid), "result")


def _state(r: redis.Redis, tid: str) -> bytes | None:
    return r.hget(keys.task_key("default", tid), "state")


@pytest.mark.parametrize("kind", ["def", "async def", "async def, write_result_async"])
async def test_result_is_visible_while_the_task_runs(
    kind: str, redis_url: str, r: redis.Redis
) -> None:
    app = App()
    written: list[int] = []
    release = threading.Event()

    if kind == "def":

        @app.task("t")
        def sync_handler(task: IncomingTask, ctx: Context) -> None:
            written.append(ctx.write_result(b"half way"))
            release.wait(10)

    else:

        @app.task("t")
        async def async_handler(task: IncomingTask, ctx: Context) -> None:
            if kind == "async def":
                written.append(ctx.write_result(b"half way"))
            else:
                written.append(await ctx.write_result_async(b"half way"))
            while not release.is_set():
                await asyncio.sleep(0.01)

    async with engine(app, redis_url):
        tid = enqueue(r, "t", retention=3600)
        await until(lambda: written)
        assert written == [len(b"half way")]  # the bytes written, as Asynq's Write returns
        assert _state(r, tid) == b"active"
        assert _result(r, tid) == b"half way"  # before the handler returned
        release.set()
        await until(lambda: _state(r, tid) == b"completed")
    assert _result(r, tid) == b"half way"


async def test_no_result_is_written_after_the_lease_was_lost(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    go = threading.Event()
    outcome: list[BaseException | int] = []

    @app.task("t")
    def handler(task: IncomingTask, ctx: Context) -> None:
        go.wait(10)
        try:
            outcome.append(ctx.write_result(b"too late"))
        except LeaseLostError as exc:
            outcome.append(exc)

    async with engine(app, redis_url):
        tid = enqueue(r, "t", retention=3600)
        await until(lambda: _state(r, tid) == b"active")
        # Another worker's recoverer took the task and it was leased again elsewhere.
        r.zadd(keys.lease_key("default"), {tid: int(time.time()) + 999})
        go.set()
        await until(lambda: outcome)
    assert isinstance(outcome[0], LeaseLostError)
    assert _result(r, tid) is None


async def test_a_handler_thread_writing_after_its_task_ended_writes_nothing(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    kept: list[Context] = []

    @app.task("t")
    def handler(task: IncomingTask, ctx: Context) -> None:
        kept.append(ctx)

    async with engine(app, redis_url):
        tid = enqueue(r, "t", retention=3600)
        await until(lambda: _state(r, tid) == b"completed")
        with pytest.raises(LeaseLostError):
            await asyncio.to_thread(kept[0].write_result, b"after the end")
    assert _result(r, tid) is None


def test_both_scores_are_accepted_while_an_extension_is_in_flight() -> None:
    from fastq.worker.leases import Leases

    leases = Leases(30)
    leases.add("t", "q", 1_000_030)
    assert leases.scores_in_redis("t") == [1_000_030]
    calls, meta = leases.extension_calls(1_000_016.0)  # 14 s left: due
    assert leases.scores_in_redis("t") == [1_000_046, 1_000_030]  # Redis has one of them
    leases.apply_extension(calls, meta, [[]])
    assert leases.scores_in_redis("t") == [1_000_046]
    calls, meta = leases.extension_calls(1_000_032.0)
    leases.apply_extension(calls, meta, [[b"t"]])  # Redis says the lease is gone
    assert leases.scores_in_redis("t") == []
