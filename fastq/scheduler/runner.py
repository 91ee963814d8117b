"""The scheduler: fires the ticks of periodic entries, publishes them for Asynq's tools.

Every scheduler of a fleet attempts every tick; ``scheduler_fire.lua`` claims the
tick and enqueues its task in one script, so exactly one attempt enqueues and the
others learn it was done. Nothing is elected: when a scheduler dies, the others'
attempts at the same tick already cover it. See docs/scheduling.md.
"""

from __future__ import annotations

import heapq
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Protocol

import structlog

from fastq._core import SchedulerEnqueueEvent, SchedulerEntry
from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES, RedisConfig
from fastq.errors import BrokerError, DuplicateTaskError, FastqError
from fastq.rdb import scheduler as rdb
from fastq.rdb.conn import Call, SyncConn
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.scheduler.entry import Entry
from fastq.scheduler.hooks import Hooks
from fastq.task import Prepared, info_from_prepared, prepare

log = structlog.get_logger("fastq.scheduler")

ENTRIES_TTL = 5  # seconds, as Asynq's scheduler writes asynq:schedulers:{id}
BEAT_INTERVAL = 2.0  # seconds between entry writes (under the TTL: no gaps in listings)
MIN_TICK_TTL = 30 * 86400  # the tick key outlives downtime for the "last" policy
MAX_WAIT = 1.0  # seconds the loop sleeps at most (reload checks, heartbeat)
RETRY_WAIT = 0.5  # seconds before retrying ticks after a Redis error


class EntrySource(Protocol):
    """Where entries come from: code, a config file, or both."""

    def entries(self) -> list[Entry]: ...

    def changed(self) -> bool: ...


class StaticEntries:
    """A fixed list of entries (those declared in code)."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self._entries = list(entries)

    def entries(self) -> list[Entry]:
        return list(self._entries)

    def changed(self) -> bool:
        return False


def new_scheduler_id() -> str:
    """``host:pid:uuid``, as Asynq's generateSchedulerID."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}"


