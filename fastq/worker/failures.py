"""What a failed run leaves behind: a bounded traceback and a rate-limited log line.

The traceback is stored with the task (hash field ``x_traceback``, see
``lua/lib/traceback.lua``) and logged: a warning when the task will be retried, an
error when it is archived. A failure storm (every task of a queue hitting a dead
dependency) would otherwise write thousands of tracebacks a second, so the log
keeps at most ``burst`` failure lines per ``window`` seconds and then says how many
it left out; every traceback is still stored with its task.
"""

from __future__ import annotations

import time
import traceback as tb
from collections.abc import Callable

import structlog

from fastq._core import TaskMessage
from fastq.errors import TaskCanceledError, TaskTimeoutError, UnknownTaskTypeError

log = structlog.get_logger("fastq.worker")

MAX_TRACEBACK_BYTES = 16 * 1024  # per task, the end kept (where the error was raised)
LOG_TRACEBACK_BYTES = 4096  # per log line
LOG_BURST = 20  # failure lines logged per window at most
LOG_WINDOW = 10.0  # seconds
_CUT = "... [traceback truncated]\n"
# Errors the worker itself records (no handler code ran, or it was interrupted):
# their traceback would show fastq's internals, not the user's code.
_WORKER_MADE = (UnknownTaskTypeError, TaskTimeoutError, TaskCanceledError)


def format_traceback(exc: BaseException, limit: int = MAX_TRACEBACK_BYTES) -> str:
    """``exc``'s traceback as text, at most ``limit`` UTF-8 bytes: when longer, its
    start is cut (the end, naming the error and where it was raised, is kept).

    Args:
        exc: the exception the handler raised.
        limit: the most bytes of the result.

    Returns "" for an error the worker made itself (unknown type, timeout, cancel).
    """
    if isinstance(exc, _WORKER_MADE):
        return ""
    text = "".join(tb.format_exception(exc))
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    keep = data[len(data) - (limit - len(_CUT)) :]
    return _CUT + keep.decode("utf-8", "ignore")


class FailureLog:
    """Logs handler failures, at most ``burst`` per ``window`` seconds.

    Args:
        burst: lines allowed per window.
        window: the window length in seconds.
        clock: monotonic time source (tests inject one).
    """

    def __init__(
        self,
        burst: int = LOG_BURST,
        window: float = LOG_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.window = window
        self.clock = clock
        self._window_end = 0.0
        self._logged = 0
        self.suppressed = 0  # lines left out in the current window

    def failed(self, msg: TaskMessage, queue: str, exc: BaseException, *, archived: bool) -> bool:
        """Log one failure (if the budget allows); returns whether it was logged.

        Args:
            msg: the task message as it was run (``retried`` is this attempt's count).
            queue: the task's queue.
            exc: the handler's error.
            archived: True when the task goes to the archive, False for a retry.
        """
        now = self.clock()
        if now >= self._window_end:
            if self.suppressed:
                log.warning("task failures not logged (rate limit)", count=self.suppressed)
            self._window_end = now + self.window
            self._logged = 0
            self.suppressed = 0
        if self._logged >= self.burst:
            self.suppressed += 1
            return False
        self._logged += 1
        emit = log.error if archived else log.warning
        fields: dict[str, object] = {
            "task_id": msg.id,
            "task_type": msg.type,
            "queue": queue,
            "attempt": msg.retried + 1,
            "max_retry": msg.retry,
            "error": f"{type(exc).__name__}: {exc}",
        }
        trace = format_traceback(exc, LOG_TRACEBACK_BYTES)
        if trace:
            fields["traceback"] = trace
        emit("task failed; archived" if archived else "task failed; will retry", **fields)
        return True
