"""The handler registry: task types -> handlers, middleware, and the handler's view.

A handler is ``def handler(task, ctx)`` (run in the worker's thread pool) or
``async def handler(task, ctx)`` (run on the worker's event loop). ``task`` is an
``IncomingTask`` and ``ctx`` a ``Context``. Returning normally is success; raising
is failure (retried with backoff, archived when retries run out); raise
``fastq.SkipRetry`` to archive at once or ``fastq.RevokeTask`` to drop the task.

Example::

    app = App()

    @app.task("email:send")
    async def send(task: IncomingTask, ctx: Context) -> None:
        await mailer.send(**task.json())

Type patterns follow Asynq's ServeMux: a type is served by the handler registered
for exactly that type, else by the longest registered pattern it starts with
(``"email:"`` serves ``"email:welcome"``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from fastq._core import TaskMessage
from fastq.errors import InvalidOptionError, UnknownTaskTypeError
from fastq.scheduler.entry import Entry, make_entry
from fastq.task import Task

Handler = Callable[["IncomingTask", "Context"], Any]
Middleware = Callable[["IncomingTask", "Context"], Generator[None, None, None]]
RetryDelayFunc = Callable[[int, BaseException, "IncomingTask"], float]
GroupAggregator = Callable[[str, list["IncomingTask"]], Task]

_CACHE_LIMIT = 10_000


def default_retry_delay(retried: int, exc: BaseException, task: IncomingTask) -> float:
    """Asynq's default backoff: ``retried**4 + 15 + random(0..29) * (retried + 1)`` seconds."""
    return float(retried**4 + 15 + random.randrange(30) * (retried + 1))


