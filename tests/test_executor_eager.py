"""Eager start of ``async def`` handlers: the first step runs inline, and what a
handler sees there (its Task, timeouts, context) is what a Task would give it."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from typing import Any

import pytest
import redis
from workerapps.helpers import engine, enqueue, task_msg, until

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.worker import executor

eager_311 = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="3.11's own eager start")
VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def starter() -> Any:
    return executor.EagerStarter(asyncio.get_running_loop())  # type: ignore[attr-defined]


@eager_311
async def test_a_handler_that_does_not_suspend_needs_no_task() -> None:
    s = starter()
    spare = id(s.spare)  # not the spare itself: a reference kept makes it a Task
    outer = asyncio.current_task()
    seen: list[bool] = []

    async def handler() -> None:
        me = asyncio.current_task()
        seen.append(me is not None and me is not outer)

    assert s.start(handler()) is None
    assert seen == [True]
    assert asyncio.current_task() is outer  # the caller's task is current again
    assert id(s.spare) == spare  # nobody kept it: reused

    kept: list[Any] = []

    async def keeper() -> int:
        kept.append(asyncio.current_task())
        return 5

    task = s.start(keeper())  # a kept Task ends like a Task
    assert task is kept[0] and task.done() and task.result() == 5
    assert s.spare is not task


@eager_311
async def test_the_first_step_sees_the_task_that_runs_the_rest() -> None:
    s = starter()
    seen: list[Any] = []

    async def handler() -> str:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0.01)
        seen.append(asyncio.current_task())
        return "ok"

    task = s.start(handler())
    assert task is not None and task is seen[0]
    assert await task == "ok"
    assert seen[1] is seen[0]
    assert task in asyncio.all_tasks() or task.done()


@eager_311
async def test_unobserved_suspension_continues_in_a_task() -> None:
    s = starter()
    fut = asyncio.get_running_loop().create_future()

    async def handler() -> int:
        return int(await fut)

    task = s.start(handler())
    assert task is not None and not task.done()
    assert task in asyncio.all_tasks()
    fut.set_result(7)
    assert await task == 7


@eager_311
@pytest.mark.parametrize("delay", [0.0, 0.02])
async def test_timeout_entered_in_the_first_step_fires(delay: float) -> None:
    s = starter()
    out: list[str] = []

    async def handler() -> None:
        try:
            async with asyncio.timeout(delay):  # current_task() here: the handler's Task
                await asyncio.sleep(5)
        except TimeoutError:
            out.append("timed out")
        await asyncio.sleep(0)
        out.append("went on")

    task = s.start(handler())
    assert task is not None
    await asyncio.wait_for(task, 2)
    assert out == ["timed out", "went on"]


@eager_311
async def test_each_start_gets_its_own_context_copy() -> None:
    s = starter()
    seen: list[str] = []

    async def setter() -> None:
        VAR.set("first")
        await asyncio.sleep(0.01)
        seen.append(VAR.get())  # kept across its own suspension

    async def reader() -> None:
        seen.append(VAR.get())

    task = s.start(setter())
    s.start(reader())
    assert VAR.get() == "unset"  # the caller's context is untouched
    assert task is not None
    await task
    assert seen == ["unset", "first"]


@eager_311
async def test_cancel_before_the_tasks_first_step_reaches_the_handler() -> None:
    s = starter()
    fut = asyncio.get_running_loop().create_future()
    out: list[str] = []

    async def handler() -> None:
        try:
            await fut
        except asyncio.CancelledError:
            out.append("cancelled")
            raise

    task = s.start(handler())
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out == ["cancelled"] and fut.cancelled()


@eager_311
async def test_a_handler_cancelled_while_it_waits_after_keeping_its_task() -> None:
    s = starter()
    out: list[str] = []

    async def handler() -> None:
        me = asyncio.current_task()  # kept: the spare goes on as this Task
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            out.append("cancelled" if asyncio.current_task() is me else "wrong task")
            raise

    task = s.start(handler())
    assert task is not None
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out == ["cancelled"]


@eager_311
async def test_a_start_from_a_loop_callback_outside_any_task() -> None:
    s = starter()
    seen: list[bool] = []
    started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler() -> None:
        seen.append(asyncio.current_task() is not None)
        await asyncio.sleep(0)
        seen.append(asyncio.current_task() is not None)

    def callback() -> None:
        started.set_result((s.start(handler()), asyncio.current_task()))

    asyncio.get_running_loop().call_soon(callback)
    task, current_after = await started
    assert current_after is None  # no task is left current in the callback
    await task
    assert seen == [True, True]


@eager_311
async def test_an_error_in_the_first_step_fails_the_task() -> None:
    s = starter()

    async def handler() -> None:
        raise RuntimeError("first step")

    task = s.start(handler())
    assert task is not None and task.done()
    assert isinstance(task.exception(), RuntimeError)


# --- through the engine, against a real Redis ---------------------------------------


def _state(r: redis.Redis, tid: str) -> bytes | None:
    return r.hget(keys.task_key("default", tid), "state")  # type: ignore[return-value]


async def test_engine_outcomes_of_eagerly_started_handlers(redis_url: str, r: redis.Redis) -> None:
    app = App()
    ran: list[str] = []

    @app.task("quick")
    async def quick(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.payload.decode())

    @app.task("raises")
    async def raises(task: IncomingTask, ctx: Context) -> None:
        raise ValueError("before any await")

    @app.task("overrun")
    async def overrun(task: IncomingTask, ctx: Context) -> None:
        async with asyncio.timeout(
            60
        ):  # keeps the first step's Task: the worker's deadline cancels it
            await asyncio.sleep(30)

    @app.task("own_timeout")
    async def own_timeout(task: IncomingTask, ctx: Context) -> None:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(30)

    async with engine(app, redis_url):
        done = [enqueue(r, "quick", b"%d" % i) for i in range(20)]
        failed = enqueue(r, "raises", retry=3)
        late = enqueue(r, "overrun", retry=3, timeout=1)
        own = enqueue(r, "own_timeout", retry=3)
        await until(lambda: all(not r.exists(keys.task_key("default", t)) for t in done))
        await until(lambda: _state(r, failed) == b"retry")
        await until(lambda: _state(r, own) == b"retry")
        await until(lambda: _state(r, late) == b"retry", timeout=5)
    assert sorted(ran) == sorted(str(i) for i in range(20))
    assert task_msg(r, "default", failed).error_msg == "ValueError: before any await"
    assert task_msg(r, "default", own).error_msg.startswith("TimeoutError")
    assert task_msg(r, "default", late).error_msg.startswith("TaskTimeoutError")


async def test_a_task_interrupted_before_its_first_step_is_reported_once() -> None:
    # A Task canceled before its first step never enters the handler's try: without
    # care its slot would leak and the task would never be acknowledged.
    app = App()

    @app.task("slow")
    async def slow(task: IncomingTask, ctx: Context) -> None:
        await asyncio.sleep(10)

    done: list[BaseException | None] = []
    ex = executor.Executor(app, asyncio.get_running_loop(), 10, lambda r, exc: done.append(exc))
    ex._lazy["slow"] = 5  # its handlers were seen to suspend: started as a plain Task
    msg = executor.TaskMessage(type="slow", id="t1", queue="default")
    running = executor.Running(msg, "default", time.time(), time.time() + 60)
    ex.start(running)
    ex.interrupt(running, executor.Interrupt.CANCELED)
    await asyncio.sleep(0.05)
    assert len(done) == 1 and isinstance(done[0], executor.TaskCanceledError)
    assert running.atask is None or running.atask.done()
