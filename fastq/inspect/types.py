"""What the Inspector returns: plain frozen dataclasses, decoded from Redis replies.

Times are UTC-aware datetimes, durations are seconds (float). Every record turns
into JSON-ready data with ``to_jsonable``; the CLI's ``--json`` output is exactly that.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from fastq import _core as core
from fastq.errors import DecodeError
from fastq.rdb.inspect import Row
from fastq.task import TaskInfo, TaskState


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueInfo:
    """A snapshot of one queue.

    Attributes:
        queue: the queue name.
        size: all tasks in the queue, in every state.
        memory_usage: estimated bytes the queue takes in Redis (sampled, as Asynq does).
        latency: seconds the oldest pending task has waited (0 when none is pending).
        pending, active, scheduled, retry, archived, completed, aggregating: task
            counts per state.
        groups: how many aggregation groups hold tasks.
        processed, failed: tasks processed / failed today (UTC); processed counts
            failures too, as in Asynq.
        processed_total, failed_total: all-time counters.
        paused: whether workers skip the queue.
        paused_since: when it was paused, if known.
        timestamp: when this snapshot was taken.
        problems: keys of the queue found holding the wrong type (their counts read 0).
    """

    queue: str
    size: int
    memory_usage: int
    latency: float
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    aggregating: int
    groups: int
    processed: int
    failed: int
    processed_total: int
    failed_total: int
    paused: bool
    paused_since: datetime | None
    timestamp: datetime
    problems: list[str] = field(default_factory=list, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMetrics:
    """What the metrics exporter reads of one queue in a scrape.

    Attributes:
        info: the queue's ``QueueInfo``.
        retry_overdue: seconds the earliest retry task is past its retry time (0 when
            none is due); grows while no forwarder runs.
        scheduled_overdue: the same for the scheduled state.
    """

    info: QueueInfo
    retry_overdue: float
    scheduled_overdue: float


@dataclass(frozen=True, slots=True)
class DailyStats:
    """Processed and failed counts of one queue on one UTC day."""

    queue: str
    date: str  # YYYY-MM-DD
    processed: int
    failed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CorruptTask:
    """A task entry fastq cannot read; listings report it instead of failing.

    Attributes:
        queue: the queue it was found in.
        id: the task id ("" when the whole index key is unreadable).
        state: the state index it was listed from, or the hash's raw state field.
        reason: what is wrong, e.g. "undecodable msg: ...", "task hash is missing".
        raw: the raw ``msg`` bytes when there were some.
    """

    queue: str
    id: str
    state: str
    reason: str
    raw: bytes | None = None
    corrupt: bool = True


@dataclass(frozen=True, slots=True)
class SelectionResult:
    """Outcome of an operation on a list of task ids.

    Attributes:
        done: ids the operation applied to.
        not_found: ids with no such task.
        refused: id -> state, for tasks whose state does not allow the operation.
    """

    done: list[str]
    not_found: list[str]
    refused: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    """A task a server is running right now."""

    host: str
    pid: int
    server_id: str
    task_id: str
    task_type: str
    payload: bytes
    queue: str
    started: datetime | None
    deadline: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """A live worker server (Asynq or fastq) and the tasks it runs."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    status: str
    started: datetime | None
    active_workers: list[WorkerInfo]


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerEntry:
    """A periodic task registered by a live scheduler."""

    id: str
    spec: str
    task_type: str
    payload: bytes
    options: list[str]
    next_enqueue_at: datetime | None
    prev_enqueue_at: datetime | None


@dataclass(frozen=True, slots=True)
class SchedulerEnqueueEvent:
    """One enqueue a scheduler entry made."""

    task_id: str
    enqueued_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    """One step of a resumable filtered search (``Inspector.search_tasks``).

    Attributes:
        tasks: the matches found in this step, in listing order.
        next_offset: where the next step starts (pass it back as ``offset``).
        total: how many tasks the state held when this step ran.
        done: whether the scan reached the end of the state.
    """

    tasks: list[TaskInfo | CorruptTask]
    next_offset: int
    total: int
    done: bool


