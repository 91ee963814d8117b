"""One worker process: fetch, run, acknowledge, keep leases, stop cleanly.

``run_worker`` is what a supervisor child (or the standalone entry
``python3 -m fastq.worker module:app``, see ``standalone.py``) calls. It owns a
fresh event loop, its own Redis connections (never ones made before a fork) and a
thread pool for ``def`` handlers.

Signals: SIGTERM stops gracefully (stop fetching, wait up to shutdown_timeout,
put unfinished tasks back at the head of pending without burning a retry);
SIGQUIT and SIGINT stop fast (requeue at once); SIGUSR1 goes quiet (no more
fetching, running tasks finish); SIGUSR2 makes this worker the host of the
maintenance duties (the supervisor sends it to one worker at a time).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from fastq._core import ServerInfo, TaskMessage, decode_messages
from fastq.app import App, Route
from fastq.config import DEFAULT_TIMEOUT
from fastq.errors import BrokerConnectionError, BrokerError, DecodeError
from fastq.rdb import worker as rdb
from fastq.rdb.blocking import CancelListener
from fastq.rdb.conn import AsyncConn, Call
from fastq.rdb.servers import clear_server_state_calls
from fastq.worker import heartbeat
from fastq.worker.acker import Acker
from fastq.worker.admission import Admission
from fastq.worker.control import ChildControl, NullControl
from fastq.worker.executor import Executor, Interrupt, Running, interruption_error
from fastq.worker.fetcher import Fetcher
from fastq.worker.hooks import EngineHooks
from fastq.worker.leases import Leases
from fastq.worker.outage import OutageLog
from fastq.worker.results import ResultWriter
from fastq.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from fastq.worker.maintenance import Duties

log = structlog.get_logger("fastq.worker")

TICK = 0.05  # seconds between deadline / heartbeat / lease checks
MAX_FETCHES = 2  # fetches in flight at once
# Leased tasks a process keeps ready beyond its free slots, as a share of its
# concurrency (1/PREFETCH_SHARE): a freed slot starts one at once instead of waiting
# a fetch's round trip. None below PREFETCH_SHARE slots (a tiny pool takes what it runs),
# nor while a queue cap or per-key cap applies (a task held ready would hold a cap slot).
PREFETCH_SHARE = 4
MAX_PREFETCH = 200
LEASE_CHECK_EVERY = 1.0  # seconds between scans for leases due for extension
BACKOFF = 0.5  # seconds to wait after a lost Redis connection
# The writer (acks, worker info, heartbeats), the cancel subscription and the periodic
# checks (whose first beat tells the supervisor this process is ready) start once the
# first fetch is done, at the latest this many seconds after boot (under half the
# shortest --child-timeout): they would otherwise set up their connections beside the
# first fetch's on the same CPU, and the supervisor would start the maintenance process.
FIRST_FETCH_WAIT = 0.5
FINAL_FLUSH_TIMEOUT = 10.0  # seconds a stopping process keeps retrying its last acks
# Acknowledgement coalescing: while outcomes keep coming (the last flush was less than
# ACK_STEADY ago) and enough tasks still run to fill a batch, the writer waits up to
# ACK_LINGER for ACK_BATCH outcomes before it flushes, so tasks that start one by one
# (prefetch) are still acknowledged in batches. A lone outcome is flushed at once.
ACK_BATCH = 32
ACK_LINGER = 0.002
ACK_STEADY = 0.010


def task_deadline(msg: TaskMessage, now: float) -> float:
    """Asynq's rule: min(now + timeout, deadline), the default timeout if neither is set."""
    if msg.timeout > 0 and msg.deadline > 0:
        return min(now + msg.timeout, float(msg.deadline))
    if msg.timeout > 0:
        return now + msg.timeout
    if msg.deadline > 0:
        return float(msg.deadline)
    return now + DEFAULT_TIMEOUT


