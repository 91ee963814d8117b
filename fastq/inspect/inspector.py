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

from fastq.config import RedisConfig, resolve_redis
from fastq.errors import InvalidOptionError
from fastq.inspect import ops
from fastq.inspect.ops import ARCHIVABLE, DELETABLE, PAYLOAD_EDITABLE, RUNNABLE
from fastq.inspect.types import (
    CorruptTask,
    DailyStats,
    QueueInfo,
    QueueMetrics,
    SchedulerEnqueueEvent,
    SchedulerEntry,
    SearchPage,
    SelectionResult,
    ServerInfo,
    WorkerInfo,
)
from fastq.rdb import flow as rdb_flow
from fastq.rdb import inspect as rdb
from fastq.rdb.conn import AsyncConn, SyncConn
from fastq.rdb.inspect import Plan, Progress
from fastq.task import TaskInfo, TaskState

__all__ = [
    "ARCHIVABLE",
    "DELETABLE",
    "PAYLOAD_EDITABLE",
    "RUNNABLE",
    "AsyncInspector",
    "CorruptTask",
    "DailyStats",
    "Inspector",
    "QueueInfo",
    "QueueMetrics",
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "SearchPage",
    "SelectionResult",
    "ServerInfo",
    "WorkerInfo",
]

T = TypeVar("T")


