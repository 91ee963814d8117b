"""Test helpers: write tasks in Asynq's layout, as a Go or fastq producer would."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis

from fastq import keys
from fastq._core import TaskMessage
from fastq.app import App
from fastq.config import RedisConfig
from fastq.worker.process import Engine
from fastq.worker.settings import WorkerSettings


def enqueue(
    r: redis.Redis,
    task_type: str,
    payload: bytes = b"",
    *,
    queue: str = "default",
    task_id: str | None = None,
    wake: bool = True,
    **fields: Any,
) -> str:
    """Enqueue one pending task (Asynq's enqueue layout; ``wake`` as fastq producers do)."""
    tid = task_id or str(uuid.uuid4())
    msg = TaskMessage(type=task_type, payload=payload, id=tid, queue=queue, **fields)
    pipe = r.pipeline(transaction=False)
    pipe.sadd(keys.ALL_QUEUES, queue)
    mapping: dict[str, Any] = {
        "msg": msg.encode(),
        "state": "pending",
        "pending_since": time.time_ns(),
    }
    if msg.unique_key:
        mapping["unique_key"] = msg.unique_key
    pipe.hset(keys.task_key(queue, tid), mapping=mapping)
    pipe.lpush(keys.pending_key(queue), tid)
    if wake:
        pipe.lpush(keys.wake_key(queue), "1")
        pipe.ltrim(keys.wake_key(queue), 0, 15)
    pipe.execute()
    return tid


def enqueue_many(r: redis.Redis, task_type: str, n: int, *, queue: str = "default") -> None:
    pipe = r.pipeline(transaction=False)
    pipe.sadd(keys.ALL_QUEUES, queue)
    for _ in range(n):
        tid = str(uuid.uuid4())
        msg = TaskMessage(type=task_type, id=tid, queue=queue, retry=25, timeout=1800)
        pipe.hset(
            keys.task_key(queue, tid),
            mapping={"msg": msg.encode(), "state": "pending", "pending_since": time.time_ns()},
        )
        pipe.lpush(keys.pending_key(queue), tid)
    pipe.lpush(keys.wake_key(queue), "1")
    pipe.execute()


def task_msg(r: redis.Redis, queue: str, task_id: str) -> TaskMessage:
    raw = r.hget(keys.task_key(queue, task_id), "msg")
    assert raw is not None, f"task {task_id} has no hash"
    return TaskMessage.decode(raw)


def wait_for(cond: Any, timeout: float = 5.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


# --- the engine in-process ---------------------------------------------------


@contextlib.asynccontextmanager
async def engine(
    app: App, redis_url: str, clock: Callable[[], float] = time.time, **kw: Any
) -> AsyncIterator[Engine]:
    kw.setdefault("poll_interval", 0.05)
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), **kw)
    e = Engine(app, settings, clock=clock)
    task = asyncio.create_task(e.run())
    try:
        yield e
    finally:
        e.stop(graceful=False)
        assert await asyncio.wait_for(task, 10) == 0


async def until(cond: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