class Scheduler:
    """Fires periodic entries until stopped.

    Args:
        redis: where to enqueue.
        source: the entries (``StaticEntries``, ``FileEntries``, ``Combined``).
        tz: the scheduler's zone for entries that name none (default UTC).
        hooks: pre/post enqueue and error callbacks.
        clock: unix time source (tests pass a fake one to ``step``).
        scheduler_id: the id in ``asynq:schedulers`` (default ``host:pid:uuid``).
        max_payload_bytes: the largest encoded task accepted.
    """

    def __init__(
        self,
        redis: RedisConfig,
        source: EntrySource,
        *,
        tz: str | tzinfo | None = None,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.time,
        scheduler_id: str | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.redis = redis
        self.source = source
        self.tz = tz
        self.hooks = hooks or Hooks()
        self.clock = clock
        self.id = scheduler_id or new_scheduler_id()
        self.max_payload_bytes = max_payload_bytes
        self.entries: dict[str, Entry] = {}
        self.prev: dict[str, int] = {}  # entry id -> last tick this scheduler saw fired
        self.fired = 0  # ticks this scheduler enqueued
        self._heap: list[tuple[int, str]] = []
        self._next: dict[str, int] = {}
        self._tick_ttl: dict[str, int] = {}
        self._conn: SyncConn | None = None
        self.reload_requested = threading.Event()

    @property
    def conn(self) -> SyncConn:
        if self._conn is None:
            self._conn = SyncConn(self.redis)
        return self._conn

    # -- entries -------------------------------------------------------------

    def load(self, now: float | None = None) -> None:
        """(Re)read the entries; keeps the next tick of entries that did not change."""
        now = self.clock() if now is None else now
        raw = self.source.entries()
        tz = self.tz or getattr(self.source, "tz", None)  # explicit zone, else the file's
        loaded = [e.with_default_zone(tz) for e in raw]
        fresh = {e.id: e for e in loaded}
        if len(fresh) != len(loaded):
            log.warning("entries with the same id: the last one declared is kept")
        new_ids = fresh.keys() - self.entries.keys()
        self.entries = fresh
        self._next = {i: t for i, t in self._next.items() if i in fresh}
        for eid, e in fresh.items():
            if eid not in self._next:
                self._next[eid] = e.schedule.next_after(now)
            self._tick_ttl[eid] = max(MIN_TICK_TTL, 3 * e.schedule.period_hint(now))
        self._heap = [(t, i) for i, t in self._next.items()]
        heapq.heapify(self._heap)
        log.info("scheduler entries loaded", entries=len(fresh), scheduler_id=self.id)
        self._fire_missed([fresh[i] for i in new_ids if fresh[i].missed == "last"], now)

    def _fire_missed(self, entries: list[Entry], now: float) -> None:
        # "last" policy: if the fleet missed ticks while it was down, enqueue the
        # most recent one once (the claim makes that once across the fleet too).
        if not entries:
            return
        last = rdb.last_ticks(self.conn, [(e.queue, e.id) for e in entries])
        due = [
            (e, e.schedule.latest_at(now))
            for e, seen in zip(entries, last, strict=True)
            if seen and seen < e.schedule.latest_at(now)
        ]
        if due:
            log.info("enqueueing the last missed tick", entries=len(due))
            self._fire(due, now)

    # -- ticks ---------------------------------------------------------------

    def next_due(self) -> float | None:
        """Unix time of the earliest pending tick (None without entries)."""
        return float(self._heap[0][0]) if self._heap else None

    def step(self, now: float | None = None) -> int:
        """Fire every entry whose tick is due at ``now``; returns how many this
        scheduler enqueued. A tick that is overdue (the loop stalled) fires late;
        ticks older than the latest due one are skipped, as cron does."""
        now = self.clock() if now is None else now
        due: list[tuple[Entry, int]] = []
        while self._heap and self._heap[0][0] <= now:
            _, eid = heapq.heappop(self._heap)
            entry = self.entries[eid]
            due.append((entry, entry.schedule.latest_at(now)))
        if not due:
            return 0
        try:
            fired = self._fire(due, now)
        except FastqError as exc:
            # Redis unreachable: keep the ticks due, try again shortly.
            log.error("cannot enqueue periodic tasks; retrying", error=str(exc))
            for entry, tick in due:
                heapq.heappush(self._heap, (tick, entry.id))
            raise
        for entry, _ in due:
            nxt = entry.schedule.next_after(now)
            self._next[entry.id] = nxt
            heapq.heappush(self._heap, (nxt, entry.id))
        return fired

    def _prepare(self, entry: Entry, tick: int, now: float) -> Prepared | None:
        self.hooks.call("pre_enqueue", entry.task, dict(entry.options))
        try:
            return prepare(
                entry.task,
                entry.options,
                int(now * 1e9),
                self.max_payload_bytes,
                entry.task_id_for(tick),
            )
        except FastqError as exc:
            log.error("periodic task is invalid", entry_id=entry.id, error=str(exc))
            self._failed(entry, exc)
            return None

    def _failed(self, entry: Entry, exc: BaseException) -> None:
        self.hooks.call("post_enqueue", None, exc)
        self.hooks.call("on_error", entry.task, dict(entry.options), exc)

    def _fire(self, due: list[tuple[Entry, int]], now: float) -> int:
        calls: list[Call] = []
        ready: list[tuple[Entry, int, Prepared]] = []
        for entry, tick in due:
            p = self._prepare(entry, tick, now)
            if p is None:
                continue
            ttl = self._tick_ttl.get(entry.id, MIN_TICK_TTL)
            calls.append(rdb.fire_call(p, entry.id, tick, ttl, DEFAULT_WAKE_TOKENS))
            ready.append((entry, tick, p))
        replies = self.conn.call_many(calls) if calls else []
        history: list[Call] = []
        fired = 0
        stamp = time.time()
        for (entry, tick, p), reply in zip(ready, replies, strict=True):
            self.prev[entry.id] = tick
            if isinstance(reply, BaseException):
                log.error("periodic enqueue failed", entry_id=entry.id, error=str(reply))
                self._failed(entry, reply)
                continue
            code = rdb.parse_fire(reply)
            if code == rdb.DUPLICATE:
                self._failed(entry, DuplicateTaskError(p.queue, p.msg.unique_key))
            elif code == rdb.FIRED:
                fired += 1
                event = SchedulerEnqueueEvent(p.msg.id, (int(stamp), int(stamp % 1 * 1e9)))
                history.append(rdb.history_call(entry.id, int(stamp), event.encode()))
                self.hooks.call("post_enqueue", info_from_prepared(p), None)
        for reply in self.conn.call_many(history) if history else []:
            if isinstance(reply, BaseException):
                log.warning("could not record a scheduler enqueue event", error=str(reply))
        self.fired += fired
        return fired

    # -- Asynq-visible state ---------------------------------------------------

    def snapshot(self) -> list[SchedulerEntry]:
        """The entries as ``SchedulerEntry`` messages (what ``asynq cron ls`` shows)."""
        out = []
        for eid, e in self.entries.items():
            prev = self.prev.get(eid)
            out.append(
                SchedulerEntry(
                    id=eid,
                    spec=e.spec,
                    task_type=e.task.type,
                    task_payload=e.task.payload,
                    enqueue_options=e.enqueue_options(),
                    next_enqueue_time=(self._next[eid], 0) if eid in self._next else None,
                    prev_enqueue_time=(prev, 0) if prev else None,
                )
            )
        return out

    def beat(self, now: float | None = None) -> None:
        """Publish the entries in ``asynq:schedulers:{id}`` for ``ENTRIES_TTL`` seconds."""
        now = self.clock() if now is None else now
        data = [e.encode() for e in self.snapshot()]
        self.conn.call(rdb.entries_call(self.id, data, ENTRIES_TTL, now))

    # -- the loop --------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Load, then fire ticks until ``stop`` is set; clears the published entries.

        Redis errors are logged and retried; a reload (``reload_requested`` or a
        changed source) that fails keeps the entries that were running.
        """
        while not stop.is_set():
            try:
                self.load()
                break
            except BrokerError as exc:  # Redis not up yet ("last" policy reads it)
                log.error("scheduler cannot reach Redis; retrying", error=str(exc))
                stop.wait(RETRY_WAIT * 4)
        next_beat = 0.0
        while not stop.is_set():
            now = self.clock()
            wait, failed = MAX_WAIT, False
            try:
                self.step(now)
                if now >= next_beat:
                    self.beat(now)
                    next_beat = now + BEAT_INTERVAL
            except FastqError as exc:
                log.error("scheduler cannot reach Redis", error=str(exc))
                wait, failed = RETRY_WAIT, True
            if self.reload_requested.is_set() or self.source.changed():
                self.reload_requested.clear()
                self._reload()
            due = self.next_due()
            if due is not None and not failed:
                wait = min(wait, max(0.0, due - self.clock()))
            stop.wait(min(wait, max(0.0, next_beat - self.clock())))
        self.close()

    def _reload(self) -> None:
        try:
            self.load()
        except FastqError as exc:  # a bad config keeps the running entries
            log.error("scheduler reload failed; keeping the current entries", error=str(exc))

    def close(self) -> None:
        """Remove this scheduler from ``asynq:schedulers`` and drop the connection."""
        if self._conn is None:
            return
        try:
            self._conn.call(rdb.clear_call(self.id))
        except FastqError as exc:
            log.warning("could not clear scheduler entries", error=str(exc))
        self._conn.close()
        self._conn = None