class Engine:
    """The asyncio side of a worker process; ``run`` returns the exit code.

    Args:
        app: the handler registry.
        settings: the worker settings.
        control: the supervisor link (NullControl when standalone).
        maintenance: run the maintenance duties in threads of this process from the
            start (standalone); a supervised worker takes them on SIGUSR2 instead
            (``take_maintenance``).
        scheduler_config: with the duties, also run the periodic-task scheduler
            with this entries file (``""``: the app's entries; None: no scheduler).
        clock: unix time source for leases, retries and deadlines (tests inject one).
        hooks: metrics/tracing observer (None: nothing observed).
    """

    def __init__(
        self,
        app: App,
        settings: WorkerSettings,
        *,
        control: ChildControl | None = None,
        maintenance: bool = False,
        scheduler_config: str | None = None,
        clock: Callable[[], float] = time.time,
        hooks: EngineHooks | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.hooks = hooks
        self.standalone = control is None
        self.control: ChildControl = control if control is not None else NullControl()
        self.with_maintenance = maintenance
        self.scheduler_config = scheduler_config
        self.duties: Duties | None = None
        self._duties_failed = False
        self.clock = clock
        self.capacity = settings.concurrency
        self.busy = 0
        self.dispatched = 0  # tasks taken from Redis, for max_tasks_per_child
        self._reserved = 0  # slots promised to fetches in flight
        self.prefetch = min(MAX_PREFETCH, self.capacity // PREFETCH_SHARE)
        # Prefetched tasks: leased and active in Redis, not started yet (requeued at
        # shutdown like unfinished ones).
        self._ready: collections.deque[tuple[TaskMessage, str, int]] = collections.deque()
        self._ready_ids: set[str] = set()
        self._cancel_ready: set[str] = set()  # prefetched tasks canceled before they started
        self._inflight = 0
        self._empty = False  # the last fetch found nothing: wait for a wake-up
        self._fetches: set[asyncio.Task[None]] = set()
        self._skip_logged: dict[str, float] = {}
        self._outage = OutageLog()
        self._errors = OutageLog(message="unexpected error; retrying")
        self.running: dict[str, Running] = {}
        # Runs already reported (timed out, or superseded by a new run of their task)
        # whose def handler still holds a thread.
        self._overdue: set[Running] = set()
        self.leases = Leases(settings.lease_duration)
        self.acker = Acker(app, settings, self.leases, clock)
        self.info = heartbeat.WorkerInfoSync(
            settings.identity, heartbeat.worker_ttl(settings.heartbeat_interval)
        )
        self.exit_code = 0
        self._started_at = time.time()
        self._quiet = False
        self._recycling = False
        self._stop_graceful: bool | None = None
        self._next_extend = 0.0
        self._next_beat = 0.0
        # Created here so a signal that arrives before run() can already stop it
        # (asyncio primitives bind to the running loop on first use).
        self._stop_event = asyncio.Event()
        self._fast_event = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._ack_wake = asyncio.Event()
        self._ack_batch = max(1, min(ACK_BATCH, self.capacity // 2))
        self._linger: asyncio.Future[None] | None = None  # set while the writer lingers
        self._last_flush = float("-inf")  # loop time of the last acknowledgement flush
        self._idle = asyncio.Event()
        self._flush_lock = asyncio.Lock()  # one flush at a time: shutdown waits for the writer
        self._first_fetch = asyncio.Event()  # set when the first fetch is done (or failed)

    # --- control -------------------------------------------------------------

    def stop(self, graceful: bool = True) -> None:
        """Begin stopping; a fast stop overrides a graceful one in progress."""
        if self._stop_graceful is None or not graceful:
            self._stop_graceful = graceful
        self._quiet = True
        self._stop_event.set()
        if self.duties is not None:
            # A retiring host stops at once: the supervisor hands the duties on.
            self.duties.stop()
        if not graceful:
            self._fast_event.set()
        self._slot_free.set()

    def quiet(self) -> None:
        """Stop fetching; running tasks finish and are acknowledged."""
        self._quiet = True
        self._slot_free.set()

    def take_maintenance(self) -> None:
        """Run the maintenance duties in threads of this process from now on (the
        supervisor's SIGUSR2 to the worker it chose to host them); once only, and
        not once stopping."""
        from fastq.worker.maintenance import Duties

        if self.duties is not None or self._stop_graceful is not None:
            return
        self.duties = Duties(self.settings, self.app, self.scheduler_config, self.clock)
        log.info("running the maintenance duties in this worker process")
        self.duties.start()
        self.control.hosting_maintenance()

    # --- main ----------------------------------------------------------------

    async def run(self) -> int:
        # Before the first heartbeat: a failing hook is a boot error, not a crash loop.
        await self.app.lifecycle.run_startup(self.app.state)
        try:
            return await self._run()
        finally:
            await self.app.lifecycle.run_shutdown(self.app.state)

    async def _run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.conn = AsyncConn(self.settings.redis)
        self.fetcher = Fetcher(self.settings, self.conn, self.clock)
        self.acker.capped = self.fetcher.capped
        self.admission: Admission | None = None
        if self.app.has_flow_limits:
            self.admission = Admission(
                self.app, self.conn, self.settings.lease_duration, self.clock
            )
        self.executor = Executor(self.app, self.loop, self.capacity, self._on_done)
        self.results = ResultWriter(self.settings.redis, self.leases, self.running)
        self.cancels = CancelListener(self.settings.redis)
        if self._stop_graceful is not None:
            self._stop_event.set()
        if self.with_maintenance:
            self.take_maintenance()
        self._fetch_task = asyncio.create_task(self._fetch_loop())
        self._writer_task = asyncio.create_task(self._writer_loop())
        self._tick_task = asyncio.create_task(self._tick_loop())
        self._cancel_task = asyncio.create_task(self._cancel_loop())
        try:
            await self._stop_event.wait()
            await self._shutdown(bool(self._stop_graceful))
        finally:
            if self.duties is not None:
                self.duties.stop()
            for t in (self._fetch_task, self._writer_task, self._tick_task, self._cancel_task):
                t.cancel()
            for t in (self._fetch_task, self._writer_task, self._tick_task, self._cancel_task):
                with contextlib.suppress(BaseException):
                    await t
            self.executor.stop()
            self.results.close()
            await self.fetcher.close()
            await self.cancels.close()
            await self.conn.close()
            if self.duties is not None:
                self.duties.join(timeout=5)
        return self.exit_code

    # --- fetch and dispatch ----------------------------------------------------

    async def _fetch_loop(self) -> None:
        # Up to MAX_FETCHES fetches run at once, each reserving the slots it asks
        # for, so Redis runs one batch's script while this process starts the
        # previous batch, and a process never takes more tasks than it can start.
        # With prefetch, it fetches ahead of free slots (up to ``prefetch`` tasks
        # ready), and refills once half of that is gone: freed slots never wait for
        # Redis while tasks are pending, and fetches stay batches.
        batch = self.settings.fetch_batch
        second = max(1, self.capacity // 4)  # smallest batch worth a parallel fetch
        while True:
            self._slot_free.clear()
            self._start_ready()
            if self._quiet:
                if not self._ready:
                    return
                await self._slot_free.wait()  # fetched before quiet: they still start
                continue
            # A task held ready counts against a cap, so capped work is not prefetched.
            capped = self.admission is not None or self.fetcher.has_caps
            ahead = 0 if capped else self.prefetch
            refill = max(1, ahead // 2)
            free = self.capacity + ahead - self.busy - self._reserved - len(self._ready)
            if free < refill or self._inflight >= MAX_FETCHES or (self._inflight and free < second):
                await self._slot_free.wait()
                self._start_ready()  # a freed slot takes a prefetched task at once
                await asyncio.sleep(0)  # let completions of the same loop turn pile up
                continue
            want = min(free, batch) if batch else free
            limit = self.settings.max_tasks_per_child
            if limit:
                left = limit - self.dispatched - self._reserved
                if left <= 0:
                    if not self._inflight and not self._ready:
                        self._recycle(f"started {self.dispatched} tasks (max_tasks_per_child)")
                        return
                    await self._slot_free.wait()
                    continue
                want = min(want, left)
            # After an empty fetch, block on the wake keys first (in the same round trip).
            wait = self._empty and not self._inflight
            self._empty = False
            self._reserved += want
            self._inflight += 1
            task = asyncio.create_task(self._fetch_once(want, wait))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
            await asyncio.sleep(0)

    async def _fetch_once(self, want: int, wait: bool) -> None:
        fetched: list[rdb.Fetched] = []
        expiry = 0
        failed = False
        try:
            if wait:
                poll = self.settings.poll_interval
                fetched, expiry = await self.fetcher.wait_then_fetch(poll, want)
            else:
                fetched, expiry = await self.fetcher.fetch(want)
        except BrokerError as exc:  # unreachable, or e.g. LOADING after a restart
            self._outage.failed("fetch", exc)
            failed = True
        except Exception as exc:  # a broken queue must not kill the loop
            self._errors.failed("fetch", exc)
            failed = True
        finally:
            self._reserved -= want
            self._inflight -= 1
            self._first_fetch.set()
        if failed:
            await asyncio.sleep(BACKOFF)
        else:
            self._outage.ok()
            if fetched:
                self._dispatch(fetched, expiry)
            # Only queue-level errors (no task ids) count as empty: no busy loop on them.
            self._empty = not any(f.task_id for f in fetched)
        self._slot_free.set()

    def _dispatch(self, fetched: list[rdb.Fetched], expiry: int) -> None:
        now = self.clock()
        self.dispatched += len(fetched)
        good = [f for f in fetched if f.msg is not None]
        for f in fetched:
            if f.msg is None:
                self._log_skip(f)
        decoded = decode_messages([f.msg for f in good])
        gated: dict[str, list[tuple[Running, Route]]] = {}
        for f, msg in zip(good, decoded, strict=True):
            self.leases.add(f.task_id, f.queue, expiry)
            if not isinstance(msg, TaskMessage):
                reason = str(msg) if isinstance(msg, DecodeError) else "empty message"
                self.acker.archive_raw(f.queue, f.task_id, f.msg or b"", expiry, reason)
                self._ack_wake.set()
                continue
            if msg.id != f.task_id:  # keep the id the keys use
                msg.id = f.task_id
            if self.busy >= self.capacity or self._ready:  # prefetched: starts when a slot frees
                self._hold(msg, f.queue, f.pending_since)
                continue
            self._launch(msg, f.queue, f.pending_since, now, gated)
        self._admit_gated(gated)
        self._start_ready()

    def _hold(self, msg: TaskMessage, queue: str, pending_since: int) -> None:
        if msg.id in self._ready_ids:  # fetched again (its lease was lost): keep the new one
            self._ready = collections.deque(e for e in self._ready if e[0].id != msg.id)
        self._ready.append((msg, queue, pending_since))
        self._ready_ids.add(msg.id)

    def _start_ready(self) -> None:
        """Start prefetched tasks while slots are free (a task whose lease was lost
        meanwhile is dropped: the recoverer hands it out again)."""
        if not self._ready or self.busy >= self.capacity:
            return
        now = self.clock()
        gated: dict[str, list[tuple[Running, Route]]] = {}
        while self._ready and self.busy < self.capacity:
            msg, queue, pending_since = self._ready.popleft()
            self._ready_ids.discard(msg.id)
            if self.leases.held(msg.id) is None:
                self.leases.remove(msg.id)
                self._cancel_ready.discard(msg.id)
                continue
            if self._cancel_ready and msg.id in self._cancel_ready:
                # Canceled while it waited: it fails as canceled without running a step.
                self._cancel_ready.discard(msg.id)
                r = Running(msg, queue, now, task_deadline(msg, now))
                r.pending_since = pending_since
                r.ctx.cancel(Interrupt.CANCELED.value)
                self._start(r, interruption_error(r))
                continue
            self._launch(msg, queue, pending_since, now, gated)
        self._admit_gated(gated)

    def _take_ready(self, settled: bool = False) -> list[tuple[str, str]]:
        """Empty the prefetch buffer: (task id, queue) of each task, to requeue.

        ``settled``: leave the tasks whose lease extension is in flight (Redis may
        hold either score); the requeue after the final flush takes them.
        """
        extending = self.leases.extending if settled else {}
        taken = [(msg.id, queue) for msg, queue, _ in self._ready if msg.id not in extending]
        if len(taken) == len(self._ready):
            self._ready.clear()
            self._ready_ids.clear()
            self._cancel_ready.clear()
        else:
            self._ready = collections.deque(e for e in self._ready if e[0].id in extending)
            self._ready_ids = {e[0].id for e in self._ready}
        return taken

    def _launch(
        self,
        msg: TaskMessage,
        queue: str,
        pending_since: int,
        now: float,
        gated: dict[str, list[tuple[Running, Route]]],
    ) -> None:
        r = Running(msg, queue, now, task_deadline(msg, now))
        r.pending_since = pending_since
        if self.admission is not None:
            route = self.admission.route(r)
            if route is not None:  # admitted first (its fetch slot stays busy)
                gated.setdefault(queue, []).append((r, route))
                self.busy += 1
                return
        self._start(r)

    def _admit_gated(self, gated: dict[str, list[tuple[Running, Route]]]) -> None:
        for queue, runs in gated.items():
            task = asyncio.create_task(self._admit(queue, runs))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    def _start(self, r: Running, failure: BaseException | None = None) -> None:
        stale = self.running.get(r.task_id)
        if stale is not None:
            self._supersede(stale)
        self.results.attach(r)
        self.running[r.task_id] = r
        self.busy += 1
        self.info.started(r.task_id, r)
        if failure is None:
            self.executor.start(r)
        else:
            self._on_done(r, failure)

    async def _admit(self, queue: str, runs: list[tuple[Running, Route]]) -> None:
        """Start the runs admitted under their key cap and rate limit; the others were
        parked in Redis (or their lease was lost) and are dropped here."""
        assert self.admission is not None
        held = {r.task_id: self.leases.score(r.task_id) or 0 for r, _ in runs}
        start: list[Running] = []
        failed: list[tuple[Running, BaseException]] = []
        try:
            start, failed = await self.admission.admit(queue, runs, held)
        except Exception as exc:  # their leases expire and the recoverer brings them back
            self._errors.failed("flow-control admission", exc)
        kept = {r.task_id for r in start} | {r.task_id for r, _ in failed}
        for r, _ in runs:
            self.busy -= 1
            if r.task_id not in kept:
                self.leases.remove(r.task_id)
        for r in start:
            self._start(r)
        for r, error in failed:
            self._start(r, error)
        self._slot_free.set()

    def _supersede(self, stale: Running) -> None:
        """A task this process still runs was fetched again: its lease was lost and the
        task recovered. The old run is never acknowledged (only the run that owns the
        task's entry in ``running`` acknowledges, with the lease it was started under)
        and is interrupted; its slot stays busy until its handler returns."""
        log.warning("task fetched again while a stale run is going", task_id=stale.task_id)
        stale.reported = True
        self.executor.interrupt(stale, Interrupt.LEASE_GONE)
        if not stale.thread_done:
            self._overdue.add(stale)

    def _log_skip(self, f: rdb.Fetched) -> None:
        # A queue with keys of the wrong type answers every fetch: log it once a minute.
        if not f.task_id:
            now = time.monotonic()
            if now < self._skip_logged.get(f.queue, 0.0):
                return
            self._skip_logged[f.queue] = now + 60
        log.error("skipped a pending entry", queue=f.queue, task_id=f.task_id, reason=f.problem)

    def _on_done(self, r: Running, exc: BaseException | None) -> None:
        if not r.reported and self.running.get(r.task_id) is r:
            r.reported = True
            del self.running[r.task_id]
            self.info.finished(r.task_id)
            reason = r.ctx.cancel_reason
            if exc is None and (reason in (Interrupt.TIMEOUT, Interrupt.CANCELED) or r.ctx.expired):
                exc = interruption_error(r)  # whatever the handler returned
            try:
                if self.hooks is not None:
                    self.hooks.finished(r, exc)
                if reason == Interrupt.LEASE_GONE:
                    self.leases.remove(r.task_id)
                elif reason == Interrupt.SHUTDOWN:
                    pass  # requeued by the shutdown path
                elif exc is None:
                    self.acker.success(r)
                else:
                    self.acker.failure(r, exc)
            except Exception as err:  # never lose the slot over a bookkeeping error
                log.error("could not record task outcome", task_id=r.task_id, error=repr(err))
            self._ack_wake.set()
            linger = self._linger
            if linger is not None and not linger.done() and len(self.acker) >= self._ack_batch:
                linger.set_result(None)  # a full batch: flush now
        if r.thread_done:
            self._overdue.discard(r)
            self.busy -= 1
            self._slot_free.set()
            if not self.running and not self._overdue:
                self._idle.set()

    def _interrupt(self, r: Running, reason: Interrupt) -> None:
        """Interrupt a running task; a def handler's failure is reported at once."""
        if r.reported or r.ctx.cancel_reason:
            return
        self.executor.interrupt(r, reason)
        if not r.is_async and not r.thread_done:
            self._overdue.add(r)
            self._on_done(r, interruption_error(r))

    # --- acknowledgements, leases, worker info ----------------------------------

    async def _after_first_fetch(self) -> None:
        """Wait for the first fetch to be done, at most FIRST_FETCH_WAIT seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first_fetch.wait(), FIRST_FETCH_WAIT)

    async def _writer_loop(self) -> None:
        await self._after_first_fetch()
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            try:
                await self._coalesce()
                self._last_flush = self.loop.time()
                await self._flush()
            except Exception as exc:  # e.g. a Redis error reply: log, keep the loop alive
                self._errors.failed("acknowledge", exc)
                await asyncio.sleep(BACKOFF)

    async def _coalesce(self) -> None:
        """Wait up to ACK_LINGER for a fuller acknowledgement batch, if one is coming
        (see ACK_BATCH): fewer, larger script calls for Redis and this process."""
        waiting = len(self.acker)
        if (
            not waiting
            or self.busy < self._ack_batch
            or waiting >= self._ack_batch
            or self.loop.time() - self._last_flush >= ACK_STEADY
            or self._stop_graceful is not None
        ):
            return
        linger = self._linger = self.loop.create_future()
        timer = self.loop.call_later(ACK_LINGER, _resolve, linger)
        try:
            await linger
        finally:
            timer.cancel()
            self._linger = None

    async def _flush(self) -> None:
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        now = self.clock()
        calls, meta = self.acker.build()
        ext_calls: list[Call] = []
        ext_meta: list[tuple[str, int]] = []
        if now >= self._next_extend:
            self._next_extend = now + min(LEASE_CHECK_EVERY, self.settings.lease_duration / 4)
            ext_calls, ext_meta = self.leases.extension_calls(now)
        extra: list[Call] = []
        if now >= self._next_beat:
            self._next_beat = now + self.settings.heartbeat_interval
            extra.append(self.info.call())
            if self.standalone:
                extra += self._server_info_calls(now)
        if not calls and not ext_calls and not extra:
            return
        while True:
            try:
                sent = time.perf_counter()
                replies = await self.conn.call_many([*calls, *ext_calls, *extra])
                self._outage.ok()
                break
            except BrokerConnectionError as exc:
                self._outage.failed("acknowledge", exc)
                if self._fast_event.is_set():
                    return
                await asyncio.sleep(BACKOFF)
        self.acker.apply(meta, replies[: len(calls)])
        lost = self.leases.apply_extension(
            ext_calls, ext_meta, replies[len(calls) : len(calls) + len(ext_calls)]
        )
        if self.hooks is not None:
            extended = sum(len(c.args) // 2 for c in ext_calls) - len(lost)
            self.hooks.flushed(time.perf_counter() - sent, extended, len(lost))
        for task_id in lost:
            log.warning("lease lost while running", task_id=task_id)
            r = self.running.get(task_id)
            if r is not None:
                self._interrupt(r, Interrupt.LEASE_GONE)

    def _server_info_calls(self, now: float, status: str = "active") -> list[Call]:
        ident = self.settings.identity
        info = ServerInfo(
            host=ident.host,
            pid=ident.pid,
            server_id=ident.server_id,
            concurrency=self.capacity,
            queues=self.settings.queues,
            strict_priority=self.settings.strict_priority,
            status=status,
            start_time=(int(self._started_at), 0),
            active_worker_count=len(self.running),
        )
        return heartbeat.server_info_calls(ident, info, self.info.ttl, now)

    def _recycle(self, reason: str) -> None:
        self._recycling = True
        log.info("requesting recycle", reason=reason)
        self.control.request_recycle(reason)
        self.stop(graceful=True)

    # --- periodic checks ---------------------------------------------------------

    async def _tick_loop(self) -> None:
        grace = self.settings.sync_grace
        await self._after_first_fetch()
        while True:
            try:
                self._tick(grace)
            except Exception as exc:  # the loop that proves liveness must not die
                log.error("periodic check failed", error=repr(exc))
            await asyncio.sleep(TICK)

    def _tick(self, grace: float) -> None:
        now = self.clock()
        self.control.heartbeat(busy=self.busy, capacity=self.capacity, processed=self.acker.acked)
        if self.hooks is not None:
            self.hooks.tick(now, self.busy, self.capacity, self._outage.down_since is not None)
        if not self.control.parent_alive() and self._stop_graceful is None:
            log.warning("supervisor is gone; stopping")
            self.stop(graceful=True)
        for r in list(self.running.values()):
            if now >= r.deadline:
                self._interrupt(r, Interrupt.TIMEOUT)
        for r in list(self._overdue):
            if now >= r.deadline + grace and not self._recycling:
                self._recycle(f"def handler of task {r.task_id} ignored its deadline")
        if self.duties is not None and not self.duties.alive() and not self._duties_failed:
            # As the maintenance process exited: this host is replaced, and the
            # supervisor hands the duties to another worker once it retires.
            self._duties_failed = True
            log.error("maintenance loop ended unexpectedly")
            if not self._recycling:
                self._recycle("the maintenance duties ended unexpectedly")
        if now >= self._next_extend or now >= self._next_beat:
            self._ack_wake.set()

    async def _cancel_loop(self) -> None:
        await self._after_first_fetch()
        while True:
            try:
                async for task_id in self.cancels.listen():
                    r = self.running.get(task_id)
                    if r is not None:
                        log.info("canceling task", task_id=task_id)
                        self._interrupt(r, Interrupt.CANCELED)
                    elif task_id in self._ready_ids:  # active in Redis: canceled as it starts
                        log.info("canceling task", task_id=task_id)
                        self._cancel_ready.add(task_id)
            except BrokerError as exc:
                self._outage.failed("cancel subscription", exc)
                await asyncio.sleep(BACKOFF)
            except Exception as exc:
                self._errors.failed("cancel subscription", exc)
                await asyncio.sleep(BACKOFF)

    # --- shutdown -----------------------------------------------------------------

    async def _shutdown(self, graceful: bool) -> None:
        self._quiet = True
        self._fetch_task.cancel()
        with contextlib.suppress(BaseException):
            await self._fetch_task
        if self._fetches:  # their tasks are already active in Redis: start or requeue them
            await asyncio.wait(list(self._fetches), timeout=self.settings.redis.socket_timeout)
        await self._requeue(self._take_ready(settled=True)[::-1])  # first one at the head
        if graceful and self.running:
            self._idle.clear()
            waiters = [
                asyncio.ensure_future(self._idle.wait()),
                asyncio.ensure_future(self._fast_event.wait()),
            ]
            await asyncio.wait(
                waiters,
                timeout=self.settings.shutdown_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for w in waiters:
                w.cancel()
        leftover = [r for r in self.running.values() if not r.reported]
        for r in leftover:
            r.reported = True
            self.executor.interrupt(r, Interrupt.SHUTDOWN)
            self.running.pop(r.task_id, None)
            self.info.finished(r.task_id)
        await asyncio.sleep(0)  # let cancelled async handlers unwind
        self._next_beat = 0.0
        try:  # with Redis down the flush retries; do not let that hold the exit forever
            await asyncio.wait_for(self._flush(), FINAL_FLUSH_TIMEOUT)
        except asyncio.TimeoutError:
            log.error("could not write the last acknowledgements; their leases will expire")
        # With any a fetch still in flight above put in the prefetch buffer since.
        await self._requeue([(r.task_id, r.queue) for r in leftover] + self._take_ready()[::-1])
        if self.standalone:
            ident = self.settings.identity
            name = (ident.host, ident.pid, ident.server_id)
            with contextlib.suppress(BrokerConnectionError):
                await self.conn.call_many(clear_server_state_calls(name))

    async def _requeue(self, leftover: list[tuple[str, str]]) -> None:
        """Put tasks (id, queue) this process holds back at the head of pending."""
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for task_id, queue in leftover:
            score = self.leases.score(task_id)
            if score is not None and task_id not in self.leases.lost:
                by_queue.setdefault(queue, []).append((task_id, score))
        if not by_queue:
            return
        calls = [rdb.requeue_call(q, held) for q, held in by_queue.items()]
        try:
            await self.conn.call_many(calls)
        except BrokerConnectionError as exc:
            log.error(
                "could not requeue unfinished tasks; their leases will expire", error=str(exc)
            )
            return
        for held in by_queue.values():
            for task_id, _ in held:
                self.leases.remove(task_id)  # no longer ours: not extended again
        log.info("requeued unfinished tasks", count=sum(len(h) for h in by_queue.values()))


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def new_event_loop(prefer_uvloop: bool) -> asyncio.AbstractEventLoop:
    """uvloop's event loop when ``prefer_uvloop`` and it is installed, else asyncio's.

    uvloop runs the loop's I/O and callbacks in C: fastq's own Redis traffic and
    the handlers' (``redis.asyncio``, HTTP clients) both get cheaper per call.
    """
    if prefer_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_worker(
    app: App,
    settings: WorkerSettings,
    *,
    control: ChildControl | None = None,
    maintenance: bool = False,
    scheduler_config: str | None = None,
    index: int = 0,
    clock: Callable[[], float] = time.time,
    hooks: EngineHooks | None = None,
) -> int:
    """Run one worker process until it is told to stop; returns its exit code.

    Blocking. Creates its own event loop, Redis connections and thread pool, and
    installs the signal handlers (SIGTERM graceful, SIGQUIT/SIGINT fast, SIGUSR1
    quiet, SIGUSR2 take the maintenance duties), so call it from the main thread
    of a fresh (forked) process.

    Args:
        app: the handler registry.
        settings: the worker settings (``identity`` is the server's, shared by
            every child of one supervisor).
        control: the supervisor link; None runs standalone (and then this process
            also writes the server heartbeat).
        maintenance: run the maintenance duties (forwarder, recoverer, janitor,
            group aggregation) in this process from the start; a supervised worker
            takes them on SIGUSR2 instead.
        scheduler_config: with the duties, also the periodic-task scheduler with
            this entries file (``""``: the app's entries; None: no scheduler).
        index: the child's slot number under the supervisor (logging only).
        clock: unix time source (tests inject one).
        hooks: metrics/tracing observer (None: nothing observed).
    """
    loop = new_event_loop(settings.uvloop)
    asyncio.set_event_loop(loop)
    engine = Engine(
        app,
        settings,
        control=control,
        maintenance=maintenance,
        scheduler_config=scheduler_config,
        clock=clock,
        hooks=hooks,
    )
    loop.add_signal_handler(signal.SIGTERM, engine.stop, True)
    loop.add_signal_handler(signal.SIGQUIT, engine.stop, False)
    loop.add_signal_handler(signal.SIGINT, engine.stop, False)
    loop.add_signal_handler(signal.SIGUSR1, engine.quiet)
    loop.add_signal_handler(signal.SIGUSR2, engine.take_maintenance)
    structlog.contextvars.bind_contextvars(worker=index, pid=os.getpid())
    try:
        return loop.run_until_complete(engine.run())
    finally:
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(sig)
        loop.close()
        asyncio.set_event_loop(None)
