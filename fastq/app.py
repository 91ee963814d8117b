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
from typing import TYPE_CHECKING, Any, ParamSpec

# Re-exported: handlers import the task view and the context from here.
from fastq.context import Context as Context
from fastq.context import IncomingTask as IncomingTask
from fastq.errors import InvalidOptionError, UnknownTaskTypeError
from fastq.flow.limits import Rate, parse_rate
from fastq.lifecycle import H, Lifecycle, State
from fastq.task import Task
from fastq.tasks import KeyFunc, TaskDecorator, TaskFunction, TaskSpec, declare

if TYPE_CHECKING:
    from fastq.scheduler.entry import Entry

Handler = Callable[["IncomingTask", "Context"], Any]
Middleware = Callable[["IncomingTask", "Context"], Generator[None, None, None]]
RetryDelayFunc = Callable[[int, BaseException, "IncomingTask"], float]
GroupAggregator = Callable[[str, list["IncomingTask"]], Task]

_CACHE_LIMIT = 10_000
P = ParamSpec("P")


def default_retry_delay(retried: int, exc: BaseException, task: IncomingTask) -> float:
    """Asynq's default backoff: ``retried**4 + 15 + random(0..29) * (retried + 1)`` seconds."""
    return float(retried**4 + 15 + random.randrange(30) * (retried + 1))


class Route:
    """A resolved handler: the function, whether it is async, the middleware, the
    concurrency key function and cap (``key_fn`` None: no per-key cap) and the
    type's rate limit (None: none)."""

    __slots__ = ("concurrency", "fn", "is_async", "key_fn", "middleware", "rate")

    def __init__(
        self,
        fn: Handler,
        middleware: tuple[Middleware, ...],
        key_fn: KeyFunc | None = None,
        concurrency: int = 0,
        rate: Rate | None = None,
    ) -> None:
        self.fn = fn
        self.key_fn = key_fn
        self.concurrency = concurrency
        self.rate = rate
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
        self._keys: dict[str, tuple[KeyFunc, int]] = {}  # per-key caps by type/pattern
        self._rates: dict[str, Rate] = {}  # per-type rate limits by type/pattern
        self._middleware: list[Middleware] = []
        self._routes: dict[str, Route] = {}
        self.entries: list[Entry] = []  # periodic entries declared in code
        self.group_aggregator = group_aggregator
        self.group_policy: tuple[float, float, int] = (60.0, 0.0, 0)  # grace, delay, size
        self.scheduler_hooks: Any = None  # a fastq.scheduler.hooks.Hooks, if set
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
        if spec.concurrency_key is not None:
            self._keys[spec.type] = (spec.concurrency_key, spec.concurrency)
        if spec.rate_limit is not None:
            self._rates[spec.type] = parse_rate(spec.rate_limit)

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
        # Imported here: cron parsing and time zones only for apps that schedule.
        from fastq.scheduler.entry import make_entry

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

    @property
    def has_flow_limits(self) -> bool:
        """True when some task type declares a per-key cap or a rate limit."""
        return bool(self._keys or self._rates)

    def route(self, task_type: str) -> Route:
        """The route serving ``task_type``; UnknownTaskTypeError if none."""
        route = self._routes.get(task_type)
        if route is not None:
            return route
        pattern = task_type
        fn = self._handlers.get(task_type)
        if fn is None:
            best = ""
            for pattern in self._handlers:
                if len(pattern) > len(best) and task_type.startswith(pattern):
                    best = pattern
            if not best:
                raise UnknownTaskTypeError(task_type)
            pattern = best
            fn = self._handlers[best]
        if len(self._routes) >= _CACHE_LIMIT:
            self._routes.clear()
        key_fn, cap = self._keys.get(pattern, (None, 0))
        route = Route(fn, tuple(self._middleware), key_fn, cap, self._rates.get(pattern))
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
