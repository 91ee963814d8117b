"""What a handler sees: the task it runs (``IncomingTask``) and its ``Context``.

Kept apart from the registry (``fastq.app``) so the typed-task layer
(``fastq.tasks``) can build both without importing the registry.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from fastq._core import TaskMessage
from fastq.errors import InvalidOptionError
from fastq.lifecycle import State


class IncomingTask:
    """The task a handler runs, a read-only view of the Asynq task message."""

    __slots__ = ("_msg",)

    def __init__(self, msg: TaskMessage) -> None:
        self._msg = msg

    @property
    def type(self) -> str:
        return self._msg.type

    @property
    def payload(self) -> bytes:
        return self._msg.payload

    @property
    def id(self) -> str:
        return self._msg.id

    @property
    def queue(self) -> str:
        return self._msg.queue

    @property
    def retried(self) -> int:
        """How many times the task was already retried (Asynq ``retried``)."""
        return self._msg.retried

    @property
    def retry_count(self) -> int:
        """Alias of :attr:`retried`, kept for code written against earlier versions."""
        return self._msg.retried

    @property
    def max_retry(self) -> int:
        """How many retries the task may use (Asynq ``retry``)."""
        return self._msg.retry

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._msg.headers)

    @property
    def message(self) -> TaskMessage:
        """A copy of the underlying TaskMessage."""
        return self._msg.copy()

    def json(self) -> Any:
        """The payload decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self._msg.payload)

    def __repr__(self) -> str:
        return f"IncomingTask(type={self.type!r}, id={self.id!r}, queue={self.queue!r})"


class Context:
    """What a running handler knows about its limits, and where it writes a result.

    ``deadline`` is a unix time: ``min(start + timeout, task deadline)``. An
    ``async def`` handler is cancelled at the deadline (or when the task is
    canceled); a ``def`` handler must check ``ctx.done`` (or sleep with
    ``ctx.wait``) and return: if it overruns the deadline by the worker's
    ``sync_grace``, the process asks to be recycled. ``state`` is the worker
    process's ``State`` (what the app's ``on_startup`` hooks put there).
    """

    __slots__ = (
        "_event",
        "_result",
        "cancel_reason",
        "deadline",
        "queue",
        "result_writer",
        "state",
        "task_id",
    )

    def __init__(
        self, task_id: str, queue: str, deadline: float, state: State | None = None
    ) -> None:
        self.task_id = task_id
        self.queue = queue
        self.deadline = deadline
        # The worker process's state, filled by the app's on_startup hooks.
        self.state = state if state is not None else State()
        self.cancel_reason = ""  # "", "timeout", "canceled", "shutdown" or "lease"
        self._event: threading.Event | None = None
        self._result: bytes | None = None
        # Set by the worker: writes to Redis at once, raises LeaseLostError.
        self.result_writer: Callable[[bytes], int] | None = None

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.time() >= self.deadline

    @property
    def cancelled(self) -> bool:
        """True once the task was canceled, timed out or the worker is shutting down."""
        return bool(self.cancel_reason)

    @property
    def done(self) -> bool:
        """True when the handler should stop: cancelled or past its deadline."""
        return bool(self.cancel_reason) or time.time() >= self.deadline

    def remaining(self) -> float:
        """Seconds left until the deadline (0 when past it)."""
        return max(0.0, self.deadline - time.time())

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds (default: until the deadline); wakes early
        on cancellation. Returns True if the task was cancelled."""
        if self._event is None:
            self._event = threading.Event()
            if self.cancel_reason:
                self._event.set()
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        return self._event.wait(limit)

    def cancel(self, reason: str) -> None:
        """Signal cancellation (the worker calls this; handlers only observe it)."""
        if not self.cancel_reason:
            self.cancel_reason = reason
        if self._event is not None:
            self._event.set()

    def write_result(self, data: bytes) -> int:
        """Store ``data`` in the task hash field ``result`` now (Asynq's
        ``ResultWriter.Write``): it is visible (``Inspector.task_info``, ``fastq task
        inspect``) while the task still runs. Keep the task with a retention to read
        it after it finished. Returns the number of bytes written.

        It is one Redis round trip from any handler; in an ``async def`` handler it
        blocks the event loop meanwhile, so prefer ``await ctx.write_result_async``.

        Args:
            data: the result bytes; a later call replaces an earlier one.

        Raises:
            LeaseLostError: this worker no longer holds the task (its lease was lost,
                or the handler already returned): nothing was written.
            BrokerError: Redis refused or could not be reached.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidOptionError("result", "write_result takes bytes")
        result = bytes(data)
        written = len(result) if self.result_writer is None else self.result_writer(result)
        self._result = result
        return written

    async def write_result_async(self, data: bytes) -> int:
        """``write_result`` for ``async def`` handlers: the round trip runs in a
        thread, the event loop keeps serving other tasks.

        Args:
            data: the result bytes; a later call replaces an earlier one.
        """
        return await asyncio.to_thread(self.write_result, data)

    @property
    def result(self) -> bytes | None:
        """The bytes last written with ``write_result`` (None: nothing written)."""
        return self._result
