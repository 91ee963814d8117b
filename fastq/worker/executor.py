"""Runs handlers: ``async def`` ones on the event loop, ``def`` ones in a thread pool.

Finished tasks are reported to one callback on the loop. The thread pool's threads
pull jobs from a deque themselves (a busy thread takes the next job without a
wake-up) and hand results back in batches: a thread appends to a deque and wakes
the loop only if no wake-up is already pending, so a burst of short ``def``
handlers costs a few thread wake-ups and loop wake-ups, not one each per task.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import inspect
import sys
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from enum import Enum
from typing import Any
from weakref import getweakrefcount as _weakref_count

import structlog

from fastq._core import TaskMessage
from fastq.app import App, Context, IncomingTask, Route, run_async, run_sync
from fastq.errors import TaskCanceledError, TaskTimeoutError, UnknownTaskTypeError

log = structlog.get_logger("fastq.worker")

MAX_ERROR_BYTES = 4096  # error text stored on a task per failure (UTF-8 bytes)
# After a handler of a task type suspends in an eager first step, start the next
# this many tasks of that type as plain Tasks: for a handler that awaits I/O, the
# inline attempt costs more than it saves.
EAGER_BACKOFF = 64
EAGER_MEMO_TYPES = 1024  # task types remembered for that (producers choose them)
UNKNOWN_MEMO_BYTES = 64 * 1024  # unknown task types remembered (to warn once each)
_CLIPPED = " ... [truncated]"


class Interrupt(str, Enum):
    """Why the worker interrupted a running task (the ``ctx.cancel_reason``).

    TIMEOUT and CANCELED end as failures; SHUTDOWN (requeued by the shutdown path)
    and LEASE_GONE (another worker may own the task now) are never acknowledged.
    """

    TIMEOUT = "timeout"
    CANCELED = "canceled"
    SHUTDOWN = "shutdown"
    LEASE_GONE = "lease"


class Running:
    """A task this process is running."""

    __slots__ = (
        "atask",
        "ctx",
        "deadline",
        "flow_key",
        "is_async",
        "msg",
        "pending_since",
        "queue",
        "reported",
        "started",
        "task_id",
        "thread_done",
    )

    def __init__(self, msg: TaskMessage, queue: str, started: float, deadline: float) -> None:
        self.msg = msg
        self.task_id = msg.id
        self.queue = queue
        self.started = started
        self.deadline = deadline
        self.ctx = Context(msg.id, queue, deadline)
        self.atask: asyncio.Task[None] | None = None
        self.is_async = False
        self.reported = False  # outcome already handed to the acker
        self.thread_done = True  # False while a def handler occupies a thread
        self.flow_key = ""  # the concurrency key whose slot this run holds ("" none)
        self.pending_since = 0  # unix ns it became pending (0: unknown), for metrics


Done = Callable[[Running, BaseException | None], None]


def interruption_error(running: Running) -> BaseException:
    """The error recorded for a task interrupted by the worker, or past its deadline."""
    if running.ctx.cancel_reason in ("", Interrupt.TIMEOUT):
        return TaskTimeoutError(f"task {running.task_id} exceeded its deadline")
    return TaskCanceledError(f"task {running.task_id} was canceled")


class ThreadPool:
    """Daemon threads (a stuck handler never blocks exit) that pull their own work.

    Jobs wait in a deque. A thread that finishes a handler takes the next job
    without sleeping, so a burst of short handlers runs on the few threads already
    awake: no wake-up per task, and little GIL contention. A parked thread is woken
    only for a job no thread is on its way to: at most one thread is waking at a
    time, and when it takes a job and sees more waiting it wakes the next. So a
    slow handler never makes a later task wait while a thread is free, and blocking
    handlers bring in threads, up to ``size``.

    Results go back in batches: a thread appends to a deque and wakes the loop only
    if no wake-up is already pending.
    """

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop, deliver: Done) -> None:
        self._size = size
        self._loop = loop
        self._deliver = deliver
        self._jobs: collections.deque[tuple[Route, Running]] = collections.deque()
        self._results: collections.deque[tuple[Running, BaseException | None]] = collections.deque()
        self._lock = threading.Lock()
        self._parked: list[threading.Lock] = []  # each parked thread blocks on its own gate
        self._threads = 0
        self._waking = 0  # threads woken (or started) that have not yet taken a job
        self._wake_pending = False  # the loop has a drain of the results scheduled
        self._stopped = False

    def submit(self, route: Route, running: Running) -> None:
        self._jobs.append((route, running))
        self._wake_one()

    def _wake_one(self) -> None:
        """Wake (or start) a thread for the waiting jobs unless one is already on its way."""
        with self._lock:
            if self._waking or not self._jobs:
                return
            if self._parked:
                gate = self._parked.pop()  # the most recently parked: its stack is warm
                self._waking += 1
            elif self._threads < self._size:
                gate = None
                self._threads += 1
                self._waking += 1
            else:
                return  # every thread is busy: the first to finish takes the job
        if gate is not None:
            gate.release()
            return
        gate = threading.Lock()
        gate.acquire()
        thread = threading.Thread(
            target=self._work, args=(gate,), name="fastq-handler", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:  # no more threads: the job waits for a busy one
            with self._lock:
                self._threads -= 1
                self._waking -= 1
            log.error("could not start a handler thread", error=repr(exc))

    def _work(self, gate: threading.Lock) -> None:
        jobs = self._jobs
        results = self._results
        woken = True  # this thread holds one count of _waking
        while True:
            try:
                route, running = jobs.popleft()
            except IndexError:
                with self._lock:
                    if jobs:  # pushed since: take it (still as the waking thread)
                        continue
                    if woken:
                        woken = False
                        self._waking -= 1
                    if self._stopped:
                        return
                    self._parked.append(gate)
                gate.acquire()
                woken = True
                continue
            if woken:  # pass the waking role on if more jobs wait
                woken = False
                with self._lock:
                    self._waking -= 1
                if jobs:
                    self._wake_one()
            exc: BaseException | None = None
            if running.ctx.cancel_reason:
                exc = interruption_error(running)
            else:
                try:
                    run_sync(route, IncomingTask(running.msg), running.ctx)
                except BaseException as err:
                    exc = err
            results.append((running, exc))
            with self._lock:
                if self._wake_pending:
                    continue
                self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:
                return  # the loop is closed: the process is exiting

    def _drain(self) -> None:
        with self._lock:
            self._wake_pending = False
        results = self._results
        while results:
            running, exc = results.popleft()
            self._deliver(running, exc)

    def stop(self) -> None:
        """Let every thread exit once the jobs already queued are done."""
        with self._lock:
            self._stopped = True
            parked, self._parked = self._parked, []
            self._waking += len(parked)
        for gate in parked:
            gate.release()


class Executor:
    """Starts tasks and reports each one's end to ``on_done`` on the event loop."""

    def __init__(
        self, app: App, loop: asyncio.AbstractEventLoop, concurrency: int, on_done: Done
    ) -> None:
        self.app = app
        self.loop = loop
        self.on_done = on_done
        self.pool = ThreadPool(concurrency, loop, self._thread_done)
        self._unknown: set[str] = set()
        self._unknown_bytes = 0
        self._lazy: dict[str, int] = {}  # task type -> plain starts left (EAGER_BACKOFF)
        if sys.version_info[:2] == (3, 11):
            self._eager = EagerStarter(loop)

    def start(self, running: Running) -> None:
        running.ctx.state = self.app.state
        try:
            route = self.app.route(running.msg.type)
        except UnknownTaskTypeError as exc:
            if self._first_unknown(exc.task_type):
                task_type = clip(exc.task_type, 200)
                log.warning("no handler for task type; such tasks fail", task_type=task_type)
            self.on_done(running, exc)
            return
        if route.is_async:
            running.is_async = True
            self._start_async(route, running)
        else:
            running.thread_done = False
            self.pool.submit(route, running)

    def _first_unknown(self, task_type: str) -> bool:
        """True the first time a task type without a handler shows up: warn once per
        type, not per task. The memo is bounded in bytes (task types come from
        producers): when full it starts over, so a flood of types warns again."""
        if task_type in self._unknown:
            return False
        size = len(task_type.encode("utf-8", "surrogatepass"))
        if self._unknown_bytes + size > UNKNOWN_MEMO_BYTES:
            self._unknown.clear()
            self._unknown_bytes = 0
        if size <= UNKNOWN_MEMO_BYTES:
            self._unknown.add(task_type)
            self._unknown_bytes += size
        return True

    def _start_async(self, route: Route, running: Running) -> None:
        """Start an ``async def`` handler: eagerly (its first step inline, no Task if it
        ends there) unless its task type's handlers were seen to suspend lately."""
        coro = self._run_async(route, running)
        if sys.version_info >= (3, 12):
            task = asyncio.Task(coro, loop=self.loop, eager_start=True)
            if not task.done():
                running.atask = task
            return
        if sys.version_info < (3, 11):
            running.atask = self.loop.create_task(coro)
            return
        lazy = self._lazy
        task_type = running.msg.type
        skip = lazy.get(task_type)
        if skip:
            lazy[task_type] = skip - 1
            running.atask = self.loop.create_task(coro)
            return
        atask = self._eager.start(coro)
        if atask is not None and not atask.done():
            running.atask = atask
            if len(lazy) >= EAGER_MEMO_TYPES:
                lazy.clear()
            lazy[task_type] = EAGER_BACKOFF

    async def _run_async(self, route: Route, running: Running) -> None:
        exc: BaseException | None = None
        if running.ctx.cancel_reason:  # interrupted before its Task's first step
            self.on_done(running, interruption_error(running))
            return
        try:
            if route.middleware:
                await run_async(route, IncomingTask(running.msg), running.ctx)
            else:  # what run_async does then, one coroutine frame less per task
                await route.fn(IncomingTask(running.msg), running.ctx)
        except asyncio.CancelledError:
            exc = interruption_error(running)
        except Exception as err:
            exc = err
        self.on_done(running, exc)

    def _thread_done(self, running: Running, exc: BaseException | None) -> None:
        running.thread_done = True
        self.on_done(running, exc)

    def interrupt(self, running: Running, reason: Interrupt) -> None:
        """Cancel a running task: an async one at once, a def one through its ctx."""
        running.ctx.cancel(reason.value)
        atask = running.atask
        if atask is not None and not atask.done():
            coro = atask.get_coro()
            if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == "CORO_CREATED":
                # Not started: a cancel now would end it before _run_async's try,
                # with no outcome reported; its first step sees ctx.cancel_reason.
                return
            atask.cancel()

    def stop(self) -> None:
        self.pool.stop()


