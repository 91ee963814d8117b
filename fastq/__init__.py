"""fastq: a fast, reliable Python task queue on Redis that speaks the Asynq protocol."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fastq.errors import (
    BrokerAuthError,
    BrokerConfigError,
    BrokerConnectionError,
    BrokerError,
    BrokerOutOfMemoryError,
    BrokerReadOnlyError,
    BrokerWriteRefusedError,
    ConfigError,
    DecodeError,
    DuplicateTaskError,
    EnqueueError,
    EnqueueManyError,
    FastqError,
    InvalidOptionError,
    InvalidStateError,
    LeaseLostError,
    NotFoundError,
    PayloadTooLargeError,
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotFoundError,
    RevokeTask,
    SkipRetry,
    TaskIDConflictError,
    TaskNotFoundError,
    TaskTimeoutError,
    UnknownTaskTypeError,
)

__version__ = "0.1.0"

# Heavier pieces load on first use, so `import fastq` stays cheap in producers and
# a worker process does not import the dashboard.
_LAZY = {
    "Task": "fastq.task",
    "TaskInfo": "fastq.task",
    "TaskState": "fastq.task",
    "Client": "fastq.client",
    "AsyncClient": "fastq.client",
    "Inspector": "fastq.inspect.inspector",
    "AsyncInspector": "fastq.inspect.inspector",
    "App": "fastq.app",
    "Context": "fastq.context",
    "IncomingTask": "fastq.context",
    "RedisConfig": "fastq.config",
    "State": "fastq.lifecycle",
    "TaskFunction": "fastq.tasks",
    "TaskSpec": "fastq.tasks",
    "declare": "fastq.tasks",
    "configure": "fastq.defaults",
}

if TYPE_CHECKING:
    from fastq.app import App
    from fastq.client import AsyncClient, Client
    from fastq.config import RedisConfig
    from fastq.context import Context, IncomingTask
    from fastq.defaults import configure
    from fastq.inspect.inspector import AsyncInspector, Inspector
    from fastq.lifecycle import State
    from fastq.task import Task, TaskInfo, TaskState
    from fastq.tasks import TaskFunction, TaskSpec, declare


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "App",
    "AsyncClient",
    "AsyncInspector",
    "BrokerAuthError",
    "BrokerConfigError",
    "BrokerConnectionError",
    "BrokerError",
    "BrokerOutOfMemoryError",
    "BrokerReadOnlyError",
    "BrokerWriteRefusedError",
    "Client",
    "ConfigError",
    "Context",
    "DecodeError",
    "DuplicateTaskError",
    "EnqueueError",
    "EnqueueManyError",
    "FastqError",
    "IncomingTask",
    "Inspector",
    "InvalidOptionError",
    "InvalidStateError",
    "LeaseLostError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QueueBusyError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RedisConfig",
    "RevokeTask",
    "SkipRetry",
    "State",
    "Task",
    "TaskFunction",
    "TaskIDConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskSpec",
    "TaskState",
    "TaskTimeoutError",
    "UnknownTaskTypeError",
    "__version__",
    "configure",
    "declare",
]
