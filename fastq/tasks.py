"""Typed tasks: declare a task where its handler is, call it like a function.

``@app.task("email:send", queue="default", max_retry=5)`` on a handler with
keyword arguments returns a ``TaskFunction``::

    @app.task("email:send", max_retry=5)
    async def send(ctx: fastq.Context, user_id: int, template: str) -> None: ...

    send.enqueue(user_id=1, template="welcome")          # blocking, default client
    await send.aenqueue(user_id=1, template="welcome")   # asyncio
    send.using(queue="critical", process_in=60).enqueue(user_id=1, template="x")

The payload is the JSON object of the arguments (``{"user_id":1,"template":"welcome"}``),
so the task stays an ordinary Asynq task for Go producers and workers. The options
``@app.task`` accepts are the fields of ``TaskSpec``: a feature that needs a new
per-task option adds a field there.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES
from fastq.context import Context, IncomingTask
from fastq.defaults import default_async_client, default_client, is_eager
from fastq.errors import InvalidOptionError, SkipRetry
from fastq.lifecycle import State
from fastq.options import OPTION_SET, non_blank, normalize_options
from fastq.task import Task, TaskInfo, TaskState, prepare
from fastq.typed import Signature, is_legacy

P = ParamSpec("P")
R = TypeVar("R")
LegacyHandler = Callable[[IncomingTask, Context], Any]
L = TypeVar("L", bound=LegacyHandler)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """What ``@app.task`` declares about a task type: its enqueue defaults and any
    per-type option another feature reads (add a field to add an option).

    Attributes:
        type: the task type name.
        queue, max_retry, timeout, retention, unique, headers: enqueue defaults, as
            for ``fastq.Task`` (None: not set); per-call options override them.
    """

    type: str
    queue: str | None = None
    max_retry: int | None = None
    timeout: float | timedelta | None = None
    retention: float | timedelta | None = None
    unique: float | timedelta | None = None
    headers: Mapping[str, str] | None = None

    @classmethod
    def of(cls, task_type: str, options: Mapping[str, Any]) -> TaskSpec:
        """A validated spec; an unknown option raises InvalidOptionError naming it.

        Args:
            task_type: the task type name (non-blank).
            options: the keyword options given to ``@app.task``.
        """
        known = [f.name for f in fields(cls) if f.name != "type"]
        for name in options:
            if name not in known:
                raise InvalidOptionError(name, f"unknown task option; valid: {', '.join(known)}")
        spec = cls(type=non_blank("type", task_type), **options)
        spec.task(None)  # validates the enqueue defaults now, where the task is declared
        return spec

    def enqueue_options(self) -> dict[str, Any]:
        """The options that are enqueue defaults and were set."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in OPTION_SET and value is not None:
                out[f.name] = value
        return out

    def task(self, payload: bytes | None) -> Task:
        """A protocol-level ``Task`` of this type carrying ``payload`` and the defaults."""
        return Task(self.type, payload, **self.enqueue_options())


