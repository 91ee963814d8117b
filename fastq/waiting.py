"""``Client.wait`` / ``AsyncClient.wait``: block until a task reaches a final state.

A task enqueued with ``result=True`` (or any retention) is kept after it finishes;
the worker's acknowledgement pipeline then pushes one token on the task's done list
(``notify_done``). A waiter reads the task's state, and while it is not final blocks
on that list (BLPOP) for the time left: no polling loop. A token it pops when the
task is final goes back for the next waiter.
"""

from __future__ import annotations

import time

from fastq._core import TaskMessage
from fastq.errors import DecodeError, WaitError, WaitTimeoutError
from fastq.rdb.flow import FINAL_STATES, AsyncWaiter, TaskRecord, Waiter
from fastq.task import TaskInfo

DEFAULT_RESULT_RETENTION = 3600  # seconds a result=True task is kept when no retention is set

_MISSING = "no such task (never enqueued, deleted, or its retention expired)"


def _final(queue: str, task_id: str, rec: TaskRecord) -> tuple[TaskInfo | None, int]:
    """The TaskInfo when the task is final (else None) and its retention."""
    if rec.state is None or rec.msg is None:
        raise WaitError(queue, task_id, _MISSING)
    try:
        msg = TaskMessage.decode(rec.msg)
    except (DecodeError, ValueError) as exc:
        raise WaitError(queue, task_id, f"its message cannot be decoded: {exc}") from None
    if msg.retention <= 0 and rec.state not in FINAL_STATES:
        raise WaitError(
            queue, task_id, "it keeps no result: enqueue it with result=True or a retention"
        )
    if rec.state not in FINAL_STATES:
        return None, msg.retention
    return TaskInfo.from_message(msg, rec.state, result=rec.result), msg.retention


def wait_sync(waiter: Waiter, queue: str, task_id: str, timeout: float) -> TaskInfo:
    """Block until the task is completed or archived; see ``Client.wait``."""
    deadline = time.monotonic() + timeout
    woken = False
    while True:
        info, ttl = _final(queue, task_id, waiter.read(queue, task_id))
        if info is not None:
            if woken:
                waiter.pass_on(queue, task_id, ttl)
            return info
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeoutError(queue, task_id, f"not finished after {timeout:g} s")
        woken = waiter.block(queue, task_id, left)


async def wait_async(waiter: AsyncWaiter, queue: str, task_id: str, timeout: float) -> TaskInfo:
    """Coroutine version of ``wait_sync``."""
    deadline = time.monotonic() + timeout
    woken = False
    while True:
        info, ttl = _final(queue, task_id, await waiter.read(queue, task_id))
        if info is not None:
            if woken:
                await waiter.pass_on(queue, task_id, ttl)
            return info
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeoutError(queue, task_id, f"not finished after {timeout:g} s")
        woken = await waiter.block(queue, task_id, left)
