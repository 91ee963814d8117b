"""A worker that runs in the test's own process, one ``drain()`` at a time.

``drain()`` forwards due scheduled and retry tasks, fetches everything pending in
every queue, runs each handler (with the app's middleware and ``ctx.state``) and
acknowledges it with the worker's own code (``Acker``: retry with backoff, archive,
traceback), until nothing is due; it returns what happened to each run. Time is a
``Clock`` the test moves: ``clock.advance(60)`` makes a task enqueued with
``process_in=60`` due, and ``drain(advance=True)`` jumps the clock to each next
scheduled or retry time until no task is left waiting.

Handlers run one at a time in the calling thread; deadlines are not enforced
(a test controls the clock, and a handler that never returns hangs the test).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from fastq._core import TaskMessage, decode_messages
from fastq.app import App, run_async, run_sync
from fastq.config import RedisConfig, resolve_redis
from fastq.context import IncomingTask
from fastq.errors import RevokeTask, SkipRetry
from fastq.inspect.inspector import AsyncInspector
from fastq.rdb.conn import AsyncConn
from fastq.task import TaskInfo
from fastq.worker.acker import Acker
from fastq.worker.executor import Running
from fastq.worker.fetcher import Fetcher
from fastq.worker.leases import Leases
from fastq.worker.maintenance import Maintenance
from fastq.worker.process import task_deadline
from fastq.worker.results import ResultWriter
from fastq.worker.settings import WorkerSettings

DEFAULT_MAX_RUNS = 1000  # per drain: a task that always fails cannot loop forever


class Clock:
    """A unix-time clock a test sets by hand (starts at the real time).

    Args:
        start: the initial unix time; default ``time.time()``.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of a task came to.

    Attributes:
        task_id, type, queue: which task ran.
        attempt: 1 for the first run, 2 for the first retry, ...
        status: ``"succeeded"``, ``"retry"`` (failed, will run again),
            ``"archived"`` (failed for good) or ``"revoked"``.
        error: the exception the handler raised (None on success).
        result: the bytes the handler wrote with ``ctx.write_result``.
    """

    task_id: str
    type: str
    queue: str
    attempt: int
    status: str
    error: BaseException | None
    result: bytes | None

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status == "succeeded"


class TestWorker:
    """Runs an app's handlers in this process against a (private) Redis.

    Args:
        app: the handlers.
        redis_url: the Redis the tasks are in (None: ``FASTQ_REDIS_URL``).
        clock: the time source (default a new ``Clock`` at the real time).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, app: App, redis_url: str | RedisConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.redis = resolve_redis(redis_url)
        self.clock = clock if clock is not None else Clock()
        self.outcomes: list[Outcome] = []  # every run of every drain
        self._started = False

    def drain(self, *, advance: bool = False, max_runs: int = DEFAULT_MAX_RUNS) -> list[Outcome]:
        """Run every due task (scheduled and retry ones once due) until none is left.

        Args:
            advance: when nothing is due, move the clock to the next scheduled or
                retry time and go on, until no task waits (retries run to the end).
            max_runs: stop after this many runs (a task failing forever).

        Returns the outcomes of this drain, in run order.
        """
        return asyncio.run(self.adrain(advance=advance, max_runs=max_runs))

    async def adrain(
        self, *, advance: bool = False, max_runs: int = DEFAULT_MAX_RUNS
    ) -> list[Outcome]:
        """``drain`` from asyncio code (async handlers run on the caller's loop)."""
        if not self._started:
            await self.app.lifecycle.run_startup(self.app.state)
            self._started = True
        out: list[Outcome] = []
        inspector = AsyncInspector(self.redis)
        conn = AsyncConn(self.redis)
        try:
            while len(out) < max_runs:
                queues = await inspector.queues()
                ran = await self._round(conn, queues, max_runs - len(out)) if queues else []
                out += ran
                if ran:
                    continue
                if not advance:
                    break
                due = await _next_due(inspector, queues)
                if due is None:
                    break
                self.clock.now = max(self.clock.now, due)
        finally:
            await conn.close()
            await inspector.close()
        self.outcomes += out
        return out

    def close(self) -> None:
        """Run the app's shutdown hooks (if a drain ran its startup hooks)."""
        if self._started:
            asyncio.run(self.app.lifecycle.run_shutdown(self.app.state))
            self._started = False

    async def _round(self, conn: AsyncConn, queues: list[str], limit: int) -> list[Outcome]:
        settings = WorkerSettings(redis=self.redis, queues=dict.fromkeys(queues, 1))
        await asyncio.to_thread(Maintenance(settings, clock=self.clock).forward)
        leases = Leases(settings.lease_duration)
        acker = Acker(self.app, settings, leases, self.clock)
        fetched, expiry = await Fetcher(settings, conn, self.clock).fetch(min(limit, 100))
        running: dict[str, Running] = {}
        results = ResultWriter(self.redis, leases, running)
        out: list[Outcome] = []
        try:
            good = [f for f in fetched if f.task_id and f.msg is not None]
            for f, msg in zip(good, decode_messages([f.msg for f in good]), strict=True):
                leases.add(f.task_id, f.queue, expiry)
                if not isinstance(msg, TaskMessage):
                    acker.archive_raw(f.queue, f.task_id, f.msg or b"", expiry, str(msg))
                    continue
                r = Running(msg, f.queue, self.clock(), task_deadline(msg, self.clock()))
                r.ctx.state = self.app.state
                running[r.task_id] = r
                results.attach(r)
                exc = await self._run(r)
                out.append(self._record(acker, r, exc))
            calls, meta = acker.build()
            if calls:
                acker.apply(meta, await conn.call_many(calls))
        finally:
            results.close()
        return out

    async def _run(self, r: Running) -> BaseException | None:
        try:
            route = self.app.route(r.msg.type)
            task = IncomingTask(r.msg)
            if route.is_async:
                await run_async(route, task, r.ctx)
            else:
                run_sync(route, task, r.ctx)
        except Exception as exc:  # UnknownTaskTypeError included: such a task fails
            return exc
        return None

    def _record(self, acker: Acker, r: Running, exc: BaseException | None) -> Outcome:
        msg = r.msg
        if exc is None:
            status = "succeeded"
            acker.success(r)
        else:
            if isinstance(exc, RevokeTask):
                status = "revoked"
            elif isinstance(exc, SkipRetry) or msg.retried >= msg.retry:
                status = "archived"
            else:
                status = "retry"
            acker.failure(r, exc)
        return Outcome(msg.id, msg.type, r.queue, msg.retried + 1, status, exc, r.ctx.result)


async def _next_due(inspector: AsyncInspector, queues: list[str]) -> float | None:
    """The earliest process time of a scheduled or retry task, None if none waits."""
    times: list[float] = []
    for q in queues:
        for state in ("scheduled", "retry"):
            first = await inspector.list_tasks(q, state, 1, 1)
            for t in first:
                at = t.next_process_at if isinstance(t, TaskInfo) else None
                if at is not None:
                    times.append(at.timestamp())
    return min(times) if times else None


__all__ = ["Clock", "Outcome", "TestWorker"]
