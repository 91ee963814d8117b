"""Producers: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both share every decision (``_Producer``); they differ only in how the calls reach
Redis. An enqueue is one EVALSHA round trip. The first enqueue into a queue also
adds the queue to ``asynq:queues``, in the same pipelined round trip; the client
then remembers the queue and skips that step (as Asynq's client does).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES, RedisConfig, resolve_redis
from fastq.errors import EnqueueManyError, FastqError, InvalidOptionError, NotReplicatedError
from fastq.options import normalize_options, retention_from_env
from fastq.rdb.coalesce import Coalescer
from fastq.rdb.conn import AsyncConn, Call, SyncConn, pack_call
from fastq.rdb.enqueue import (
    DEFAULT_WAKE_TOKENS,
    Plan,
    Requests,
    check_published,
    enqueue_call,
    finish_many,
    finish_one,
    infos_for,
    plan_many,
    publish_calls,
)
from fastq.rdb.flow import AsyncWaiter, Waiter
from fastq.task import Prepared, Task, TaskInfo, TaskState, new_task_ids, prepare
from fastq.waiting import DEFAULT_RESULT_RETENTION, wait_async, wait_sync

# How long enqueue(..., wait_replicas=n) waits for the replicas' confirmations.
WAIT_REPLICAS_TIMEOUT_MS = 1000


class _Producer:
    """What the sync and async clients share: validation, calls, reply parsing."""

    def __init__(
        self, redis_url: str | RedisConfig | None, max_payload_bytes: int, wake_tokens: int
    ) -> None:
        if not isinstance(max_payload_bytes, int) or max_payload_bytes < 1:
            raise InvalidOptionError(
                "max_payload_bytes", f"must be an int >= 1, got {max_payload_bytes!r}"
            )
        if not isinstance(wake_tokens, int) or wake_tokens < 1:
            raise InvalidOptionError("wake_tokens", f"must be an int >= 1, got {wake_tokens!r}")
        self.config: RedisConfig = resolve_redis(redis_url)
        self._max_bytes = max_payload_bytes
        self._wake_tokens = wake_tokens
        self._published: set[str] = set()  # queues this client already added to asynq:queues
        # FASTQ_RETENTION_MINUTES (or ASYNQ_RETENTION_MINUTES): None keeps the fast path.
        self._retention = retention_from_env(os.environ)

    def _with_retention(self, task: Task, overrides: Mapping[str, Any]) -> Mapping[str, Any]:
        """The environment's retention applies when neither the task nor the call sets one."""
        if "retention" in overrides or not isinstance(task, Task) or "retention" in task._options:
            return overrides
        return {**overrides, "retention": self._retention}

    def _prepare_one(self, task: Task, options: Mapping[str, Any]) -> Prepared:
        if not options and self._retention is None:  # the common case: nothing to merge
            return prepare(task, options, time.time_ns(), self._max_bytes)
        options, keep = _result_option(options)
        overrides = normalize_options(options) if options else options
        if self._retention is not None:
            overrides = self._with_retention(task, overrides)
        return prepare(task, _retain(task, overrides, keep), time.time_ns(), self._max_bytes)

    def _finish_first(self, p: Prepared, replies: list[Any]) -> TaskInfo:
        check_published(replies[:-1])
        self._published.add(p.queue)
        return finish_one(p, replies[-1])

    def _plan_many(
        self, tasks: Iterable[Task], options: Mapping[str, Any]
    ) -> tuple[list[Prepared], Plan, list[str]]:
        """Validate and encode every task (all or nothing), then plan the pipeline."""
        tasks = list(tasks)
        if options.get("task_id") is not None and len(tasks) > 1:
            raise InvalidOptionError("task_id", "one task id cannot be given to several tasks")
        options, keep = _result_option(options)
        overrides = normalize_options(options) if options else options
        now_ns = time.time_ns()
        max_bytes = self._max_bytes
        ids = new_task_ids(len(tasks))
        if self._retention is not None or keep:
            default = self._with_retention if self._retention is not None else None
            prepared = [
                prepare(
                    t,
                    _retain(t, default(t, overrides) if default else overrides, keep),
                    now_ns,
                    max_bytes,
                    i,
                )
                for t, i in zip(tasks, ids, strict=True)
            ]
        else:  # the common case: no per-task option to add
            prepared = [
                prepare(t, overrides, now_ns, max_bytes, i) for t, i in zip(tasks, ids, strict=True)
            ]
        new_queues = sorted({p.queue for p in prepared} - self._published)
        return prepared, plan_many(prepared, new_queues, self._wake_tokens), new_queues

    def _finish_many(
        self,
        prepared: list[Prepared],
        plan: Plan,
        replies: list[Any],
        new_queues: list[str],
        infos: list[TaskInfo] | None = None,
    ) -> list[TaskInfo]:
        results = finish_many(prepared, plan, replies, infos)
        self._published.update(new_queues)
        if any(isinstance(r, FastqError) for r in results):
            raise EnqueueManyError(list(results))
        return results  # type: ignore[return-value]  # no errors: all TaskInfo