AnyTask = TaskInfo | CorruptTask
_STATES = frozenset(s.value for s in TaskState)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _ts(t: tuple[int, int] | None) -> datetime | None:
    return None if t is None else utc(t[0] + t[1] / 1e9)


def task_from_row(queue: str, state: str, row: Row, now: float) -> AnyTask:
    """Decode a listed or looked-up task; anything unreadable becomes a CorruptTask."""
    if row.problem is not None:
        return CorruptTask(queue=queue, id=row.id, state=state, reason=row.problem)
    if row.msg is None:
        return CorruptTask(queue=queue, id=row.id, state=state, reason="task hash is missing")
    try:
        msg = core.TaskMessage.decode(row.msg)
    except DecodeError as exc:
        reason = f"undecodable msg: {exc}"
        return CorruptTask(queue=queue, id=row.id, state=state, reason=reason, raw=row.msg)
    if not msg.type or not msg.id:
        # b"" and other field-less bytes decode cleanly; no writer leaves these blank
        return CorruptTask(
            queue=queue, id=row.id, state=state, reason="msg has no task type or id", raw=row.msg
        )
    if row.state is not None and row.state not in _STATES:
        # listed from a valid index, but the hash says something no version writes
        return CorruptTask(
            queue=queue,
            id=row.id,
            state=row.state,
            reason=f"unknown state {row.state!r}",
            raw=row.msg,
        )
    try:
        st = TaskState(state)
    except ValueError:
        return CorruptTask(
            queue=queue, id=row.id, state=state, reason=f"unknown state {state!r}", raw=row.msg
        )
    next_at: float | None = None
    if st in (TaskState.SCHEDULED, TaskState.RETRY):
        next_at = row.score
    elif st is TaskState.PENDING:
        next_at = now
    orphaned = st is TaskState.ACTIVE and (row.lease is None or row.lease < now)
    return TaskInfo.from_message(
        msg,
        st,
        next_process_at=next_at,
        result=row.result,
        is_orphaned=orphaned,
        traceback=row.traceback.decode("utf-8", "replace") if row.traceback else "",
    )


def server_from_bytes(data: bytes, workers: list[WorkerInfo]) -> ServerInfo:
    s = core.ServerInfo.decode(data)
    mine = [w for w in workers if (w.host, w.pid, w.server_id) == (s.host, s.pid, s.server_id)]
    return ServerInfo(
        host=s.host,
        pid=s.pid,
        server_id=s.server_id,
        concurrency=s.concurrency,
        queues=dict(s.queues),
        strict_priority=s.strict_priority,
        status=s.status,
        started=_ts(s.start_time),
        active_workers=mine,
    )


def worker_from_bytes(data: bytes) -> WorkerInfo:
    w = core.WorkerInfo.decode(data)
    return WorkerInfo(
        host=w.host,
        pid=w.pid,
        server_id=w.server_id,
        task_id=w.task_id,
        task_type=w.task_type,
        payload=w.task_payload,
        queue=w.queue,
        started=_ts(w.start_time),
        deadline=_ts(w.deadline),
    )


def entry_from_bytes(data: bytes) -> SchedulerEntry:
    e = core.SchedulerEntry.decode(data)
    return SchedulerEntry(
        id=e.id,
        spec=e.spec,
        task_type=e.task_type,
        payload=e.task_payload,
        options=list(e.enqueue_options),
        next_enqueue_at=_ts(e.next_enqueue_time),
        prev_enqueue_at=_ts(e.prev_enqueue_time),
    )


def event_from_bytes(data: bytes) -> SchedulerEnqueueEvent:
    ev = core.SchedulerEnqueueEvent.decode(data)
    return SchedulerEnqueueEvent(task_id=ev.task_id, enqueued_at=_ts(ev.enqueue_time))


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, datetimes, enums and bytes as JSON-ready values.

    Bytes become text when they are valid UTF-8, else ``{"base64": "..."}``.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, bytes):
        try:
            return obj.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(obj).decode()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj
