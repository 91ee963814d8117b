"""Tasks, their options, and what fastq reports about them.

``Task`` is what a producer builds; ``prepare`` turns a task plus enqueue-time
options into the encoded Asynq ``TaskMessage`` and the path it takes (pending,
scheduled or a group), exactly as Asynq's ``Client.Enqueue`` decides. ``TaskInfo``
is the read-only view of a task that enqueue, the inspector and the worker return.

Option validation lives in ``fastq.options``. Times: durations are seconds (int or
float) or ``datetime.timedelta``; instants (``deadline``, ``process_at``) are unix
seconds or ``datetime``. A naive datetime is read as UTC (never as local time);
prefer aware datetimes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from fastq import keys
from fastq._core import SlotBuilder, TaskMessage, plain_text, uuid4_strings
from fastq.config import DEFAULT_MAX_RETRY
from fastq.errors import InvalidOptionError, PayloadTooLargeError
from fastq.metrics import tracing as _tracing
from fastq.options import (
    DEFAULTS,
    OPTION_NAMES,
    OPTION_SET,
    Resolved,
    check_option,
    check_payload,
    merge_options,
    non_blank,
    normalize_options,
    resolve,
    validate_queue_name,
)


class TaskState(str, Enum):
    """Where a task is in its life; the values are the ``state`` strings in Redis."""

    PENDING = "pending"
    ACTIVE = "active"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    ARCHIVED = "archived"
    COMPLETED = "completed"
    AGGREGATING = "aggregating"

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------------------
# Task


_BY_QUEUE: dict[str, Resolved] = {}  # queue name -> the options of a task naming only it
_MAX_BY_QUEUE = 1024  # names beyond this are resolved each time, not kept


def _queue_only(queue: str) -> Resolved:
    """The resolved options of a task that sets only ``queue`` (validated once per name:
    building a task with ``queue=`` cost more than the rest of its enqueue)."""
    got = _BY_QUEUE.get(queue)
    if got is None:
        got = resolve({"queue": validate_queue_name(queue)})
        if len(_BY_QUEUE) < _MAX_BY_QUEUE:
            _BY_QUEUE[queue] = got
    return got


# Compact UTF-8 JSON; one encoder object saves json.dumps building one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class Task:
    """A unit of work to enqueue: a type name, a payload, and default options.

    Options set here are defaults; options passed to ``Client.enqueue`` override
    them. Everything is validated here, so a bad task fails where it is built.

    Args:
        type: the task type name that selects the handler (non-blank).
        payload: the raw payload bytes (see ``Task.json`` for JSON payloads). None
            (the default) is Go's nil payload and ``b""`` a non-nil empty one: they
            travel alike but, as in Asynq, make different unique keys.
        queue: queue name (default ``"default"``); no braces, no control characters.
        max_retry: how many times a failed task is retried (default 25).
        timeout: how long one run may take, in seconds or a timedelta; 0 means
            unset. With neither timeout nor deadline the timeout is 30 minutes.
        deadline: the time by which the task must be done (datetime or unix seconds).
        process_in: run no earlier than this long after enqueue.
        process_at: run no earlier than this time. A time in the future puts the
            task in ``scheduled``; give process_at or process_in, not both.
        unique: uniqueness TTL (>= 1 s). While a task with the same queue, type and
            payload holds the lock, an identical one is refused (DuplicateTaskError).
        task_id: a caller-chosen id (default: a new uuid4 at each enqueue).
        retention: keep the task as ``completed`` this long after success.
        group: aggregation group; the task waits in the group until aggregated.
        headers: str -> str metadata carried in the message.
    """

    __slots__ = ("_options", "_payload", "_resolved", "_type")

    _type: str
    _payload: bytes | None  # None: Go's nil payload (no checksum in the unique key)
    _options: dict[str, Any]
    _resolved: Resolved

    def __init__(
        self,
        type: str,
        payload: bytes | None = None,
        *,
        queue: str | None = None,
        max_retry: int | None = None,
        timeout: float | timedelta | None = None,
        deadline: datetime | float | None = None,
        process_in: float | timedelta | None = None,
        process_at: datetime | float | None = None,
        unique: float | timedelta | None = None,
        task_id: str | None = None,
        retention: float | timedelta | None = None,
        group: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # A plain ASCII name and bytes pass without a Python-level check.
        self._type = type if plain_text(type) else non_blank("type", type)
        self._payload = payload if payload.__class__ is bytes else check_payload(payload)
        # In OPTION_NAMES order.
        given = (
            queue,
            max_retry,
            timeout,
            deadline,
            process_in,
            process_at,
            unique,
            task_id,
            retention,
            group,
            headers,
        )
        unset = given.count(None)
        if unset == len(given):
            # Most tasks set no option: nothing to validate, and the defaults are shared.
            self._options = {}
            self._resolved = DEFAULTS
        elif unset == len(given) - 1 and isinstance(queue, str):
            # The next most common: a queue alone, its resolution shared per name.
            resolved = _queue_only(queue)
            self._options = {"queue": resolved.queue}
            self._resolved = resolved
        else:
            given_only = {n: v for n, v in zip(OPTION_NAMES, given, strict=True) if v is not None}
            self._options = normalize_options(given_only)
            self._resolved = resolve(self._options)  # reused by every enqueue w/o overrides

    @classmethod
    def json(cls, type: str, obj: Any, **options: Any) -> Task:
        """A task whose payload is ``obj`` as compact UTF-8 JSON.

        Args:
            type: the task type name.
            obj: any JSON-serializable value.
            **options: the same options as ``Task(...)``.
        """
        for name in options:
            if name not in OPTION_SET:
                check_option(name, None)  # raises with the list of valid names
        try:
            data = _JSON.encode(obj)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError("payload", f"cannot encode as JSON: {exc}") from exc
        return cls(type, data.encode("utf-8"), **options)

    @property
    def type(self) -> str:
        """The task type name (read-only: it was validated when the task was built)."""
        return self._type

    @property
    def payload(self) -> bytes:
        """The payload bytes (read-only; ``b""`` for a nil payload)."""
        return self._payload or b""

    @property
    def payload_is_nil(self) -> bool:
        """True when the task was built without a payload (Go's nil payload)."""
        return self._payload is None

    def json_payload(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)

    @property
    def options(self) -> dict[str, Any]:
        """The task's own options, normalized (a copy)."""
        return dict(self._options)

    @property
    def headers(self) -> dict[str, str]:
        """The task's headers (a copy)."""
        return dict(self._options.get("headers", {}))

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self._options.items())
        payload = None if self._payload is None else self._payload[:64]
        return f"Task({self._type!r}, {payload!r}{opts})"