def _result_option(options: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """``options`` without ``result``, and whether ``result=True`` was given."""
    if "result" not in options:
        return options, False
    rest = dict(options)
    keep = rest.pop("result")
    if keep is not None and not isinstance(keep, bool):
        raise InvalidOptionError("result", f"must be True or False, got {keep!r}")
    return rest, bool(keep)


def _retain(task: Task, overrides: Mapping[str, Any], keep: bool) -> Mapping[str, Any]:
    """With ``result=True``, keep the task for ``wait`` when no retention is set."""
    if not keep or overrides.get("retention") or task.options.get("retention"):
        return overrides
    return {**overrides, "retention": DEFAULT_RESULT_RETENTION}


def _wait_target(task: TaskInfo | str, queue: str | None) -> tuple[str, str]:
    if isinstance(task, TaskInfo):
        return task.queue, task.id
    return queue or "default", task


class Client(_Producer):
    """Enqueue tasks (blocking). Safe to share between threads.

    Args:
        redis_url: ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS),
            ``unix:///path?db=N``, a ``RedisConfig``, or None to read
            ``FASTQ_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
        max_payload_bytes: the largest encoded task accepted; a larger one raises
            ``PayloadTooLargeError`` before anything is sent.
        wake_tokens: how many wake tokens a queue's wake list keeps (fastq workers
            blocked on it wake at once; Asynq ignores it).

    A task enqueued with no ``retention`` (neither on the Task nor in the call) is
    kept that long when ``FASTQ_RETENTION_MINUTES`` (alias ``ASYNQ_RETENTION_MINUTES``)
    is set at construction; an invalid value raises ``InvalidOptionError`` here.

    Use as a context manager or call ``close()``. An unreachable Redis raises
    ``BrokerConnectionError`` naming the URL without its password.
    """

    def __init__(
        self,
        redis_url: str | RedisConfig | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        wake_tokens: int = DEFAULT_WAKE_TOKENS,
    ) -> None:
        super().__init__(redis_url, max_payload_bytes, wake_tokens)
        self._conn = SyncConn(self.config)
        self._requests = Requests(wake_tokens)
        self._waiter: Waiter | None = None

    def enqueue(self, task: Task, /, **options: Any) -> TaskInfo:
        """Enqueue one task; returns its TaskInfo (state pending, scheduled or aggregating).

        Args:
            task: the task to enqueue.
            **options: queue, max_retry, timeout, deadline, process_in, process_at,
                unique, task_id, retention, group, headers (see ``fastq.Task``); each
                overrides the task's own. ``None`` means "not given". ``result=True``
                keeps the task for ``wait`` (an hour, ``DEFAULT_RESULT_RETENTION``)
                when no retention is set. Also ``wait_replicas=n``: after the write,
                Redis ``WAIT`` for n replicas (up to ``WAIT_REPLICAS_TIMEOUT_MS``);
                fewer raise ``NotReplicatedError`` (the task exists). See
                docs/scaling.md.

        Raises ``InvalidOptionError`` / ``PayloadTooLargeError`` before touching
        Redis, ``TaskIDConflictError`` if the id exists, ``DuplicateTaskError`` if a
        unique task's lock is held, ``BrokerConnectionError`` if Redis is unreachable.
        """
        wait = int(options.pop("wait_replicas", 0) or 0) if options else 0
        p = self._prepare_one(task, options)
        if p.queue in self._published and not wait:
            if self._conn.wire and p.state is TaskState.PENDING and not p.unique_ttl:
                # The hot path: the request's bytes built in one go, on a kept socket.
                return finish_one(p, self._conn.call_request(self._requests.enqueue(p)))
            return finish_one(p, self._conn.call(enqueue_call(p, self._wake_tokens)))
        call = enqueue_call(p, self._wake_tokens)
        if wait > 0:
            return self._enqueue_replicated(p, call, wait)
        return self._finish_first(p, self._conn.call_many([*publish_calls((p.queue,)), call]))

    def _enqueue_replicated(self, p: Prepared, call: Call, replicas: int) -> TaskInfo:
        if p.queue not in self._published:
            check_published(self._conn.call_many(publish_calls((p.queue,))))
            self._published.add(p.queue)
        reply, acked = self._conn.call_and_wait(call, replicas, WAIT_REPLICAS_TIMEOUT_MS)
        info = finish_one(p, reply)
        if acked < replicas:
            raise NotReplicatedError(info, replicas, acked)
        return info

    def enqueue_many(self, tasks: Iterable[Task], /, **options: Any) -> list[TaskInfo]:
        """Enqueue many tasks in one pipelined round trip; returns their TaskInfos in order.

        Args:
            tasks: the tasks to enqueue.
            **options: as for ``enqueue``, applied to every task (``task_id`` only
                with a single task).

        Every task is validated and encoded first: one bad task raises
        ``InvalidOptionError`` / ``PayloadTooLargeError`` and nothing is sent. Refusals
        by Redis are per task: if any task is refused (id conflict, duplicate) the
        others are still enqueued and ``EnqueueManyError`` is raised after the round
        trip; its ``results`` holds, in input order, each TaskInfo or the exception.
        """
        prepared, plan, new_queues = self._plan_many(tasks, options)
        if not prepared:
            return []
        infos: list[TaskInfo] = []
        # The TaskInfos are built while Redis runs the scripts.
        replies = self._conn.call_many(plan.calls, lambda: infos.extend(infos_for(prepared)))
        return self._finish_many(prepared, plan, replies, new_queues, infos)

    def wait(
        self, task: TaskInfo | str, /, *, timeout: float, queue: str | None = None
    ) -> TaskInfo:
        """Block until a task is completed or archived; returns its TaskInfo (``state``,
        ``result`` as the handler wrote it with ``ctx.write_result``).

        The task must keep a result (``enqueue(..., result=True)`` or a retention).
        Waiting blocks on the task's done list, which the worker fills when it
        acknowledges the task: no polling loop.

        Args:
            task: the TaskInfo ``enqueue`` returned, or a task id.
            timeout: seconds to wait at most.
            queue: the task's queue when ``task`` is an id (default "default").

        Raises:
            WaitTimeoutError: not finished within ``timeout``.
            WaitError: no such task (never enqueued, deleted, or its retention
                expired), or it keeps no result.
        """
        if self._waiter is None:
            self._waiter = Waiter(self.config)
        return wait_sync(self._waiter, *_wait_target(task, queue), timeout)

    def close(self) -> None:
        """Release the connection pool."""
        self._conn.close()
        if self._waiter is not None:
            self._waiter.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Producer):
    """Enqueue tasks from asyncio code. Same arguments and behaviour as ``Client``.

    Args:
        redis_url: a Redis URL, a ``RedisConfig``, or None for ``FASTQ_REDIS_URL``.
        max_payload_bytes: the largest encoded task accepted.
        wake_tokens: how many wake tokens a queue's wake list keeps.

    Use ``async with AsyncClient(...) as client`` or ``await client.close()``.
    """

    def __init__(
        self,
        redis_url: str | RedisConfig | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        wake_tokens: int = DEFAULT_WAKE_TOKENS,
    ) -> None:
        super().__init__(redis_url, max_payload_bytes, wake_tokens)
        self._conn = AsyncConn(self.config)
        self._coalescer = Coalescer(self._conn, wake_tokens)
        self._waiter: AsyncWaiter | None = None

    async def enqueue(self, task: Task, /, **options: Any) -> TaskInfo:
        """Enqueue one task; see ``Client.enqueue`` (``wait_replicas`` included)."""
        if options or self._retention is not None:
            wait = int(options.pop("wait_replicas", 0) or 0)
            p = self._prepare_one(task, options)
        else:  # the common case, without a method call (_prepare_one's own fast path)
            wait = 0
            p = prepare(task, options, time.time_ns(), self._max_bytes)
        if wait > 0:
            call = enqueue_call(p, self._wake_tokens)
            if p.queue not in self._published:
                check_published(await self._conn.call_many(publish_calls((p.queue,))))
                self._published.add(p.queue)
            reply, acked = await self._conn.call_and_wait(call, wait, WAIT_REPLICAS_TIMEOUT_MS)
            info = finish_one(p, reply)
            if acked < wait:
                raise NotReplicatedError(info, wait, acked)
            return info
        if p.queue in self._published:
            # Concurrent callers share batch calls (fastq/rdb/coalesce.py).
            fut = self._coalescer.queue(p)
            if fut is not None:
                return await fut
            return await self._coalescer.send_alone(p)
        call = enqueue_call(p, self._wake_tokens)
        replies = await self._conn.call_many([*publish_calls((p.queue,)), call])
        return self._finish_first(p, replies)

    async def enqueue_many(self, tasks: Iterable[Task], /, **options: Any) -> list[TaskInfo]:
        """Enqueue many tasks in one round trip; see ``Client.enqueue_many``."""
        prepared, plan, new_queues = self._plan_many(tasks, options)
        if not prepared:
            return []
        if self._conn.wire is not None:  # one server: the kept pipelined connection
            replies = await self._conn.call_parts([pack_call(c) for c in plan.calls])
        else:
            replies = await self._conn.call_many(plan.calls)
        return self._finish_many(prepared, plan, replies, new_queues)

    async def wait(
        self, task: TaskInfo | str, /, *, timeout: float, queue: str | None = None
    ) -> TaskInfo:
        """Wait until a task is completed or archived; see ``Client.wait``."""
        if self._waiter is None:
            self._waiter = AsyncWaiter(self.config)
        return await wait_async(self._waiter, *_wait_target(task, queue), timeout)

    async def close(self) -> None:
        """Release the connection pool."""
        await self._conn.close()
        if self._waiter is not None:
            await self._waiter.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__all__ = ["AsyncClient", "Client"]
