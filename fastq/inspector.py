"""The Inspector: read and steer queues, tasks, servers and schedulers.

It reads and writes Asynq's layout, so it works as well on queues that Go Asynq
services write as on fastq's own. Unreadable entries (an undecodable message, an
unknown state, a missing task hash, a key of the wrong type) come back as
``CorruptTask`` records instead of failing a listing.

``Inspector`` is blocking; ``AsyncInspector`` has the same methods as coroutines.
Both run the same Redis plans (``fastq.rdb.inspect``).

Payload updates (``update_task_payload``) are allowed while no worker holds the
message: in the pending, scheduled, retry, archived and aggregating states. Active
tasks (a worker has a copy) and completed ones (a record of what ran) are refused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

from fastq import _core as core
from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES, RedisConfig, resolve_redis
from fastq.errors import (
    DecodeError,
    InvalidOptionError,
    InvalidStateError,
    PayloadTooLargeError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from fastq.inspector_types import (
    AnyTask,
    CorruptTask,
    DailyStats,
    QueueInfo,
    SchedulerEnqueueEvent,
    SchedulerEntry,
    SelectionResult,
    ServerInfo,
    WorkerInfo,
    entry_from_bytes,
    event_from_bytes,
    server_from_bytes,
    task_from_row,
    utc,
    worker_from_bytes,
)
from fastq.keys import TASK_STATES
from fastq.rdb import inspect as rdb
from fastq.rdb.conn import AsyncConn, SyncConn
from fastq.rdb.inspect import Plan, Progress
from fastq.task import TaskState

__all__ = [
    "AsyncInspector",
    "CorruptTask",
    "DailyStats",
    "Inspector",
    "QueueInfo",
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "SelectionResult",
    "ServerInfo",
    "WorkerInfo",
]

T = TypeVar("T")

# Which states each action applies to (Asynq's rules; see the module docstring).
RUNNABLE = ("scheduled", "retry", "archived", "aggregating")
ARCHIVABLE = ("pending", "scheduled", "retry", "aggregating")
DELETABLE = ("pending", "scheduled", "retry", "archived", "completed", "aggregating")
PAYLOAD_EDITABLE = ("pending", "scheduled", "retry", "archived", "aggregating")
_BULK_STATES = {"run": RUNNABLE, "archive": ARCHIVABLE, "delete": DELETABLE}
_VERBS = {"run": "run", "archive": "archive", "delete": "delete"}


def _check_state(state: str | TaskState, allowed: Sequence[str] = TASK_STATES) -> str:
    value = state.value if isinstance(state, TaskState) else str(state)
    if value not in allowed:
        raise InvalidOptionError("state", f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_page(page: int, size: int) -> None:
    if not isinstance(page, int) or page < 1:
        raise InvalidOptionError("page", f"must be an int >= 1, got {page!r}")
    if not isinstance(size, int) or not 1 <= size <= 10_000:
        raise InvalidOptionError("size", f"must be an int between 1 and 10000, got {size!r}")


# --- plans: the whole of each operation, shared by the sync and async classes ----------


def _queue_info(queue: str) -> Plan[QueueInfo]:
    now = time.time()
    raw, memory = yield from rdb.queue_stats(queue, now)
    names = ("pending", "active", "scheduled", "retry", "archived", "completed")
    problems = [f"{name} index has the wrong type" for name, n in zip(names, raw[:6], strict=True)
                if n == -1]
    c = [max(int(n), 0) for n in raw[:10]]
    paused_raw, groups, aggregating, since = raw[10], int(raw[11]), int(raw[12]), raw[13]
    if groups == -1:
        problems.append("groups key has the wrong type")
    paused_since = None
    if paused_raw is not None:
        try:
            paused_since = utc(int(paused_raw))
        except ValueError:
            pass
    latency = 0.0
    if since is not None:
        try:
            latency = max(0.0, now - int(since) / 1e9)
        except ValueError:
            problems.append("oldest pending task has a bad pending_since")
    return QueueInfo(
        queue=queue, size=sum(c[:6]) + aggregating, memory_usage=memory, latency=latency,
        pending=c[0], active=c[1], scheduled=c[2], retry=c[3], archived=c[4], completed=c[5],
        aggregating=aggregating, groups=max(groups, 0), processed=c[6], failed=c[7],
        processed_total=c[8], failed_total=c[9], paused=paused_raw is not None,
        paused_since=paused_since, timestamp=utc(now), problems=problems,
    )


def _history(queue: str, days: int) -> Plan[list[DailyStats]]:
    if not isinstance(days, int) or not 1 <= days <= 90:
        raise InvalidOptionError("days", f"must be an int between 1 and 90, got {days!r}")
    rows = yield from rdb.history(queue, days, time.time())
    return [DailyStats(queue, utc(t).strftime("%Y-%m-%d"), p, f) for t, p, f in rows]


def _list_tasks(
    queue: str, state: str | TaskState, page: int, size: int, task_type: str | None,
    error_contains: str | None, group: str | None,
) -> Plan[list[AnyTask]]:
    st = _check_state(state)
    _check_page(page, size)
    rows = yield from rdb.list_rows(
        queue, st, group=group, skip=(page - 1) * size, size=size,
        task_type=task_type, error_contains=error_contains,
    )
    now = time.time()
    return [task_from_row(queue, st, row, now) for row in rows]


def _task_info(queue: str, task_id: str) -> Plan[AnyTask]:
    exists, row = yield from rdb.task_row(queue, task_id)
    if not exists:
        raise QueueNotFoundError(queue)
    if row is None:
        raise TaskNotFoundError(queue, task_id)
    return task_from_row(queue, row.state or "", row, time.time())


def _mutate_one(queue: str, action: str, task_id: str) -> Plan[None]:
    (code, state), = yield from rdb.mutate(queue, action, [task_id], time.time())
    if code == 0:
        raise TaskNotFoundError(queue, task_id)
    if code == -1:
        raise InvalidStateError(task_id, state or "corrupt", _VERBS[action])


def _mutate_many(queue: str, action: str, task_ids: Sequence[str]) -> Plan[SelectionResult]:
    if isinstance(task_ids, str):
        raise InvalidOptionError("task_ids", "must be a sequence of ids, not one str")
    ids = list(dict.fromkeys(task_ids))  # duplicates would only report "not found"
    replies = yield from rdb.mutate(queue, action, ids, time.time())
    done, missing, refused = [], [], {}
    for tid, (code, state) in zip(ids, replies, strict=True):
        if code == 1:
            done.append(tid)
        elif code == 0:
            missing.append(tid)
        else:
            refused[tid] = state
    return SelectionResult(done, missing, refused)


def _bulk(
    queue: str, action: str, state: str | TaskState, group: str | None,
    progress: Progress | None,
) -> Plan[int]:
    st = _check_state(state, _BULK_STATES[action])
    yield from rdb.queue_exists_or_raise(queue)
    return (yield from rdb.bulk(queue, action, st, group, progress=progress))


def _update_payload(queue: str, task_id: str, payload: bytes) -> Plan[AnyTask]:
    if not isinstance(payload, (bytes, bytearray)):
        raise InvalidOptionError("payload", f"must be bytes, got {type(payload).__name__}")

    def transform(old: bytes) -> bytes:
        try:
            msg = core.TaskMessage.decode(old)
        except DecodeError as exc:
            raise InvalidStateError(task_id, "corrupt", "update the payload of") from exc
        msg.payload = bytes(payload)
        new = msg.encode()
        if len(new) > DEFAULT_MAX_PAYLOAD_BYTES:
            raise PayloadTooLargeError(len(new), DEFAULT_MAX_PAYLOAD_BYTES)
        return new

    yield from rdb.queue_exists_or_raise(queue)
    code, state = yield from rdb.update_message(queue, task_id, transform, PAYLOAD_EDITABLE)
    if code == 0:
        raise TaskNotFoundError(queue, task_id)
    if code != 1:
        raise InvalidStateError(task_id, state or "corrupt", "update the payload of")
    return (yield from _task_info(queue, task_id))


def _servers() -> Plan[list[ServerInfo]]:
    infos, worker_lists = yield from rdb.servers(time.time())
    workers = []
    for values in worker_lists:
        for data in values:
            try:
                workers.append(worker_from_bytes(data))
            except DecodeError:
                continue  # a garbled worker entry must not hide the servers
    out = []
    for data in infos:
        try:
            out.append(server_from_bytes(data, workers))
        except DecodeError:
            continue
    return sorted(out, key=lambda s: (s.host, s.pid, s.server_id))


def _scheduler_entries() -> Plan[list[SchedulerEntry]]:
    raw = yield from rdb.scheduler_entries(time.time())
    out = []
    for data in raw:
        try:
            out.append(entry_from_bytes(data))
        except DecodeError:
            continue
    return sorted(out, key=lambda e: e.id)


def _scheduler_history(entry_id: str, page: int, size: int) -> Plan[list[SchedulerEnqueueEvent]]:
    _check_page(page, size)
    raw = yield from rdb.scheduler_history(entry_id, (page - 1) * size, size)
    out = []
    for data in raw:
        try:
            out.append(event_from_bytes(data))
        except DecodeError:
            continue
    return out


_INFO_KEYS = (
    "redis_version", "redis_mode", "os", "uptime_in_seconds", "connected_clients",
    "blocked_clients", "used_memory", "used_memory_human", "used_memory_peak_human",
    "maxmemory", "maxmemory_policy", "total_commands_processed", "keyspace_hits",
    "keyspace_misses", "role", "connected_slaves",
)


def _redis_info() -> Plan[dict[str, Any]]:
    info = yield from rdb.redis_info()
    # A fixed allow-list: INFO carries nothing secret today, but a config dump might.
    return {k: info[k] for k in _INFO_KEYS if k in info}


class _Ops:
    """The public methods, written once; subclasses decide how a plan runs."""

    def _run(self, plan: Plan[T]) -> Any:
        raise NotImplementedError

    def queues(self) -> Any:
        """All queue names (``asynq:queues``), sorted."""
        return self._run(rdb.queues())

    def queue_info(self, queue: str) -> Any:
        """A ``QueueInfo`` snapshot of ``queue``; QueueNotFoundError if it does not exist.

        Args:
            queue: the queue name.
        """
        return self._run(_queue_info(queue))

    def history(self, queue: str, days: int = 7) -> Any:
        """Daily processed/failed counts (``DailyStats``), today first.

        Args:
            queue: the queue name.
            days: how many days back, 1 to 90 (daily counters expire after 90 days).
        """
        return self._run(_history(queue, days))

    def pause(self, queue: str) -> Any:
        """Pause a queue: workers stop fetching from it. Returns False if already paused.

        Args:
            queue: the queue name.
        """
        return self._run(rdb.pause(queue, time.time()))

    def unpause(self, queue: str) -> Any:
        """Resume a paused queue. Returns False if it was not paused.

        Args:
            queue: the queue name.
        """
        return self._run(rdb.unpause(queue))

    def delete_queue(self, queue: str, force: bool = False) -> Any:
        """Remove a queue and all its keys.

        Args:
            queue: the queue name.
            force: also delete the tasks it holds (in chunks). Without it a queue with
                tasks raises QueueNotEmptyError. A queue with active tasks is never
                removed (QueueBusyError).
        """
        return self._run(rdb.delete_queue(queue, force, time.time()))

    def list_tasks(
        self,
        queue: str,
        state: str | TaskState,
        page: int = 1,
        size: int = 30,
        *,
        task_type: str | None = None,
        error_contains: str | None = None,
        group: str | None = None,
    ) -> Any:
        """One page of the tasks in a state, as ``TaskInfo`` or ``CorruptTask``.

        Order is Asynq's: pending and active next-to-run first, the zset states by
        ascending score (process time, archive time, expiry). Filters run inside
        Redis over chunks of the state, so finding a few failures among millions of
        tasks costs a few round trips.

        Args:
            queue: the queue name.
            state: one of pending, active, scheduled, retry, archived, completed,
                aggregating.
            page: page number, from 1.
            size: tasks per page (1 to 10000).
            task_type: only tasks of exactly this type.
            error_contains: only tasks whose last error contains this text (ASCII
                case-insensitive).
            group: for aggregating, only this group (default: all groups, by name).
        """
        return self._run(
            _list_tasks(queue, state, page, size, task_type, error_contains, group)
        )

    def task_info(self, queue: str, task_id: str) -> Any:
        """Everything about one task: a ``TaskInfo``, or ``CorruptTask`` if unreadable.

        Raises QueueNotFoundError or TaskNotFoundError.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(_task_info(queue, task_id))

    def run_task(self, queue: str, task_id: str) -> Any:
        """Move a scheduled, retry, archived or aggregating task to pending now.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(_mutate_one(queue, "run", task_id))

    def archive_task(self, queue: str, task_id: str) -> Any:
        """Archive a pending, scheduled, retry or aggregating task.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(_mutate_one(queue, "archive", task_id))

    def delete_task(self, queue: str, task_id: str) -> Any:
        """Delete a task that is not active, releasing its uniqueness lock.

        A corrupt entry (missing hash, unknown state) is swept from every index.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(_mutate_one(queue, "delete", task_id))

    def run_tasks(self, queue: str, task_ids: Sequence[str]) -> Any:
        """``run_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(_mutate_many(queue, "run", task_ids))

    def archive_tasks(self, queue: str, task_ids: Sequence[str]) -> Any:
        """``archive_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(_mutate_many(queue, "archive", task_ids))

    def delete_tasks(self, queue: str, task_ids: Sequence[str]) -> Any:
        """``delete_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(_mutate_many(queue, "delete", task_ids))

    def run_all(
        self, queue: str, state: str | TaskState, *, group: str | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Move every task of a state to pending, in chunks; returns how many moved.

        Args:
            queue: the queue name.
            state: scheduled, retry, archived or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(_bulk(queue, "run", state, group, progress))

    def archive_all(
        self, queue: str, state: str | TaskState, *, group: str | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Archive every task of a state, in chunks; returns how many moved.

        Args:
            queue: the queue name.
            state: pending, scheduled, retry or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(_bulk(queue, "archive", state, group, progress))

    def delete_all(
        self, queue: str, state: str | TaskState, *, group: str | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Delete every task of a state (not active), in chunks; returns how many.

        Args:
            queue: the queue name.
            state: pending, scheduled, retry, archived, completed or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(_bulk(queue, "delete", state, group, progress))

    def cancel(self, task_id: str) -> Any:
        """Ask every server to cancel the running task ``task_id`` (``asynq:cancel``).

        Returns how many servers received the request. A task that is not running
        anywhere is not affected.

        Args:
            task_id: the task id.
        """
        return self._run(rdb.cancel(task_id))

    def update_task_payload(self, queue: str, task_id: str, payload: bytes) -> Any:
        """Replace a waiting task's payload; returns its new ``TaskInfo``.

        Allowed in pending, scheduled, retry, archived and aggregating; an active or
        completed task raises InvalidStateError.

        Args:
            queue: the queue name.
            task_id: the task id.
            payload: the new payload bytes.
        """
        return self._run(_update_payload(queue, task_id, payload))

    def servers(self) -> Any:
        """Live servers (``ServerInfo``) with the tasks each is running."""
        return self._run(_servers())

    def scheduler_entries(self) -> Any:
        """Periodic task entries (``SchedulerEntry``) of the live schedulers."""
        return self._run(_scheduler_entries())

    def scheduler_history(self, entry_id: str, page: int = 1, size: int = 30) -> Any:
        """Enqueue events (``SchedulerEnqueueEvent``) of one entry, newest first.

        Args:
            entry_id: the scheduler entry id.
            page: page number, from 1.
            size: events per page.
        """
        return self._run(_scheduler_history(entry_id, page, size))

    def redis_info(self) -> Any:
        """Selected fields of Redis INFO (version, memory, clients, uptime, ...)."""
        return self._run(_redis_info())


class Inspector(_Ops):
    """Blocking Inspector.

    Args:
        redis_url: a Redis URL, a ``RedisConfig``, or None for ``FASTQ_REDIS_URL``.
    """

    def __init__(self, redis_url: str | RedisConfig | None = None) -> None:
        self.config = resolve_redis(redis_url)
        self._conn = SyncConn(self.config)

    def _run(self, plan: Plan[T]) -> T:
        return rdb.run_sync(self._conn, plan)

    def close(self) -> None:
        """Close the connection pool."""
        self._conn.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInspector(_Ops):
    """The Inspector for asyncio: every method is a coroutine.

    Args:
        redis_url: a Redis URL, a ``RedisConfig``, or None for ``FASTQ_REDIS_URL``.
    """

    def __init__(self, redis_url: str | RedisConfig | None = None) -> None:
        self.config = resolve_redis(redis_url)
        self._conn = AsyncConn(self.config)

    def _run(self, plan: Plan[T]) -> Any:
        return rdb.run_async(self._conn, plan)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._conn.close()

    async def __aenter__(self) -> AsyncInspector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