# ---------------------------------------------------------------------------
# From task + options to what gets written

# Task ids drawn ahead, a batch per read of the system's random source. The child
# of a fork starts with none: it must never hand out its parent's ids.
_ID_BATCH = 128
_ids: list[str] = []
os.register_at_fork(after_in_child=_ids.clear)


def new_task_id() -> str:
    """A random (version 4) UUID string, as Asynq's uuid.NewString()."""
    try:
        return _ids.pop()
    except IndexError:  # list.pop is atomic: threads never share an id
        _ids.extend(uuid4_strings(os.urandom(16 * _ID_BATCH)))
        return _ids.pop()


def new_task_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUID strings from one read of the system's random
    source, formatted by the compiled core."""
    return uuid4_strings(os.urandom(16 * n))


@dataclass(slots=True)
class Prepared:
    """A validated, encoded task and the enqueue path it takes."""

    msg: TaskMessage
    encoded: bytes
    queue: str
    state: TaskState  # PENDING, SCHEDULED or AGGREGATING
    process_at: float  # unix seconds (== now for pending)
    unique_ttl: int  # seconds for the uniqueness lock; 0: not unique
    now_ns: int


# Prepared(...) without its __init__ frame: the values in field order (compiled core).
_new_prepared = SlotBuilder(Prepared, [f.name for f in fields(Prepared)]).build


def prepare(
    task: Task,
    overrides: Mapping[str, Any],
    now_ns: int,
    max_bytes: int,
    fresh_id: str | None = None,
) -> Prepared:
    """Resolve options and build the message the way Asynq's Client.Enqueue does.

    Args:
        task: the task (already validated when it was built).
        overrides: enqueue-time options, already passed through ``normalize_options``
            (a batch normalizes them once); they win over the task's.
        now_ns: the current time in unix nanoseconds.
        max_bytes: the largest encoded message accepted.
        fresh_id: the id to use when neither the task nor the options name one
            (a batch draws them in bulk); None draws a new uuid4.

    Raises ``InvalidOptionError`` or ``PayloadTooLargeError``; does no I/O.
    """
    if not isinstance(task, Task):
        raise InvalidOptionError("task", f"must be a fastq.Task, got {type(task).__name__}")
    # Without overrides the task's own resolution is reused: nothing is re-validated.
    if not overrides:
        merged = task._resolved
    elif len(overrides) == 1 and "queue" in overrides and not task._options:
        merged = _queue_only(overrides["queue"])  # enqueue(task, queue=q), shared per name
    else:
        merged = resolve(merge_options(task._options, overrides))
    queue, retry, timeout, deadline, retention, group, headers, unique, task_id, at, delay = merged
    ttype, payload = task._type, task._payload
    if _tracing.AVAILABLE:  # + the W3C traceparent with fastq-asynq[otel]
        headers = _tracing.with_trace(headers)
    # Positional, in TaskMessage's order (type, payload, id, queue, retry, retried,
    # error_msg, timeout, deadline, unique_key, last_failed_at, retention,
    # completed_at, group_key, headers): cheaper to pass than keywords.
    msg = TaskMessage(
        ttype,
        payload or b"",
        task_id or fresh_id or new_task_id(),
        queue,
        retry,
        0,
        "",
        timeout,
        deadline,
        keys.unique_key(queue, ttype, payload) if unique else "",
        0,
        retention,
        0,
        group,
        headers,
    )
    encoded = msg.encode()
    if len(encoded) > max_bytes:
        raise PayloadTooLargeError(len(encoded), max_bytes)

    now = now_ns / 1e9
    process_at = now + delay if at is None else at
    if process_at > now:
        # The lock must outlive the wait as well as the unique window (Asynq).
        ttl = max(int(process_at + unique - now), 1) if unique else 0
        return _new_prepared((msg, encoded, queue, TaskState.SCHEDULED, process_at, ttl, now_ns))  # type: ignore[no-any-return]
    state = TaskState.AGGREGATING if group else TaskState.PENDING
    return _new_prepared((msg, encoded, queue, state, now, int(unique), now_ns))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------
# TaskInfo


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _utc_or_none(ts: int) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc) if ts else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInfo:
    """What fastq knows about one task. Times are UTC-aware datetimes.

    Attributes:
        id, queue, type, payload: the task's identity and data.
        state: where the task is (``TaskState``).
        max_retry: retries allowed; retried: retries used so far.
        last_err: the last error message ("" if none); last_failed_at: when.
        timeout: seconds one run may take (0: unset); deadline: absolute deadline.
        group: aggregation group ("" if none).
        next_process_at: when it will be processed next (None when unknown, e.g.
            active, archived or aggregating).
        is_orphaned: active, but its lease expired (its worker died).
        retention: seconds a completed task is kept; completed_at: when it completed.
        result: bytes the handler wrote, if any.
        headers: str -> str metadata.
        traceback: the last failure's Python traceback, when a fastq worker ran it
            ("" if none; at most 16 KB, the end kept). Only ``task_info`` reads it.
    """

    id: str
    queue: str
    type: str
    payload: bytes
    state: TaskState
    max_retry: int = DEFAULT_MAX_RETRY
    retried: int = 0
    last_err: str = ""
    last_failed_at: datetime | None = None
    timeout: int = 0
    deadline: datetime | None = None
    group: str = ""
    next_process_at: datetime | None = None
    is_orphaned: bool = False
    retention: int = 0
    completed_at: datetime | None = None
    result: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    traceback: str = ""

    @classmethod
    def from_message(
        cls,
        msg: TaskMessage,
        state: TaskState | str,
        *,
        next_process_at: datetime | float | None = None,
        result: bytes | None = None,
        is_orphaned: bool = False,
        traceback: str = "",
    ) -> TaskInfo:
        """Build the info from a decoded message and its state.

        Args:
            msg: the decoded TaskMessage.
            state: the task's state (a TaskState or its string, as stored in Redis).
            next_process_at: when it runs next, as a datetime or unix seconds.
            result: the result bytes stored with the task, if any.
            is_orphaned: whether the task is active with an expired lease.
            traceback: the last failure's traceback stored with the task, if any.
        """
        if next_process_at is not None and not isinstance(next_process_at, datetime):
            next_process_at = _utc(next_process_at)
        return cls(
            id=msg.id,
            queue=msg.queue,
            type=msg.type,
            payload=msg.payload,
            state=TaskState(state),
            max_retry=msg.retry,
            retried=msg.retried,
            last_err=msg.error_msg,
            last_failed_at=_utc_or_none(msg.last_failed_at),
            timeout=msg.timeout,
            deadline=_utc_or_none(msg.deadline),
            group=msg.group_key,
            next_process_at=next_process_at,
            is_orphaned=is_orphaned,
            retention=msg.retention,
            completed_at=_utc_or_none(msg.completed_at),
            result=result,
            headers=dict(msg.headers),
            traceback=traceback,
        )

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


# A TaskInfo for a task that was just enqueued, built by the compiled core from its
# field values in order (5x faster than the frozen dataclass __init__, whose
# object.__setattr__ per field dominated enqueue_many's client-side cost); tests
# check it matches TaskInfo(...).
_new_info = SlotBuilder(TaskInfo, [f.name for f in fields(TaskInfo)]).build


def _fresh_info(p: Prepared, next_at: datetime | None) -> TaskInfo:
    msg = p.msg
    deadline = msg.deadline
    return _new_info(  # type: ignore[no-any-return]
        (
            msg.id,
            p.queue,
            msg.type,
            msg.payload,
            p.state,
            msg.retry,  # max_retry
            0,  # retried
            "",  # last_err
            None,  # last_failed_at
            msg.timeout,
            _utc(deadline) if deadline else None,
            msg.group_key,  # group
            next_at,  # next_process_at
            False,  # is_orphaned
            msg.retention,
            None,  # completed_at
            None,  # result
            msg.headers,  # the message is private to this enqueue: no copy
            "",  # traceback
        )
    )


def info_from_prepared(p: Prepared, now: datetime | None = None) -> TaskInfo:
    """The TaskInfo of a task that was just enqueued along ``p``'s path.

    ``now`` (the datetime of ``p.now_ns``) lets a batch share one datetime object.
    """
    state = p.state
    if state is TaskState.AGGREGATING:
        next_at = None
    elif state is TaskState.PENDING and now is not None:
        next_at = now
    else:
        next_at = _utc(p.process_at)
    return _fresh_info(p, next_at)


def infos_from_prepared(prepared: Sequence[Prepared], now: datetime) -> list[TaskInfo]:
    """``info_from_prepared(p, now)`` for each task, pending ones without the call."""
    pending = TaskState.PENDING
    return [
        _fresh_info(p, now) if p.state is pending else info_from_prepared(p, now) for p in prepared
    ]


__all__ = [
    "OPTION_NAMES",
    "Prepared",
    "Task",
    "TaskInfo",
    "TaskState",
    "info_from_prepared",
    "infos_from_prepared",
    "merge_options",
    "new_task_id",
    "new_task_ids",
    "normalize_options",
    "prepare",
    "validate_queue_name",
]
