"""The Inspector's operations as plans (see ``fastq.rdb.inspect``): argument checks,
Redis I/O and decoding in one generator each, run by both ``Inspector`` (blocking)
and ``AsyncInspector`` (asyncio)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastq import _core as core
from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES
from fastq.errors import (
    DecodeError,
    InvalidOptionError,
    InvalidStateError,
    PayloadTooLargeError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from fastq.inspect.types import (
    AnyTask,
    DailyStats,
    QueueInfo,
    QueueMetrics,
    SchedulerEnqueueEvent,
    SchedulerEntry,
    SearchPage,
    SelectionResult,
    ServerInfo,
    entry_from_bytes,
    event_from_bytes,
    server_from_bytes,
    task_from_row,
    utc,
    worker_from_bytes,
)
from fastq.keys import TASK_STATES
from fastq.rdb import inspect as rdb
from fastq.rdb.inspect import Plan, Progress
from fastq.task import TaskState

# Which states each action applies to (Asynq's rules; payload edits: see fastq.inspect.inspector).
RUNNABLE = ("scheduled", "retry", "archived", "aggregating")
ARCHIVABLE = ("pending", "scheduled", "retry", "aggregating")
DELETABLE = ("pending", "scheduled", "retry", "archived", "completed", "aggregating")
PAYLOAD_EDITABLE = ("pending", "scheduled", "retry", "archived", "aggregating")
_BULK_STATES = {"run": RUNNABLE, "archive": ARCHIVABLE, "delete": DELETABLE}
_VERBS = {"run": "run", "archive": "archive", "delete": "delete"}


def _check_state(state: str | TaskState, allowed: Sequence[str] = TASK_STATES) -> str:
    value = state.value if isinstance(state, TaskState) else str(state)
    if value not in allowed:
        raise InvalidOptionError("state", f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_page(page: int, size: int) -> None:
    if not isinstance(page, int) or page < 1:
        raise InvalidOptionError("page", f"must be an int >= 1, got {page!r}")
    if not isinstance(size, int) or not 1 <= size <= 10_000:
        raise InvalidOptionError("size", f"must be an int between 1 and 10000, got {size!r}")


# --- plans: the whole of each operation, shared by the sync and async classes ----------


def queue_info(queue: str) -> Plan[QueueInfo]:
    now = time.time()
    raw, memory = yield from rdb.queue_stats(queue, now)
    return _to_queue_info(queue, raw, memory, now)


def all_queue_info() -> Plan[list[QueueInfo]]:
    now = time.time()
    stats = yield from rdb.all_queue_stats(now)
    return [_to_queue_info(q, raw, memory, now) for q, raw, memory in stats]


def queue_metrics() -> Plan[list[QueueMetrics]]:
    now = time.time()
    rows = yield from rdb.queue_metrics(now)
    return [
        QueueMetrics(
            info=_to_queue_info(q, raw, memory, now),
            retry_overdue=max(0.0, now - retry_at) if retry_at else 0.0,
            scheduled_overdue=max(0.0, now - process_at) if process_at else 0.0,
        )
        for q, raw, memory, retry_at, process_at in rows
    ]


def _to_queue_info(queue: str, raw: list[Any], memory: int, now: float) -> QueueInfo:
    names = ("pending", "active", "scheduled", "retry", "archived", "completed")
    problems = [
        f"{name} index has the wrong type"
        for name, n in zip(names, raw[:6], strict=True)
        if n == -1
    ]
    c = [max(int(n), 0) for n in raw[:10]]
    paused_raw, groups, aggregating, since = raw[10], int(raw[11]), int(raw[12]), raw[13]
    if groups == -1:
        problems.append("groups key has the wrong type")
    paused_since = None
    if paused_raw is not None:
        try:
            paused_since = utc(int(paused_raw))
        except ValueError:
            pass
    latency = 0.0
    if since is not None:
        try:
            latency = max(0.0, now - int(since) / 1e9)
        except ValueError:
            problems.append("oldest pending task has a bad pending_since")
    return QueueInfo(
        queue=queue,
        size=sum(c[:6]) + aggregating,
        memory_usage=memory,
        latency=latency,
        pending=c[0],
        active=c[1],
        scheduled=c[2],
        retry=c[3],
        archived=c[4],
        completed=c[5],
        aggregating=aggregating,
        groups=max(groups, 0),
        processed=c[6],
        failed=c[7],
        processed_total=c[8],
        failed_total=c[9],
        paused=paused_raw is not None,
        paused_since=paused_since,
        timestamp=utc(now),
        problems=problems,
    )


def history(queue: str, days: int) -> Plan[list[DailyStats]]:
    if not isinstance(days, int) or not 1 <= days <= 90:
        raise InvalidOptionError("days", f"must be an int between 1 and 90, got {days!r}")
    rows = yield from rdb.history(queue, days, time.time())
    return [DailyStats(queue, utc(t).strftime("%Y-%m-%d"), p, f) for t, p, f in rows]


def list_tasks(
    queue: str,
    state: str | TaskState,
    page: int,
    size: int,
    task_type: str | None,
    error_contains: str | None,
    group: str | None,
    scan_chunk: int | None = None,
) -> Plan[list[AnyTask]]:
    st = _check_state(state)
    _check_page(page, size)
    if scan_chunk is not None and not 1 <= scan_chunk <= 10_000:
        raise InvalidOptionError("scan_chunk", f"must be between 1 and 10000, got {scan_chunk!r}")
    rows = yield from rdb.list_rows(
        queue,
        st,
        group=group,
        skip=(page - 1) * size,
        size=size,
        task_type=task_type,
        error_contains=error_contains,
        chunk=scan_chunk,
    )
    now = time.time()
    return [task_from_row(queue, st, row, now) for row in rows]


def search_tasks(
    queue: str,
    state: str | TaskState,
    offset: int,
    budget: int,
    size: int,
    task_type: str | None,
    error_contains: str | None,
    scan_chunk: int | None,
) -> Plan[SearchPage]:
    st = _check_state(state, tuple(s for s in TASK_STATES if s != "aggregating"))
    _check_page(1, size)
    if not isinstance(offset, int) or offset < 0:
        raise InvalidOptionError("offset", f"must be an int >= 0, got {offset!r}")
    if not isinstance(budget, int) or budget < 1:
        raise InvalidOptionError("budget", f"must be an int >= 1, got {budget!r}")
    if scan_chunk is not None and not 1 <= scan_chunk <= 10_000:
        raise InvalidOptionError("scan_chunk", f"must be between 1 and 10000, got {scan_chunk!r}")
    rows, nxt, total = yield from rdb.scan_rows(
        queue,
        st,
        offset=offset,
        budget=budget,
        size=size,
        task_type=task_type,
        error_contains=error_contains,
        chunk=scan_chunk,
    )
    now = time.time()
    tasks = [task_from_row(queue, st, row, now) for row in rows]
    return SearchPage(tasks=tasks, next_offset=nxt, total=total, done=nxt >= total)


def count_tasks(
    queue: str,
    state: str | TaskState,
    task_type: str | None,
    error_contains: str | None,
    group: str | None,
) -> Plan[int]:
    st = _check_state(state)
    return (
        yield from rdb.count_matches(
            queue, st, group=group, task_type=task_type, error_contains=error_contains
        )
    )


def task_info(queue: str, task_id: str) -> Plan[AnyTask]:
    exists, row = yield from rdb.task_row(queue, task_id)
    if not exists:
        raise QueueNotFoundError(queue)
    if row is None:
        raise TaskNotFoundError(queue, task_id)
    return task_from_row(queue, row.state or "", row, time.time())


def mutate_one(queue: str, action: str, task_id: str) -> Plan[None]:
    ((code, state),) = yield from rdb.mutate(queue, action, [task_id], time.time())
    if code == 0:
        raise TaskNotFoundError(queue, task_id)
    if code == -1:
        raise InvalidStateError(task_id, state or "corrupt", _VERBS[action])


def mutate_many(queue: str, action: str, task_ids: Sequence[str]) -> Plan[SelectionResult]:
    if isinstance(task_ids, str):
        raise InvalidOptionError("task_ids", "must be a sequence of ids, not one str")
    ids = list(dict.fromkeys(task_ids))  # duplicates would only report "not found"
    replies = yield from rdb.mutate(queue, action, ids, time.time())
    done, missing, refused = [], [], {}
    for tid, (code, state) in zip(ids, replies, strict=True):
        if code == 1:
            done.append(tid)
        elif code == 0:
            missing.append(tid)
        else:
            refused[tid] = state
    return SelectionResult(done, missing, refused)


def bulk(
    queue: str,
    action: str,
    state: str | TaskState,
    group: str | None,
    progress: Progress | None,
) -> Plan[int]:
    st = _check_state(state, _BULK_STATES[action])
    yield from rdb.queue_exists_or_raise(queue)
    return (yield from rdb.bulk(queue, action, st, group, progress=progress))


def update_payload(queue: str, task_id: str, payload: bytes) -> Plan[AnyTask]:
    if not isinstance(payload, (bytes, bytearray)):
        raise InvalidOptionError("payload", f"must be bytes, got {type(payload).__name__}")

    def transform(old: bytes) -> bytes:
        try:
            msg = core.TaskMessage.decode(old)
        except DecodeError as exc:
            raise InvalidStateError(task_id, "corrupt", "update the payload of") from exc
        msg.payload = bytes(payload)
        new = msg.encode()
        if len(new) > DEFAULT_MAX_PAYLOAD_BYTES:
            raise PayloadTooLargeError(len(new), DEFAULT_MAX_PAYLOAD_BYTES)
        return new

    yield from rdb.queue_exists_or_raise(queue)
    code, state = yield from rdb.update_message(queue, task_id, transform, PAYLOAD_EDITABLE)
    if code == 0:
        raise TaskNotFoundError(queue, task_id)
    if code != 1:
        raise InvalidStateError(task_id, state or "corrupt", "update the payload of")
    return (yield from task_info(queue, task_id))


def servers() -> Plan[list[ServerInfo]]:
    infos, worker_lists = yield from rdb.servers(time.time())
    workers = []
    for values in worker_lists:
        for data in values:
            try:
                workers.append(worker_from_bytes(data))
            except DecodeError:
                continue  # a garbled worker entry must not hide the servers
    out = []
    for data in infos:
        try:
            out.append(server_from_bytes(data, workers))
        except DecodeError:
            continue
    return sorted(out, key=lambda s: (s.host, s.pid, s.server_id))


def scheduler_entries() -> Plan[list[SchedulerEntry]]:
    raw = yield from rdb.scheduler_entries(time.time())
    out = []
    for data in raw:
        try:
            out.append(entry_from_bytes(data))
        except DecodeError:
            continue
    return sorted(out, key=lambda e: e.id)


def scheduler_history(entry_id: str, page: int, size: int) -> Plan[list[SchedulerEnqueueEvent]]:
    _check_page(page, size)
    raw = yield from rdb.scheduler_history(entry_id, (page - 1) * size, size)
    out = []
    for data in raw:
        try:
            out.append(event_from_bytes(data))
        except DecodeError:
            continue
    return out


_INFO_KEYS = (
    "redis_version",
    "redis_mode",
    "os",
    "uptime_in_seconds",
    "connected_clients",
    "blocked_clients",
    "used_memory",
    "used_memory_human",
    "used_memory_peak_human",
    "maxmemory",
    "maxmemory_policy",
    "total_commands_processed",
    "keyspace_hits",
    "keyspace_misses",
    "role",
    "connected_slaves",
)


def redis_info() -> Plan[dict[str, Any]]:
    info = yield from rdb.redis_info()
    # A fixed allow-list: INFO carries nothing secret today, but a config dump might.
    out = {k: info[k] for k in _INFO_KEYS if k in info}
    # the keyspace section: db<N> -> {"keys": .., "expires": .., "avg_ttl": ..}
    out.update({k: v for k, v in info.items() if k[:2] == "db" and k[2:].isdigit()})
    return out