class Inspector:
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

    def queues(self) -> list[str]:
        """All queue names (``asynq:queues``), sorted."""
        return self._run(rdb.queues())

    def queue_info(self, queue: str) -> QueueInfo:
        """A ``QueueInfo`` snapshot of ``queue``; QueueNotFoundError if it does not exist.

        Args:
            queue: the queue name.
        """
        return self._run(ops.queue_info(queue))

    def all_queue_info(self) -> list[QueueInfo]:
        """``QueueInfo`` of every queue, sorted by name, in two round trips."""
        return self._run(ops.all_queue_info())

    def queue_metrics(self) -> list[QueueMetrics]:
        """``QueueMetrics`` of every queue, sorted by name, in two round trips however
        many queues there are; what one Prometheus scrape reads."""
        return self._run(ops.queue_metrics())

    def groups(self, queue: str) -> list[tuple[str, int]]:
        """Aggregation groups of a queue as (name, tasks waiting), sorted by name.

        Args:
            queue: the queue name.
        """
        return self._run(rdb.groups(queue))

    def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Daily processed/failed counts (``DailyStats``), today first.

        Args:
            queue: the queue name.
            days: how many days back, 1 to 90 (daily counters expire after 90 days).
        """
        return self._run(ops.history(queue, days))

    def pause(self, queue: str) -> bool:
        """Pause a queue: workers stop fetching from it. Returns False if already paused.

        Args:
            queue: the queue name.
        """
        return self._run(rdb.pause(queue, time.time()))

    def unpause(self, queue: str) -> bool:
        """Resume a paused queue. Returns False if it was not paused.

        Args:
            queue: the queue name.
        """
        return self._run(rdb.unpause(queue))

    def queue_limits(self) -> dict[str, int]:
        """The fleet-wide queue caps stored in Redis (set at run time), by queue.

        Workers apply a change within a second; a queue not listed keeps the cap its
        workers were started with (``--queue-limits``), if any.
        """
        return self._run(rdb_flow.queue_limits())

    def set_queue_limit(self, queue: str, cap: int | None) -> None:
        """Cap how many tasks of ``queue`` run at once across every fastq-worker.

        Args:
            queue: the queue name.
            cap: the most running tasks (>= 1); None clears the stored cap, so the
                workers' own ``--queue-limits`` apply again.
        """
        self._run(rdb_flow.set_queue_limit(queue, _check_cap(cap)))

    def delete_queue(
        self, queue: str, force: bool = False, *, progress: Progress | None = None
    ) -> None:
        """Remove a queue and all its keys.

        Args:
            queue: the queue name.
            force: also delete the tasks it holds (in chunks). Without it a queue with
                tasks raises QueueNotEmptyError. A queue with active tasks is never
                removed (QueueBusyError).
            progress: called as ``progress(done, total)`` while forced deletion runs.
        """
        return self._run(rdb.delete_queue(queue, force, time.time(), progress))

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
        scan_chunk: int | None = None,
    ) -> list[TaskInfo | CorruptTask]:
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
            scan_chunk: ids a filtered listing scans per script call (default 1000,
                about 10-20 ms of Redis each); smaller keeps each call shorter for
                latency-sensitive Redis at the cost of more round trips.
        """
        return self._run(
            ops.list_tasks(queue, state, page, size, task_type, error_contains, group, scan_chunk)
        )

    def search_tasks(
        self,
        queue: str,
        state: str | TaskState,
        offset: int = 0,
        *,
        budget: int = 50_000,
        size: int = 30,
        task_type: str | None = None,
        error_contains: str | None = None,
        scan_chunk: int | None = None,
    ) -> SearchPage:
        """One resumable step of a filtered search: a ``SearchPage``.

        Scans at most ``budget`` tasks of the state from ``offset`` (listing order)
        and stops early once ``size`` match; pass ``next_offset`` back to go on. A
        UI can show progress (``next_offset`` of ``total``) instead of blocking on a
        scan of millions. Tasks added or removed meanwhile may shift the offsets.

        Args:
            queue: the queue name.
            state: any state but aggregating.
            offset: where to start in the state's listing order (from 0).
            budget: most tasks scanned in this step.
            size: most matches returned (1 to 10000).
            task_type: only tasks of exactly this type.
            error_contains: only tasks whose last error contains this text.
            scan_chunk: ids scanned per script call (see ``list_tasks``).
        """
        return self._run(
            ops.search_tasks(
                queue, state, offset, budget, size, task_type, error_contains, scan_chunk
            )
        )

    def count_tasks(
        self,
        queue: str,
        state: str | TaskState,
        *,
        task_type: str | None = None,
        error_contains: str | None = None,
        group: str | None = None,
    ) -> int:
        """How many tasks of a state match the filters (a full scan inside Redis).

        Without filters ``queue_info`` counts are cheaper. The filters are those of
        ``list_tasks``.

        Args:
            queue: the queue name.
            state: the state to scan.
            task_type: only tasks of exactly this type.
            error_contains: only tasks whose last error contains this text.
            group: for aggregating, only this group.
        """
        return self._run(ops.count_tasks(queue, state, task_type, error_contains, group))

    def task_info(self, queue: str, task_id: str) -> TaskInfo | CorruptTask:
        """Everything about one task: a ``TaskInfo``, or ``CorruptTask`` if unreadable.

        Raises QueueNotFoundError or TaskNotFoundError.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(ops.task_info(queue, task_id))

    def run_task(self, queue: str, task_id: str) -> None:
        """Move a scheduled, retry, archived or aggregating task to pending now.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(ops.mutate_one(queue, "run", task_id))

    def archive_task(self, queue: str, task_id: str) -> None:
        """Archive a pending, scheduled, retry or aggregating task.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(ops.mutate_one(queue, "archive", task_id))

    def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task that is not active, releasing its uniqueness lock.

        A corrupt entry (missing hash, unknown state) is swept from every index.

        Args:
            queue: the queue name.
            task_id: the task id.
        """
        return self._run(ops.mutate_one(queue, "delete", task_id))

    def run_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """``run_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(ops.mutate_many(queue, "run", task_ids))

    def archive_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """``archive_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(ops.mutate_many(queue, "archive", task_ids))

    def delete_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """``delete_task`` for many ids in one round trip; returns a ``SelectionResult``.

        Args:
            queue: the queue name.
            task_ids: the task ids.
        """
        return self._run(ops.mutate_many(queue, "delete", task_ids))

    def run_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Move every task of a state to pending, in chunks; returns how many moved.

        Args:
            queue: the queue name.
            state: scheduled, retry, archived or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(ops.bulk(queue, "run", state, group, progress))

    def archive_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Archive every task of a state, in chunks; returns how many moved.

        Args:
            queue: the queue name.
            state: pending, scheduled, retry or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(ops.bulk(queue, "archive", state, group, progress))

    def delete_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Delete every task of a state (not active), in chunks; returns how many.

        Args:
            queue: the queue name.
            state: pending, scheduled, retry, archived, completed or aggregating.
            group: for aggregating, only this group (default: all groups).
            progress: called as ``progress(done, total)`` after each chunk.
        """
        return self._run(ops.bulk(queue, "delete", state, group, progress))

    def cancel(self, task_id: str) -> int:
        """Ask every server to cancel the running task ``task_id`` (``asynq:cancel``).

        Returns how many servers received the request. A task that is not running
        anywhere is not affected.

        Args:
            task_id: the task id.
        """
        return self._run(rdb.cancel([task_id]))[0]

    def cancel_tasks(self, task_ids: Sequence[str]) -> list[int]:
        """``cancel`` for many ids in one round trip; returns, per id, how many servers
        received the request.

        Args:
            task_ids: the task ids.
        """
        return self._run(rdb.cancel(task_ids))

    def update_task_payload(
        self, queue: str, task_id: str, payload: bytes
    ) -> TaskInfo | CorruptTask:
        """Replace a waiting task's payload; returns its new ``TaskInfo``.

        Allowed in pending, scheduled, retry, archived and aggregating; an active or
        completed task raises InvalidStateError.

        Args:
            queue: the queue name.
            task_id: the task id.
            payload: the new payload bytes.
        """
        return self._run(ops.update_payload(queue, task_id, payload))

    def servers(self) -> list[ServerInfo]:
        """Live servers (``ServerInfo``) with the tasks each is running."""
        return self._run(ops.servers())

    def scheduler_entries(self) -> list[SchedulerEntry]:
        """Periodic task entries (``SchedulerEntry``) of the live schedulers."""
        return self._run(ops.scheduler_entries())

    def scheduler_history(
        self, entry_id: str, page: int = 1, size: int = 30
    ) -> list[SchedulerEnqueueEvent]:
        """Enqueue events (``SchedulerEnqueueEvent``) of one entry, newest first.

        Args:
            entry_id: the scheduler entry id.
            page: page number, from 1.
            size: events per page.
        """
        return self._run(ops.scheduler_history(entry_id, page, size))

    def redis_info(self) -> dict[str, Any]:
        """Selected fields of Redis INFO (version, memory, clients, uptime, ...)."""
        return self._run(ops.redis_info())


class AsyncInspector:
    """The Inspector for asyncio: the same methods as ``Inspector``, as coroutines.

    Args:
        redis_url: a Redis URL, a ``RedisConfig``, or None for ``FASTQ_REDIS_URL``.
    """

    def __init__(self, redis_url: str | RedisConfig | None = None) -> None:
        self.config = resolve_redis(redis_url)
        self._conn = AsyncConn(self.config)

    async def _run(self, plan: Plan[T]) -> T:
        return await rdb.run_async(self._conn, plan)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._conn.close()

    async def __aenter__(self) -> AsyncInspector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def queues(self) -> list[str]:
        """Coroutine version of ``Inspector.queues``."""
        return await self._run(rdb.queues())

    async def queue_info(self, queue: str) -> QueueInfo:
        """Coroutine version of ``Inspector.queue_info``."""
        return await self._run(ops.queue_info(queue))

    async def all_queue_info(self) -> list[QueueInfo]:
        """Coroutine version of ``Inspector.all_queue_info``."""
        return await self._run(ops.all_queue_info())

    async def queue_metrics(self) -> list[QueueMetrics]:
        """Coroutine version of ``Inspector.queue_metrics``."""
        return await self._run(ops.queue_metrics())

    async def groups(self, queue: str) -> list[tuple[str, int]]:
        """Coroutine version of ``Inspector.groups``."""
        return await self._run(rdb.groups(queue))

    async def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Coroutine version of ``Inspector.history``."""
        return await self._run(ops.history(queue, days))

    async def pause(self, queue: str) -> bool:
        """Coroutine version of ``Inspector.pause``."""
        return await self._run(rdb.pause(queue, time.time()))

    async def unpause(self, queue: str) -> bool:
        """Coroutine version of ``Inspector.unpause``."""
        return await self._run(rdb.unpause(queue))

    async def queue_limits(self) -> dict[str, int]:
        """Coroutine version of ``Inspector.queue_limits``."""
        return await self._run(rdb_flow.queue_limits())

    async def set_queue_limit(self, queue: str, cap: int | None) -> None:
        """Coroutine version of ``Inspector.set_queue_limit``."""
        await self._run(rdb_flow.set_queue_limit(queue, _check_cap(cap)))

    async def delete_queue(
        self, queue: str, force: bool = False, *, progress: Progress | None = None
    ) -> None:
        """Coroutine version of ``Inspector.delete_queue``."""
        return await self._run(rdb.delete_queue(queue, force, time.time(), progress))

    async def list_tasks(
        self,
        queue: str,
        state: str | TaskState,
        page: int = 1,
        size: int = 30,
        *,
        task_type: str | None = None,
        error_contains: str | None = None,
        group: str | None = None,
        scan_chunk: int | None = None,
    ) -> list[TaskInfo | CorruptTask]:
        """Coroutine version of ``Inspector.list_tasks``."""
        return await self._run(
            ops.list_tasks(queue, state, page, size, task_type, error_contains, group, scan_chunk)
        )

    async def search_tasks(
        self,
        queue: str,
        state: str | TaskState,
        offset: int = 0,
        *,
        budget: int = 50_000,
        size: int = 30,
        task_type: str | None = None,
        error_contains: str | None = None,
        scan_chunk: int | None = None,
    ) -> SearchPage:
        """Coroutine version of ``Inspector.search_tasks``."""
        return await self._run(
            ops.search_tasks(
                queue, state, offset, budget, size, task_type, error_contains, scan_chunk
            )
        )

    async def count_tasks(
        self,
        queue: str,
        state: str | TaskState,
        *,
        task_type: str | None = None,
        error_contains: str | None = None,
        group: str | None = None,
    ) -> int:
        """Coroutine version of ``Inspector.count_tasks``."""
        return await self._run(ops.count_tasks(queue, state, task_type, error_contains, group))

    async def task_info(self, queue: str, task_id: str) -> TaskInfo | CorruptTask:
        """Coroutine version of ``Inspector.task_info``."""
        return await self._run(ops.task_info(queue, task_id))

    async def run_task(self, queue: str, task_id: str) -> None:
        """Coroutine version of ``Inspector.run_task``."""
        return await self._run(ops.mutate_one(queue, "run", task_id))

    async def archive_task(self, queue: str, task_id: str) -> None:
        """Coroutine version of ``Inspector.archive_task``."""
        return await self._run(ops.mutate_one(queue, "archive", task_id))

    async def delete_task(self, queue: str, task_id: str) -> None:
        """Coroutine version of ``Inspector.delete_task``."""
        return await self._run(ops.mutate_one(queue, "delete", task_id))

    async def run_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """Coroutine version of ``Inspector.run_tasks``."""
        return await self._run(ops.mutate_many(queue, "run", task_ids))

    async def archive_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """Coroutine version of ``Inspector.archive_tasks``."""
        return await self._run(ops.mutate_many(queue, "archive", task_ids))

    async def delete_tasks(self, queue: str, task_ids: Sequence[str]) -> SelectionResult:
        """Coroutine version of ``Inspector.delete_tasks``."""
        return await self._run(ops.mutate_many(queue, "delete", task_ids))

    async def run_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Coroutine version of ``Inspector.run_all``."""
        return await self._run(ops.bulk(queue, "run", state, group, progress))

    async def archive_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Coroutine version of ``Inspector.archive_all``."""
        return await self._run(ops.bulk(queue, "archive", state, group, progress))

    async def delete_all(
        self,
        queue: str,
        state: str | TaskState,
        *,
        group: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Coroutine version of ``Inspector.delete_all``."""
        return await self._run(ops.bulk(queue, "delete", state, group, progress))

    async def cancel(self, task_id: str) -> int:
        """Coroutine version of ``Inspector.cancel``."""
        return (await self._run(rdb.cancel([task_id])))[0]

    async def cancel_tasks(self, task_ids: Sequence[str]) -> list[int]:
        """Coroutine version of ``Inspector.cancel_tasks``."""
        return await self._run(rdb.cancel(task_ids))

    async def update_task_payload(
        self, queue: str, task_id: str, payload: bytes
    ) -> TaskInfo | CorruptTask:
        """Coroutine version of ``Inspector.update_task_payload``."""
        return await self._run(ops.update_payload(queue, task_id, payload))

    async def servers(self) -> list[ServerInfo]:
        """Coroutine version of ``Inspector.servers``."""
        return await self._run(ops.servers())

    async def scheduler_entries(self) -> list[SchedulerEntry]:
        """Coroutine version of ``Inspector.scheduler_entries``."""
        return await self._run(ops.scheduler_entries())

    async def scheduler_history(
        self, entry_id: str, page: int = 1, size: int = 30
    ) -> list[SchedulerEnqueueEvent]:
        """Coroutine version of ``Inspector.scheduler_history``."""
        return await self._run(ops.scheduler_history(entry_id, page, size))

    async def redis_info(self) -> dict[str, Any]:
        """Coroutine version of ``Inspector.redis_info``."""
        return await self._run(ops.redis_info())


def _check_cap(cap: int | None) -> int | None:
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise InvalidOptionError("cap", f"must be an int >= 1 or None, got {cap!r}")
    return cap