class TaskFunction(Generic[P, R]):
    """A typed task: enqueue it with the handler's own arguments.

    Made by ``@app.task`` (with a handler) or ``fastq.declare`` (a stub, for
    producers that do not import handler code). Arguments are checked against the
    signature before anything is sent: a missing, unexpected or ill-typed one
    raises ``InvalidOptionError`` naming it.

    Args:
        spec: the task's type and enqueue defaults.
        signature: the handler's (or stub's) payload arguments.
        handler: the ``(task, ctx)`` adapter the worker runs; None for a stub.
        state: the app's per-process state (``ctx.state`` in eager runs).
        overrides: per-call enqueue options (what ``using`` adds).
        fn: the decorated function itself.
    """

    def __init__(
        self,
        spec: TaskSpec,
        signature: Signature,
        handler: LegacyHandler | None = None,
        state: State | None = None,
        overrides: Mapping[str, Any] | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> None:
        self.spec = spec
        self.signature = signature
        self.handler = handler  # the (task, ctx) adapter the worker runs; None for a stub
        self.fn = fn  # the decorated function itself (call it directly in unit tests)
        self.state = state if state is not None else State()
        self._overrides = dict(overrides or {})

    @property
    def type(self) -> str:
        """The task type name."""
        return self.spec.type

    def message(self, *args: P.args, **kwargs: P.kwargs) -> Task:
        """The protocol-level ``Task`` a call stands for (type, JSON payload, defaults).

        Args:
            *args, **kwargs: the handler's arguments (``ctx`` excluded).
        """
        return self.spec.task(self.signature.payload(args, kwargs))

    def using(self, **options: Any) -> TaskFunction[P, R]:
        """The same task with per-call options (queue, process_in, unique, task_id, ...).

        Args:
            **options: any ``Client.enqueue`` option; they override the defaults
                declared on the task and earlier ``using`` calls.
        """
        merged = {**self._overrides, **normalize_options(options)}
        return TaskFunction(self.spec, self.signature, self.handler, self.state, merged, self.fn)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskInfo:
        """Enqueue one call through the default client; returns its TaskInfo.

        Under ``fastq.configure(eager=True)`` the handler runs here instead.

        Args:
            *args, **kwargs: the handler's arguments (``ctx`` excluded).
        """
        task = self.message(*args, **kwargs)
        if is_eager():
            return _run_coro(self._run_inline(task))
        return default_client().enqueue(task, **self._overrides)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskInfo:
        """``enqueue`` for asyncio code (the running loop's default AsyncClient).

        Args:
            *args, **kwargs: the handler's arguments (``ctx`` excluded).
        """
        task = self.message(*args, **kwargs)
        if is_eager():
            return await self._run_inline(task)
        return await default_async_client().enqueue(task, **self._overrides)

    def enqueue_many(self, calls: Iterable[Mapping[str, Any]]) -> list[TaskInfo]:
        """Enqueue many calls in one round trip (see ``Client.enqueue_many``).

        Args:
            calls: one mapping of keyword arguments per task. Every call is checked
                first: one bad call raises and nothing is sent.
        """
        tasks = [self.spec.task(self.signature.payload((), c)) for c in calls]
        if is_eager():
            return [_run_coro(self._run_inline(t)) for t in tasks]
        return default_client().enqueue_many(tasks, **self._overrides)

    async def aenqueue_many(self, calls: Iterable[Mapping[str, Any]]) -> list[TaskInfo]:
        """``enqueue_many`` for asyncio code.

        Args:
            calls: one mapping of keyword arguments per task.
        """
        tasks = [self.spec.task(self.signature.payload((), c)) for c in calls]
        if is_eager():
            return [await self._run_inline(t) for t in tasks]
        return await default_async_client().enqueue_many(tasks, **self._overrides)

    def run_eagerly(self, *args: P.args, **kwargs: P.kwargs) -> TaskInfo:
        """Run the handler here, now, on exactly the payload a worker would get.

        Returns the TaskInfo of the run (state ``completed``, ``result`` what the
        handler wrote); the handler's error propagates.

        Args:
            *args, **kwargs: the handler's arguments (``ctx`` excluded).
        """
        return _run_coro(self._run_inline(self.message(*args, **kwargs)))

    async def arun_eagerly(self, *args: P.args, **kwargs: P.kwargs) -> TaskInfo:
        """``run_eagerly`` from asyncio code (an async handler runs on this loop).

        Args:
            *args, **kwargs: the handler's arguments (``ctx`` excluded).
        """
        return await self._run_inline(self.message(*args, **kwargs))

    async def _run_inline(self, task: Task) -> TaskInfo:
        if self.handler is None:
            raise InvalidOptionError("eager", f"{self.type!r} is a declared stub without handler")
        overrides = normalize_options(self._overrides) if self._overrides else {}
        p = prepare(task, overrides, time.time_ns(), DEFAULT_MAX_PAYLOAD_BYTES)
        msg = p.msg
        timeout = msg.timeout or 1800
        ctx = Context(msg.id, msg.queue, time.time() + timeout, self.state)
        result = self.handler(IncomingTask(msg), ctx)
        if inspect.isawaitable(result):
            await result
        return TaskInfo.from_message(msg, TaskState.COMPLETED, result=ctx.result)

    def __repr__(self) -> str:
        return f"<TaskFunction {self.type!r}>"


def _run_coro(coro: Any) -> TaskInfo:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[no-any-return]
    coro.close()
    raise InvalidOptionError("eager", "inside a running event loop: use aenqueue / arun_eagerly")


def adapt(fn: Callable[..., Any], signature: Signature) -> LegacyHandler:
    """The ``(task, ctx)`` handler the worker runs for a typed handler.

    A payload that does not fit the signature can never succeed: the task is
    archived at once (SkipRetry) with the reason naming the argument.
    """

    def arguments(task: IncomingTask, ctx: Context) -> dict[str, Any]:
        try:
            kwargs = signature.arguments(task.payload)
        except InvalidOptionError as exc:
            raise SkipRetry(f"payload does not fit {signature.name}: {exc}") from exc
        if signature.takes_ctx:
            kwargs["ctx"] = ctx
        return kwargs

    if inspect.iscoroutinefunction(fn):

        async def run_async(task: IncomingTask, ctx: Context) -> Any:
            return await fn(**arguments(task, ctx))

        handler: LegacyHandler = run_async
    else:

        def run_sync(task: IncomingTask, ctx: Context) -> Any:
            return fn(**arguments(task, ctx))

        handler = run_sync
    handler.__qualname__ = getattr(fn, "__qualname__", handler.__qualname__)
    handler.__module__ = getattr(fn, "__module__", handler.__module__)
    return handler


class TaskDecorator:
    """What ``@app.task(...)`` applies to a handler.

    A ``(task, ctx)`` handler is registered as it is and returned unchanged; a
    handler with keyword arguments becomes a ``TaskFunction``.

    Args:
        spec: what ``@app.task`` declared.
        register: registers the (adapted) handler and its spec with the app.
        state: the app's per-process state.
    """

    def __init__(
        self, spec: TaskSpec, register: Callable[[TaskSpec, LegacyHandler], None], state: State
    ) -> None:
        self.spec = spec
        self._register = register
        self._state = state

    @overload
    def __call__(self, fn: L) -> L: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[Context, P], R]) -> TaskFunction[P, R]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, R]) -> TaskFunction[P, R]: ...
    def __call__(self, fn: Callable[..., Any]) -> Any:
        if not callable(fn):
            raise InvalidOptionError("handler", f"{fn!r} is not callable")
        if is_legacy(fn):
            self._register(self.spec, fn)
            return fn
        signature = Signature(fn)
        handler = adapt(fn, signature)
        self._register(self.spec, handler)
        return TaskFunction(self.spec, signature, handler, self._state, fn=fn)


def declare(task_type: str, **options: Any) -> Callable[[Callable[P, Any]], TaskFunction[P, None]]:
    """Declare a typed task from a stub, for producers that must not import the
    handler's code::

        @fastq.declare("email:send", queue="default")
        def send(user_id: int, template: str) -> None: ...

        send.enqueue(user_id=1, template="welcome")

    Args:
        task_type: the task type name the worker serves.
        **options: the enqueue defaults (``TaskSpec`` fields).
    """
    spec = TaskSpec.of(task_type, options)

    def stub(fn: Callable[P, Any]) -> TaskFunction[P, None]:
        return TaskFunction(spec, Signature(fn))

    return stub
