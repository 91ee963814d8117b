"""App: registration, Asynq-style pattern routing, middleware, Context."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any

import pytest

from fastq._core import TaskMessage
from fastq.app import App, Context, IncomingTask, default_retry_delay, run_async, run_sync
from fastq.errors import InvalidOptionError, UnknownTaskTypeError


def _task(t: str = "email:welcome", payload: bytes = b'{"to": "a@b"}') -> IncomingTask:
    return IncomingTask(
        TaskMessage(
            type=t, payload=payload, id="id1", queue="q", retry=5, retried=2, headers={"h": "v"}
        )
    )


def test_routing_exact_then_longest_prefix() -> None:
    app = App()
    app.handle("email:", lambda t, c: "prefix")
    app.handle("email:welcome", lambda t, c: "exact")
    app.handle("e", lambda t, c: "short")
    assert app.route("email:welcome").fn(_task(), Context("i", "q", 0)) == "exact"
    assert app.route("email:bye").fn(_task(), Context("i", "q", 0)) == "prefix"
    assert app.route("eat").fn(_task(), Context("i", "q", 0)) == "short"
    with pytest.raises(UnknownTaskTypeError):
        app.route("sms:send")


def test_decorator_and_duplicates() -> None:
    app = App()

    @app.task("a")
    async def a(task: IncomingTask, ctx: Context) -> None:
        return None

    assert app.route("a").is_async
    with pytest.raises(InvalidOptionError):
        app.handle("a", lambda t, c: None)
    with pytest.raises(InvalidOptionError):
        app.use(lambda t, c: None)  # type: ignore[arg-type, return-value]


def test_incoming_task_view() -> None:
    t = _task()
    assert (t.type, t.id, t.queue, t.retried, t.max_retry) == (
        "email:welcome",
        "id1",
        "q",
        2,
        5,
    )
    assert t.retry_count == t.retried  # the alias reads the same field
    assert t.json() == {"to": "a@b"} and t.headers == {"h": "v"} and t.payload == b'{"to": "a@b"}'


def test_middleware_order_and_errors_for_both_kinds() -> None:
    app = App()
    seen: list[str] = []

    @app.use
    def outer(task: IncomingTask, ctx: Context) -> Generator[None, None, None]:
        seen.append("outer-in")
        try:
            yield
        finally:
            seen.append("outer-out")

    @app.use
    def swallow(task: IncomingTask, ctx: Context) -> Generator[None, None, None]:
        seen.append("inner-in")
        try:
            yield
        except KeyError:
            seen.append("swallowed")

    def bad(task: IncomingTask, ctx: Context) -> Any:
        raise KeyError("x")

    async def good(task: IncomingTask, ctx: Context) -> Any:
        seen.append("handler")
        return 7

    app.handle("bad", bad)
    app.handle("good", good)
    ctx = Context("i", "q", time.time() + 5)
    assert run_sync(app.route("bad"), _task("bad"), ctx) is None
    assert seen == ["outer-in", "inner-in", "swallowed", "outer-out"]
    seen.clear()
    assert asyncio.run(run_async(app.route("good"), _task("good"), ctx)) == 7
    assert seen == ["outer-in", "inner-in", "handler", "outer-out"]


def test_middleware_propagates_error() -> None:
    app = App()

    @app.use
    def passthrough(task: IncomingTask, ctx: Context) -> Generator[None, None, None]:
        yield

    def bad(task: IncomingTask, ctx: Context) -> Any:
        raise ValueError("boom")

    app.handle("bad", bad)
    with pytest.raises(ValueError, match="boom"):
        run_sync(app.route("bad"), _task("bad"), Context("i", "q", time.time() + 5))


def test_context() -> None:
    ctx = Context("i", "q", time.time() + 0.2)
    assert not ctx.done and not ctx.expired
    ctx.write_result(b"r")
    assert ctx.result == b"r"
    with pytest.raises(InvalidOptionError):
        ctx.write_result("str")  # type: ignore[arg-type]
    ctx.cancel("canceled")
    assert ctx.cancelled and ctx.done and ctx.wait(1.0)
    assert Context("i", "q", time.time() - 1).expired


def test_default_retry_delay_matches_asynq_formula() -> None:
    for n in range(5):
        d = default_retry_delay(n, ValueError(), _task())
        assert n**4 + 15 <= d <= n**4 + 15 + 29 * (n + 1)
    app = App(retry_delay_func=lambda n, e, t: -3)
    assert app.retry_delay(1, ValueError(), _task()) == 0.0


def test_async_callable_objects_and_coroutine_returning_defs() -> None:
    class Handler:
        async def __call__(self, task: IncomingTask, ctx: Context) -> None:
            return None

    app = App()
    app.handle("obj", Handler())
    app.handle("bad", lambda t, c: Handler()(t, c))
    assert app.route("obj").is_async
    with pytest.raises(TypeError, match="returned a coroutine"):
        run_sync(app.route("bad"), _task("bad"), Context("i", "q", time.time() + 5))
