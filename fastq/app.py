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

``@app.task`` also takes typed handlers (keyword arguments, a JSON payload) and
per-type defaults: see ``fastq.tasks``.

Type patterns follow Asynq's ServeMux: a type is served by the handler registered
for exactly that type, else by the longest registered pattern it starts with
(``"email:"`` serves ``"email:welcome"``).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Generator
from typing import Any, ParamSpec

# Re-exported: handlers import the task view and the context from here.
from fastq.context import Context as Context
from fastq.context import IncomingTask as IncomingTask
from fastq.errors import InvalidOptionError, UnknownTaskTypeError
from fastq.lifecycle import H, Lifecycle, State
from fastq.tasks import TaskDecorator, TaskFunction, TaskSpec, declare

Handler = Callable[["IncomingTask", "Context"], Any]
Middleware = Callable[["IncomingTask", "Context"], Generator[None, None, None]]
RetryDelayFunc = Callable[[int, BaseException, "IncomingTask"], float]

_CACHE_LIMIT = 10_000
P = ParamSpec("P")


def default_retry_delay(retried: int, exc: BaseException, task: IncomingTask) -> float:
    """Asynq's default backoff: ``retried**4 + 15 + random(0..29) * (retried + 1)`` seconds."""
    return float(retried**4 + 15 + random.randrange(30) * (retried + 1))


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
    ) -> None:
        self.retry_delay_func: RetryDelayFunc = retry_delay_func or default_retry_delay
        self.is_failure: Callable[[BaseException], bool] = is_failure or (lambda exc: True)
        self.error_handler = error_handler
        self._handlers: dict[str, Handler] = {}
        self._middleware: list[Middleware] = []
        self._routes: dict[str, Route] = {}
        self.specs: dict[str, TaskSpec] = {}  # what @app.task declared, by type
        self.state = State()  # per worker process (the app is copied by the fork)
        self.lifecycle = Lifecycle()

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

    def task(self, task_type: str, **options: Any) -> TaskDecorator:
        """Decorator: register a handler for ``task_type`` and declare its defaults.

        A ``(task, ctx)`` handler is returned unchanged (the protocol-level form).
        A handler with keyword arguments (``ctx: Context`` first if it wants the
        context) becomes a ``TaskFunction`` with ``enqueue``/``aenqueue``; its
        payload is the JSON object of its arguments (see ``fastq.tasks``).

        Args:
            task_type: the type or prefix pattern the function serves.
            **options: ``TaskSpec`` fields: queue, max_retry, timeout, retention,
                unique, headers (enqueue defaults of a typed task).
        """
        return TaskDecorator(TaskSpec.of(task_type, options), self._register_spec, self.state)

    def _register_spec(self, spec: TaskSpec, fn: Handler) -> None:
        self.handle(spec.type, fn)
        self.specs[spec.type] = spec

    def declare(
        self, task_type: str, **options: Any
    ) -> Callable[[Callable[P, Any]], TaskFunction[P, None]]:
        """Declare a typed task served elsewhere, from a stub (see ``fastq.declare``).

        Args:
            task_type: the task type name.
            **options: the enqueue defaults (``TaskSpec`` fields).
        """
        return declare(task_type, **options)

    def on_startup(self, fn: H) -> H:
        """Run ``fn(state)`` (def or async def) once in each worker process before
        it takes a task; an error stops the worker (boot error). Returns ``fn``.

        Args:
            fn: the hook; it sets attributes on ``state`` (also ``ctx.state``).
        """
        self.lifecycle.startup.append(Lifecycle.check(fn))
        return fn

    def on_shutdown(self, fn: H) -> H:
        """Run ``fn(state)`` once in each worker process after its last task
        (last registered first; errors are logged). Returns ``fn``.

        Args:
            fn: the hook, e.g. closing what a startup hook opened.
        """
        self.lifecycle.shutdown.append(Lifecycle.check(fn))
        return fn

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