class IncomingTask:
    """The task a handler runs, a read-only view of the Asynq task message."""

    __slots__ = ("_msg",)

    def __init__(self, msg: TaskMessage) -> None:
        self._msg = msg

    @property
    def type(self) -> str:
        return self._msg.type

    @property
    def payload(self) -> bytes:
        return self._msg.payload

    @property
    def id(self) -> str:
        return self._msg.id

    @property
    def queue(self) -> str:
        return self._msg.queue

    @property
    def retried(self) -> int:
        """How many times the task was already retried (Asynq ``retried``)."""
        return self._msg.retried

    @property
    def retry_count(self) -> int:
        """Alias of :attr:`retried`, kept for code written against earlier versions."""
        return self._msg.retried

    @property
    def max_retry(self) -> int:
        """How many retries the task may use (Asynq ``retry``)."""
        return self._msg.retry

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._msg.headers)

    @property
    def message(self) -> TaskMessage:
        """A copy of the underlying TaskMessage."""
        return self._msg.copy()

    def json(self) -> Any:
        """The payload decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self._msg.payload)

    def __repr__(self) -> str:
        return f"IncomingTask(type={self.type!r}, id={self.id!r}, queue={self.queue!r})"


class Context:
    """What a running handler knows about its limits, and where it writes a result.

    ``deadline`` is a unix time: ``min(start + timeout, task deadline)``. An
    ``async def`` handler is cancelled at the deadline (or when the task is
    canceled); a ``def`` handler must check ``ctx.done`` (or sleep with
    ``ctx.wait``) and return: if it overruns the deadline by the worker's
    ``sync_grace``, the process asks to be recycled.
    """

    __slots__ = (
        "_event",
        "_result",
        "cancel_reason",
        "deadline",
        "queue",
        "result_writer",
        "task_id",
    )

    def __init__(self, task_id: str, queue: str, deadline: float) -> None:
        self.task_id = task_id
        self.queue = queue
        self.deadline = deadline
        self.cancel_reason = ""  # "", "timeout", "canceled", "shutdown" or "lease"
        self._event: threading.Event | None = None
        self._result: bytes | None = None
        # Set by the worker: writes to Redis at once, raises LeaseLostError.
        self.result_writer: Callable[[bytes], int] | None = None

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.time() >= self.deadline

    @property
    def cancelled(self) -> bool:
        """True once the task was canceled, timed out or the worker is shutting down."""
        return bool(self.cancel_reason)

    @property
    def done(self) -> bool:
        """True when the handler should stop: cancelled or past its deadline."""
        return bool(self.cancel_reason) or time.time() >= self.deadline

    def remaining(self) -> float:
        """Seconds left until the deadline (0 when past it)."""
        return max(0.0, self.deadline - time.time())

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds (default: until the deadline); wakes early
        on cancellation. Returns True if the task was cancelled."""
        if self._event is None:
            self._event = threading.Event()
            if self.cancel_reason:
                self._event.set()
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        return self._event.wait(limit)

    def cancel(self, reason: str) -> None:
        """Signal cancellation (the worker calls this; handlers only observe it)."""
        if not self.cancel_reason:
            self.cancel_reason = reason
        if self._event is not None:
            self._event.set()

    def write_result(self, data: bytes) -> int:
        """Store ``data`` in the task hash field ``result`` now (Asynq's
        ``ResultWriter.Write``): it is visible (``Inspector.task_info``, ``fastq task
        inspect``) while the task still runs. Keep the task with a retention to read
        it after it finished. Returns the number of bytes written.

        It is one Redis round trip from any handler; in an ``async def`` handler it
        blocks the event loop meanwhile, so prefer ``await ctx.write_result_async``.

        Args:
            data: the result bytes; a later call replaces an earlier one.

        Raises:
            LeaseLostError: this worker no longer holds the task (its lease was lost,
                or the handler already returned): nothing was written.
            BrokerError: Redis refused or could not be reached.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidOptionError("result", "write_result takes bytes")
        result = bytes(data)
        written = len(result) if self.result_writer is None else self.result_writer(result)
        self._result = result
        return written

    async def write_result_async(self, data: bytes) -> int:
        """``write_result`` for ``async def`` handlers: the round trip runs in a
        thread, the event loop keeps serving other tasks.

        Args:
            data: the result bytes; a later call replaces an earlier one.
        """
        return await asyncio.to_thread(self.write_result, data)

    @property
    def result(self) -> bytes | None:
        """The bytes last written with ``write_result`` (None: nothing written)."""
        return self._result


class Route:
    """A resolved handler: the function, whether it is async, and the middleware."""

    __slots__ = ("fn", "is_async", "middleware")

    def __init__(self, fn: Handler, middleware: tuple[Middleware, ...]) -> None:
        self.fn = fn
        # An object with ``async def __call__`` is an async handler too.
        call = type(fn).__call__ if not inspect.isfunction(fn) else None
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)
        self.middleware = middleware


class App:
    """Handler registry and failure policy of a worker.

    Args:
        retry_delay_func: ``f(retried, exc, task) -> seconds`` until the next
            attempt; default Asynq's ``retried**4 + 15 + random(0..29)*(retried+1)``.
        is_failure: ``f(exc) -> bool``; an error for which it returns False is
            retried without counting as failed and without using a retry (Asynq's
            IsFailure). A task whose retries are used up is archived either way,
            as Asynq does. Default: every error is a failure.
        group_aggregator: ``f(group, tasks) -> Task`` that merges a group's tasks
            into one (Asynq's GroupAggregator); see ``aggregate`` for the triggers.
        error_handler: ``f(task, exc)`` called for every error a handler raises,
            RevokeTask and SkipRetry included (Asynq's ErrorHandler), on the
            worker's event loop; keep it fast, its own errors are logged.
    """

    def __init__(
        self,
        *,
        retry_delay_func: RetryDelayFunc | None = None,
        is_failure: Callable[[BaseException], bool] | None = None,
        error_handler: Callable[[IncomingTask, BaseException], None] | None = None,
        group_aggregator: GroupAggregator | None = None,
    ) -> None:
        self.retry_delay_func: RetryDelayFunc = retry_delay_func or default_retry_delay
        self.is_failure: Callable[[BaseException], bool] = is_failure or (lambda exc: True)
        self.error_handler = error_handler
        self._handlers: dict[str, Handler] = {}
        self._middleware: list[Middleware] = []
        self._routes: dict[str, Route] = {}
        self.entries: list[Entry] = []  # periodic entries declared in code
        self.group_aggregator = group_aggregator
        self.group_policy: tuple[float, float, int] = (60.0, 0.0, 0)  # grace, delay, size
        self.scheduler_hooks: Any = None  # a fastq.scheduler.hooks.Hooks, if set

    def handle(self, task_type: str, fn: Handler) -> None:
        """Register ``fn`` for ``task_type`` (an exact type or a prefix pattern).

        Args:
            task_type: the type, e.g. ``"payment:process"``, or a prefix such as
                ``"payment:"``.
            fn: a ``def`` or ``async def`` taking ``(task, ctx)``.
        """
        if not task_type:
            raise InvalidOptionError("task_type", "must not be empty")
        if not callable(fn):
            raise InvalidOptionError("handler", f"{fn!r} is not callable")
        if task_type in self._handlers:
            raise InvalidOptionError("task_type", f"{task_type!r} already has a handler")
        self._handlers[task_type] = fn
        self._routes.clear()

    def task(self, task_type: str) -> Callable[[Handler], Handler]:
        """Decorator form of ``handle``; returns the function unchanged.

        Args:
            task_type: the type or prefix pattern the function serves.
        """

        def register(fn: Handler) -> Handler:
            self.handle(task_type, fn)
            return fn

        return register

    def use(self, mw: Middleware) -> Middleware:
        """Add middleware around every handler (first added is outermost).

        A middleware is a generator function ``mw(task, ctx)`` that yields exactly
        once; the handler runs at the ``yield``, so it works for ``def`` and
        ``async def`` handlers alike (it runs in the handler's thread or on the
        loop). The handler's exception is raised at the ``yield``: let it
        propagate, replace it by raising another, or swallow it to turn the
        attempt into a success::

            @app.use
            def timing(task, ctx):
                start = time.monotonic()
                try:
                    yield
                finally:
                    log.info("ran", type=task.type, took=time.monotonic() - start)

        Args:
            mw: the generator function; returned unchanged so ``use`` decorates.
        """
        if not inspect.isgeneratorfunction(mw):
            raise InvalidOptionError("middleware", "must be a generator function that yields once")
        self._middleware.append(mw)
        self._routes.clear()
        return mw

    def schedule(
        self, spec: str, task: Task, *, tz: str | None = None, missed: str = "skip", **options: Any
    ) -> Entry:
        """Enqueue ``task`` on a schedule (run by ``fastq scheduler`` or
        ``fastq-worker --scheduler``; each tick once however many run).

        Args:
            spec: ``"*/5 * * * *"``, six fields with seconds first, ``"@every 30s"``,
                ``"@daily"`` ... (see docs/scheduling.md).
            task: the task to enqueue at each tick.
            tz: IANA zone the cron fields are read in (default: the scheduler's, UTC).
            missed: ``"skip"`` (default) or ``"last"``: after every scheduler was
                down, enqueue the most recent missed tick once.
            **options: enqueue options over the task's own, plus ``entry_id`` to
                name the entry (default: derived from spec, zone, task and options).
        """
        entry = make_entry(spec, task, tz=tz, missed=missed, **options)
        if any(e.id == entry.id for e in self.entries):
            raise InvalidOptionError("entry_id", f"entry {entry.id!r} is already scheduled")
        self.entries.append(entry)
        return entry

    def periodic(
        self, spec: str, *, type: str | None = None, payload: bytes = b"", **options: Any
    ) -> Callable[[Handler], Handler]:
        """Decorator: serve a task type with this handler and enqueue it on ``spec``.

        Args:
            spec: the schedule, as for ``schedule``.
            type: the task type (default: the type the handler is already registered
                for, else ``module.function``).
            payload: the payload of each periodic task.
            **options: ``tz``, ``missed``, ``entry_id`` and enqueue options, as for
                ``schedule``.
        """

        def register(fn: Handler) -> Handler:
            known = [t for t, h in self._handlers.items() if h is fn]
            task_type = type or (known[0] if known else f"{fn.__module__}.{fn.__qualname__}")
            if task_type not in self._handlers:
                self.handle(task_type, fn)
            self.schedule(spec, Task(task_type, payload), **options)
            return fn

        return register

    def aggregate(
        self,
        fn: GroupAggregator | None = None,
        *,
        grace_period: float = 60.0,
        max_delay: float = 0.0,
        max_size: int = 0,
    ) -> Any:
        """Set the group aggregator and when a group is aggregated (Asynq's rules).

        Usable as ``@app.aggregate`` or ``@app.aggregate(grace_period=10)``.

        Args:
            fn: ``f(group, tasks) -> Task``; the task is enqueued in the group's queue.
            grace_period: aggregate when no task joined the group for this long
                (seconds, >= 1; Asynq's GroupGracePeriod, default 60).
            max_delay: aggregate when the oldest task has waited this long (0: never).
            max_size: aggregate when the group holds this many tasks (0: no limit).
        """
        if grace_period < 1 or max_delay < 0 or max_size < 0:
            raise InvalidOptionError("aggregate", "need grace_period >= 1, max_delay/size >= 0")
        self.group_policy = (float(grace_period), float(max_delay), int(max_size))

        def register(f: GroupAggregator) -> GroupAggregator:
            self.group_aggregator = f
            return f

        return register if fn is None else register(fn)

    @property
    def task_types(self) -> list[str]:
        """Registered types and patterns."""
        return list(self._handlers)

    def route(self, task_type: str) -> Route:
        """The route serving ``task_type``; UnknownTaskTypeError if none."""
        route = self._routes.get(task_type)
        if route is not None:
            return route
        fn = self._handlers.get(task_type)
        if fn is None:
            best = ""
            for pattern in self._handlers:
                if len(pattern) > len(best) and task_type.startswith(pattern):
                    best = pattern
            if not best:
                raise UnknownTaskTypeError(task_type)
            fn = self._handlers[best]
        if len(self._routes) >= _CACHE_LIMIT:
            self._routes.clear()
        route = Route(fn, tuple(self._middleware))
        self._routes[task_type] = route
        return route

    def retry_delay(self, retried: int, exc: BaseException, task: IncomingTask) -> float:
        """Seconds until the next attempt, per ``retry_delay_func`` (never negative)."""
        return max(0.0, float(self.retry_delay_func(retried, exc, task)))


def enter_middleware(
    chain: tuple[Middleware, ...], task: IncomingTask, ctx: Context
) -> list[Generator[None, None, None]]:
    """Run each middleware up to its ``yield``; unwinds the entered ones on error."""
    entered: list[Generator[None, None, None]] = []
    for mw in chain:
        gen = mw(task, ctx)
        try:
            next(gen)
        except BaseException as exc:
            exit_middleware(entered, exc)
            raise
        entered.append(gen)
    return entered


def exit_middleware(entered: list[Generator[None, None, None]], exc: BaseException | None) -> None:
    """Resume the entered middleware innermost first, passing the handler's error in.

    Raises the error that is left after every middleware had its say.
    """
    for gen in reversed(entered):
        try:
            if exc is None:
                next(gen)
            else:
                gen.throw(exc)
        except StopIteration:
            exc = None
            continue
        except BaseException as err:
            exc = err
            continue
        exc = RuntimeError(f"middleware {gen!r} yielded more than once")
    if exc is not None:
        raise exc


def _no_coroutine(result: Any) -> Any:
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError("a def handler returned a coroutine: register it as an async def")
    return result


def run_sync(route: Route, task: IncomingTask, ctx: Context) -> Any:
    """Call a ``def`` handler with its middleware (in a worker thread)."""
    if not route.middleware:
        return _no_coroutine(route.fn(task, ctx))
    entered = enter_middleware(route.middleware, task, ctx)
    try:
        result = _no_coroutine(route.fn(task, ctx))
    except BaseException as exc:
        exit_middleware(entered, exc)
        return None
    exit_middleware(entered, None)
    return result


async def run_async(route: Route, task: IncomingTask, ctx: Context) -> Any:
    """Await an ``async def`` handler with its middleware (on the event loop)."""
    if not route.middleware:
        return await route.fn(task, ctx)
    entered = enter_middleware(route.middleware, task, ctx)
    try:
        result = await route.fn(task, ctx)
    except BaseException as exc:
        exit_middleware(entered, exc)
        return None
    exit_middleware(entered, None)
    return result
