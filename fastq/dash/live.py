"""One sampler per dashboard process feeds every open browser.

The sampler reads every queue's counters once per interval (two Redis round trips,
whatever the number of queues or browsers), keeps the last minutes of processed and
failed rates (deltas of the daily counters), and hands one pre-encoded JSON event to
each subscriber. A hundred open tabs cost a hundred socket writes, not a hundred
Redis reads. The event stream endpoint is Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog

from fastq.errors import FastqError, NotFoundError
from fastq.inspect.inspector import AsyncInspector, DailyStats, QueueInfo

log = structlog.get_logger("fastq.dash")

RATE_WINDOW = 300  # samples kept for the rate chart
HISTORY_TTL = 30.0  # seconds a daily-history read is reused
STOP_GRACE = 5.0  # seconds a sample in flight may take to finish at shutdown
KEEPALIVE = 15.0  # seconds between SSE comments on a quiet stream
STATES = ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed")


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Processed and failed tasks per second over one sample interval."""

    at: float
    processed: float
    failed: float


class Sampler:
    """Samples queue counters on a timer and fans them out to subscribers.

    Args:
        inspector: where the counters come from.
        interval: seconds between samples.
    """

    def __init__(self, inspector: AsyncInspector, interval: float) -> None:
        self.inspector = inspector
        self.interval = interval
        self.infos: list[QueueInfo] = []
        self.sampled_at = 0.0
        self.rates: deque[RatePoint] = deque(maxlen=RATE_WINDOW)
        self.error: str | None = None
        self.seq = 0
        self._event = b""
        self._subscribers: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._history: dict[int, tuple[float, list[list[DailyStats]]]] = {}
        self._last: tuple[float, int, int] | None = None

    @property
    def subscribers(self) -> int:
        """How many event streams are open."""
        return len(self._subscribers)

    def start(self) -> None:
        """Start sampling on the running loop (again if a previous loop is gone)."""
        if self._task is None or self._task.done():
            self._stopping = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dash-sampler")

    async def stop(self) -> None:
        """Stop sampling: let a sample in flight finish, then give up on it after a while.

        Cancelling a pipelined Redis call half-way can leave the connection pool
        waiting, so the loop is asked to stop between samples first.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=self.interval + STOP_GRACE)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            await self.sample()
            delay = max(0.0, self.interval - (time.monotonic() - started))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def sample(self) -> None:
        """Take one sample now and publish it."""
        try:
            infos = await self.inspector.all_queue_info()
        except FastqError as exc:
            self.error = str(exc)
            log.warning("dash.sample_failed", error=self.error)
        else:
            self.error = None
            self._record(infos, time.time())
        self.seq += 1
        self._event = self._encode()
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()  # a slow client only ever gets the newest state
            q.put_nowait(self._event)

    def _record(self, infos: list[QueueInfo], now: float) -> None:
        processed = sum(i.processed for i in infos)
        failed = sum(i.failed for i in infos)
        if self._last is not None:
            at, p0, f0 = self._last
            dt = max(now - at, 1e-3)
            # daily counters restart at UTC midnight: a drop is a new day, not negative work
            dp = processed - p0 if processed >= p0 else processed
            df = failed - f0 if failed >= f0 else failed
            self.rates.append(RatePoint(now, dp / dt, df / dt))
        self._last = (now, processed, failed)
        self.infos = infos
        self.sampled_at = now

    def _encode(self) -> bytes:
        queues: dict[str, Any] = {}
        totals = dict.fromkeys((*STATES, "size", "processed", "failed", "memory"), 0)
        for i in self.infos:
            row = {s: getattr(i, s) for s in STATES}
            row.update(
                size=i.size,
                processed=i.processed,
                failed=i.failed,
                memory=i.memory_usage,
                latency=round(i.latency, 1),
                paused=i.paused,
            )
            queues[i.queue] = row
            for k in totals:
                totals[k] += row["memory" if k == "memory" else k]
        last = self.rates[-1] if self.rates else None
        data = {
            "seq": self.seq,
            "at": self.sampled_at,
            "error": self.error,
            "queues": queues,
            "totals": totals,
            "rate": {
                "processed": round(last.processed, 1) if last else 0,
                "failed": round(last.failed, 1) if last else 0,
            },
        }
        return f"id: {self.seq}\nevent: sample\ndata: {json.dumps(data)}\n\n".encode()

    async def history(self, days: int) -> list[list[DailyStats]]:
        """Every queue's daily stats over ``days`` days, reused for ``HISTORY_TTL`` s.

        Args:
            days: 1 to 90.
        """
        cached = self._history.get(days)
        if cached is not None and time.monotonic() - cached[0] < HISTORY_TTL:
            return cached[1]
        data = []
        for q in await self.inspector.queues():
            try:
                data.append(await self.inspector.history(q, days))
            except NotFoundError:
                continue  # gone since listed, or a name that is not UTF-8 (unaddressable)
        self._history[days] = (time.monotonic(), data)
        return data

    def end_streams(self) -> None:
        """Make every open event stream finish (a server shutting down waits for them)."""
        for q in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueEmpty):
                q.get_nowait()
            q.put_nowait(b"")

    async def stream(self) -> AsyncIterator[bytes]:
        """Server-Sent Events: the newest sample at once, then one per interval."""
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        self._subscribers.add(q)
        try:
            yield b"retry: 2000\n\n"
            if self._event:
                yield self._event
            while True:
                try:
                    event = await asyncio.wait_for(q.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    event = b": keepalive\n\n"
                if not event:
                    return  # end_streams(): the server is stopping
                yield event
        finally:
            self._subscribers.discard(q)
