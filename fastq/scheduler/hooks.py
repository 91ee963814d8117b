"""Asynq's scheduler callbacks: before an enqueue, after it, and on an error.

A hook that raises is logged and ignored: a callback never stops the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from fastq.task import Task, TaskInfo

log = structlog.get_logger("fastq.scheduler")

PreEnqueue = Callable[[Task, dict[str, Any]], object]
PostEnqueue = Callable[[TaskInfo | None, BaseException | None], object]
OnError = Callable[[Task, dict[str, Any], BaseException], object]


@dataclass(frozen=True)
class Hooks:
    """Callbacks of a scheduler (Asynq's PreEnqueueFunc, PostEnqueueFunc,
    EnqueueErrorHandler).

    Args:
        pre_enqueue: ``f(task, options)`` before each attempt to enqueue a tick (on
            every scheduler that attempts it).
        post_enqueue: ``f(info, error)`` after the attempt that enqueued the tick or
            failed; ticks another scheduler enqueued are not reported here.
        on_error: ``f(task, options, error)`` when a tick could not be enqueued
            (Redis error, uniqueness lock held, bad task).
    """

    pre_enqueue: PreEnqueue | None = None
    post_enqueue: PostEnqueue | None = None
    on_error: OnError | None = None

    def call(self, name: str, *args: Any) -> None:
        fn = getattr(self, name)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:  # a callback's bug must not stop the schedule
            log.error("scheduler hook raised", hook=name, error=repr(exc))