if sys.version_info[:2] == (3, 11):
    from asyncio import futures as _futures
    from asyncio import tasks as _tasks

    _current_task = _tasks._current_tasks.get  # current_task(loop) without its frame
    _enter_task = _tasks._enter_task
    _leave_task = _tasks._leave_task
    _register_task = _tasks._register_task

    class _FirstStepTask(_tasks._PyTask):  # type: ignore[name-defined,misc]
        """The Task a handler sees (``asyncio.current_task()``) during its inline first
        step. It is the stdlib's pure-Python Task, set up without a scheduled step:
        a handler that keeps a reference to it (``asyncio.timeout``, a TaskGroup, its
        own code) finds it run on as the handler's Task; one nobody kept is reused.
        """

        # The fields _PyFuture/_PyTask.__init__ would set (3.11), as class defaults.
        _must_cancel = False
        _fut_waiter = None
        _num_cancels_requested = 0
        _name: str | None = None
        _log_destroy_pending = False  # a spare is never run; set once it is a task

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop
            self._callbacks: list[Any] = []
            self._coro: Any = None
            self._context: contextvars.Context | None = None

        def get_name(self) -> str:
            if self._name is None:  # named on first use, as a Task is at creation
                self._name = f"Task-{_tasks._task_name_counter()}"
            return self._name

    # The references to an unobserved spare during EagerStarter.start: the starter's
    # attribute, the local variable and getrefcount's argument.
    _UNOBSERVED = 3
    _DONE = object()  # the first step ended the coroutine

    class EagerStarter:
        """Eager start of coroutines on 3.11 (what 3.12's eager task factory does).

        The first step runs inline with a spare ``_FirstStepTask`` as the current
        task, in a copy of the current context. A coroutine that finishes there
        needs no Task. One that suspends is continued by a Task: a C ``asyncio.Task``
        if nothing kept a reference to the spare (nobody can tell the two apart),
        else the spare itself, registered and scheduled. Either Task's first step
        waits on what the coroutine awaits (``_resume``).
        """

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop
            self.spare = _FirstStepTask(loop)
            # asyncio's debug mode records where each Task was created: not here.
            self.debug = loop.get_debug()

        def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
            """Run ``coro``'s first step now; returns the Task continuing it (None if
            it finished without a Task)."""
            loop = self.loop
            spare = self.spare
            outer = _current_task(loop)
            if self.debug or outer is spare:  # debug mode records Task origins; nested
                return loop.create_task(coro)
            ctx = contextvars.copy_context()
            spare._coro = coro
            spare._context = ctx
            if outer is not None:
                _leave_task(loop, outer)
            _enter_task(loop, spare)
            error: BaseException | None = None
            try:
                yielded = ctx.run(coro.send, None)
            except StopIteration as stop:
                yielded = _DONE
                value = stop.value
            except BaseException as exc:
                yielded = _DONE
                error = exc
            finally:
                _leave_task(loop, spare)
                if outer is not None:
                    _enter_task(loop, outer)
            observed = (
                sys.getrefcount(spare) > _UNOBSERVED
                or spare._must_cancel
                or spare._num_cancels_requested
                or spare._callbacks
                or spare._name is not None
                or _weakref_count(spare)
            )
            if yielded is _DONE:
                if error is None and not observed:
                    spare._coro = spare._context = None  # reused for the next start
                    return None
                self.spare = _FirstStepTask(loop)  # it is a task of its own now
                return _finish(spare, error, value if error is None else None)
            rest = _resume(coro, yielded)
            rest.send(None)  # to its first yield: a throw from now on reaches coro
            if not observed:
                spare._coro = spare._context = None
                return asyncio.Task(rest, loop=loop, context=ctx)
            self.spare = _FirstStepTask(loop)
            spare._coro = rest
            spare._log_destroy_pending = True
            loop.call_soon(spare._Task__step, context=ctx)
            _register_task(spare)
            return spare

    def _finish(task: _FirstStepTask, error: BaseException | None, value: Any) -> _FirstStepTask:
        """End ``task`` the way ``Task.__step`` ends one whose coroutine returned or raised."""
        if error is None:
            if task._must_cancel:  # cancelled right before it returned
                task._must_cancel = False
                _futures._PyFuture.cancel(task, msg=task._cancel_message)
            else:
                _futures._PyFuture.set_result(task, value)
        elif isinstance(error, asyncio.CancelledError):
            task._cancelled_exc = error
            _futures._PyFuture.cancel(task)
        else:
            _futures._PyFuture.set_exception(task, error)
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise error
        return task


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """The rest of ``coro``, whose first step ran inline and yielded ``yielded``.

    Primed by one ``send(None)`` before a Task runs it. The Task's first step then
    gets ``yielded`` and waits on it (or, for a bare ``yield``, steps again), as if
    its own step had run ``coro``; the next send resumes ``coro``. A throw (a
    cancel) at either point goes into ``coro``, where it awaits.
    """
    waiting = False
    try:
        yield  # primed here
        waiting = True
        yield yielded
    except BaseException as exc:
        if not waiting and isinstance(yielded, asyncio.Future):
            yielded.cancel()  # as Task.cancel does with the future it waits on
        while True:  # deliver into coro; it may yield again (cleanup awaits)
            try:
                value = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            try:
                yield value
            except BaseException as again:
                exc = again
                continue
            break
    return (yield from coro)  # type: ignore[misc]


def describe(exc: BaseException) -> str:
    """The error message recorded on the task, at most ``MAX_ERROR_BYTES`` long."""
    text = str(exc)
    name = type(exc).__name__
    return clip(f"{name}: {text}" if text else name, MAX_ERROR_BYTES)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (whole characters), marked when cut.

    Args:
        text: any string (lone surrogates are kept as they are).
        limit: the most bytes of the result.
    """
    if len(text) * 4 <= limit:  # cannot be over: skip the encoding
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    keep = data[: max(0, limit - len(_CLIPPED))]
    return keep.decode("utf-8", "ignore") + _CLIPPED
