"""Redis I/O of the Inspector, as plans (``fastq.rdb.plan``) run by both the blocking
and the asyncio Inspector.

Plans here return raw data (bytes, numbers); decoding into the public dataclasses is
``fastq.inspect.ops``'s job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from fastq import keys
from fastq.config import DEFAULT_ARCHIVE_MAX_AGE, DEFAULT_ARCHIVE_MAX_SIZE
from fastq.errors import (
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotFoundError,
)
from fastq.options import validate_queue_name
from fastq.rdb.conn import Call
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.rdb.plan import Cmd, Op, Plan, ok, run_async, run_sync

__all__ = ["Cmd", "Op", "Plan", "Progress", "Row", "run_async", "run_sync"]

MEMORY_SAMPLE_SIZE = 20  # task hashes sampled per index, as Asynq samples
SCAN_CHUNK = 1000  # ids a filtered listing scans per script call (~10-20 ms of Redis)
SCAN_BYTES = 4 * 1024 * 1024  # message bytes a listing call reads at most (large payloads)
BULK_CHUNK = 500  # tasks a bulk operation moves per script call (~10-20 ms of Redis)
STATE_KINDS = {
    "pending": "list",
    "active": "list",
    "scheduled": "zset",
    "retry": "zset",
    "archived": "zset",
    "completed": "zset",
}


def _s(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def queue_exists_or_raise(queue: str) -> Plan[None]:
    """Raise QueueNotFoundError unless ``queue`` is in ``asynq:queues``."""
    (found,) = yield [Cmd(("SISMEMBER", keys.ALL_QUEUES, queue))]
    if not ok(found):
        raise QueueNotFoundError(queue)


# --- queues ----------------------------------------------------------------------------


def queues() -> Plan[list[str]]:
    (names,) = yield [Cmd(("SMEMBERS", keys.ALL_QUEUES))]
    return sorted(_s(n) for n in ok(names))


def queue_stats(queue: str, now: float) -> Plan[tuple[list[Any], int]]:
    """Raw counters of a queue (see inspect_queue_stats.lua) and its memory estimate."""
    found, stats, memory = yield [
        Cmd(("SISMEMBER", keys.ALL_QUEUES, queue)),
        *_stats_calls(queue, now),
    ]
    if not ok(found):
        raise QueueNotFoundError(queue)
    return _stats_reply(stats, memory)


def all_queue_stats(now: float) -> Plan[list[tuple[str, list[Any], int]]]:
    """(queue, counters, memory) of every queue, in two round trips."""
    names = yield from queues()
    replies = yield [c for q in names for c in _stats_calls(q, now)]
    return [(q, *_stats_reply(replies[2 * i], replies[2 * i + 1])) for i, q in enumerate(names)]


def queue_metrics(now: float) -> Plan[list[tuple[str, list[Any], int, float, float]]]:
    """(queue, counters, memory, earliest retry-at, earliest process-at) of every queue,
    in two round trips however many queues there are (for the metrics exporter).

    The times are unix seconds, 0.0 when the zset is empty or unreadable.
    """
    names = yield from queues()
    calls: list[Op] = []
    for q in names:
        calls += _stats_calls(q, now)
        calls.append(Cmd(("ZRANGE", keys.retry_key(q), 0, 0, "WITHSCORES")))
        calls.append(Cmd(("ZRANGE", keys.scheduled_key(q), 0, 0, "WITHSCORES")))
    replies = yield calls
    out = []
    for i, q in enumerate(names):
        stats, memory, retry, scheduled = replies[4 * i : 4 * i + 4]
        out.append((q, *_stats_reply(stats, memory), _head_score(retry), _head_score(scheduled)))
    return out


def _head_score(reply: Any) -> float:
    if isinstance(reply, ResponseError) or not reply:
        return 0.0
    first = reply[0]  # redis-py pairs WITHSCORES replies up: [(member, score)]
    return float(first[1] if isinstance(first, (list, tuple)) else reply[1])


def _stats_calls(queue: str, now: float) -> list[Op]:
    prefix, gprefix = keys.task_key_prefix(queue), keys.group_key(queue, "")
    return [
        Call("inspect_queue_stats", _stats_keys(queue, now), [prefix, gprefix]),
        Call(
            "inspect_memory_usage",
            [*(_index_keys(queue)), keys.groups_key(queue)],
            [prefix, gprefix, MEMORY_SAMPLE_SIZE],
        ),
    ]


def _stats_reply(stats: Any, memory: Any) -> tuple[list[Any], int]:
    return list(ok(stats)), 0 if isinstance(memory, ResponseError) else int(memory)


def groups(queue: str) -> Plan[list[tuple[str, int]]]:
    """(group name, tasks waiting in it) of a queue's aggregation groups, by name."""
    yield from queue_exists_or_raise(queue)
    srcs = yield from sources(queue, "aggregating")
    sizes = yield [Cmd(("ZCARD", key)) for key, _, _ in srcs]
    return [
        (g, 0 if isinstance(n, ResponseError) else int(n))
        for (_, _, g), n in zip(srcs, sizes, strict=True)
    ]


def _index_keys(queue: str) -> list[str]:
    return [keys.state_key(queue, s) for s in STATE_KINDS]


def _stats_keys(queue: str, now: float) -> list[str]:
    return [
        *_index_keys(queue),
        *keys.counter_keys(queue, now),
        keys.paused_key(queue),
        keys.groups_key(queue),
    ]


def history(queue: str, days: int, now: float) -> Plan[list[tuple[float, int, int]]]:
    """(day start as unix time, processed, failed) for today and the days before it."""
    yield from queue_exists_or_raise(queue)
    stamps = [now - i * 86400 for i in range(days)]
    names = [k for t in stamps for k in (keys.processed_key(queue, t), keys.failed_key(queue, t))]
    (values,) = yield [Cmd(("MGET", *names))]
    values = ok(values)
    return [
        (t - t % 86400, _int(values[2 * i]), _int(values[2 * i + 1])) for i, t in enumerate(stamps)
    ]


def _int(v: Any) -> int:
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0


def pause(queue: str, now: float) -> Plan[bool]:
    """Mark the queue paused; False if it already was.

    As Asynq's ``PauseQueue``, a queue that holds no task yet can be paused: workers
    then find it paused when its first task arrives.
    """
    validate_queue_name(queue)
    (done,) = yield [Cmd(("SET", keys.paused_key(queue), int(now), "NX"))]
    return bool(ok(done))


def unpause(queue: str) -> Plan[bool]:
    """Resume the queue (known or not yet); False if it was not paused."""
    validate_queue_name(queue)
    (n,) = yield [Cmd(("DEL", keys.paused_key(queue)))]
    return bool(ok(n))


def delete_queue(
    queue: str, force: bool, now: float, progress: Progress | None = None
) -> Plan[None]:
    """Remove the queue; with force, its tasks are first deleted in chunks.

    ``progress(done, total)`` counts over all states; ``total`` grows as each state
    is reached.
    """
    yield from queue_exists_or_raise(queue)
    (active,) = yield [Cmd(("LLEN", keys.active_key(queue)))]
    if force and not isinstance(active, ResponseError) and active > 0:
        raise QueueBusyError(queue)  # checked first so force deletes nothing in vain
    base = 0
    for state in ("pending", "scheduled", "retry", "archived", "completed", "aggregating"):
        if not force:
            break

        def report(done: int, total: int, base: int = base) -> None:
            if progress is not None:
                progress(base + done, base + total)

        base += yield from bulk(queue, "delete", state, None, progress=report)
    fixed = [
        keys.active_key(queue),
        keys.pending_key(queue),
        keys.scheduled_key(queue),
        keys.retry_key(queue),
        keys.archived_key(queue),
        keys.completed_key(queue),
        keys.groups_key(queue),
    ]
    days = DEFAULT_ARCHIVE_MAX_AGE // 86400 + 1
    others = [
        keys.lease_key(queue),
        keys.paused_key(queue),
        keys.processed_total_key(queue),
        keys.failed_total_key(queue),
        keys.all_aggregation_sets_key(queue),
        keys.wake_key(queue),
        keys.recovered_count_key(queue),
        *(keys.processed_key(queue, now - i * 86400) for i in range(days)),
        *(keys.failed_key(queue, now - i * 86400) for i in range(days)),
    ]
    (code,) = yield [
        Call(
            "inspect_delete_queue",
            [*fixed, *others],
            ["1" if force else "0", keys.task_key_prefix(queue), keys.group_key(queue, "")],
        )
    ]
    code = ok(code)
    if code == 1:  # asynq:queues is another hash slot on a cluster: its own call
        (removed,) = yield [Cmd(("SREM", keys.ALL_QUEUES, queue))]
        if ok(removed) == 0:
            raise QueueNotFoundError(queue)  # deleted by someone else meanwhile
    if code == -2:
        raise QueueBusyError(queue)
    if code == -1:
        raise QueueNotEmptyError(queue)


# --- listing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One task as a listing read it; ``problem`` names what was wrong, if anything."""

    id: str
    msg: bytes | None
    state: str | None  # the hash's state field
    score: float | None  # zset score
    result: bytes | None
    lease: float | None  # lease expiry of an active task
    problem: str | None = None
    pending_since: float | None = None  # unix seconds
    traceback: bytes | None = None  # the x_traceback field (fastq only)


def sources(queue: str, state: str) -> Plan[list[tuple[str, str, str]]]:
    """The index keys holding one state as (key, "list"|"zset", group name or "")."""
    if state != "aggregating":
        return [(keys.state_key(queue, state), STATE_KINDS[state], "")]
    (names,) = yield [Cmd(("SMEMBERS", keys.groups_key(queue)))]
    names = ok(names) if not isinstance(names, ResponseError) else []
    return [(keys.group_key(queue, g), "zset", g) for g in sorted(_s(n) for n in names)]


def list_rows(
    queue: str,
    state: str,
    *,
    group: str | None,
    skip: int,
    size: int,
    task_type: str | None,
    error_contains: str | None,
    chunk: int | None = None,
) -> Plan[list[Row]]:
    """One page of a state in Asynq's order; filters are applied server-side in chunks."""
    yield from queue_exists_or_raise(queue)
    if group is not None:
        srcs = [(keys.group_key(queue, group), "zset", group)]
    else:
        srcs = yield from sources(queue, state)
    filtering = bool(task_type or error_contains)
    chunk = chunk or SCAN_CHUNK
    rows: list[Row] = []
    for key, kind, _ in srcs:
        if len(rows) >= size:
            break
        offset = 0
        if not filtering:  # jump straight to the page by index
            (n,) = yield [Cmd(("LLEN" if kind == "list" else "ZCARD", key))]
            if isinstance(n, ResponseError):
                rows.append(Row("", None, None, None, None, None, f"{key} has the wrong type"))
                continue
            if skip >= n:
                skip -= n
                continue
            offset, skip = skip, 0
        while len(rows) < size:
            need = skip + size - len(rows)
            window = chunk if filtering else need
            call = _list_call(queue, key, kind, offset, window, task_type, error_contains)
            (reply,) = yield [call(need if filtering else 0, state == "active", False)]
            reply = ok(reply)
            if reply[0] == -1:
                problem = f"{key} is a {_s(reply[1])}, not a {kind}"
                rows.append(Row("", None, None, None, None, None, problem))
                break
            scanned, ended, found = reply[0], reply[1], _rows(reply)
            dropped = min(skip, len(found))
            skip -= dropped
            rows.extend(found[dropped:])
            offset += scanned
            if ended or scanned == 0:
                break  # end of this index
    return rows[:size]


def scan_rows(
    queue: str,
    state: str,
    *,
    offset: int,
    budget: int,
    size: int,
    task_type: str | None,
    error_contains: str | None,
    chunk: int | None = None,
) -> Plan[tuple[list[Row], int, int]]:
    """A resumable filtered scan of one state index (not aggregating).

    Returns up to ``size`` matching rows found among at most ``budget`` ids from
    ``offset`` (listing order), the offset to resume from, and the index length.
    """
    yield from queue_exists_or_raise(queue)
    key, kind = keys.state_key(queue, state), STATE_KINDS[state]
    (total,) = yield [Cmd(("LLEN" if kind == "list" else "ZCARD", key))]
    if isinstance(total, ResponseError):
        return [Row("", None, None, None, None, None, f"{key} has the wrong type")], offset, 0
    chunk = chunk or SCAN_CHUNK
    rows: list[Row] = []
    end = min(int(total), offset + budget)
    while offset < end and len(rows) < size:
        window = min(chunk, end - offset)
        call = _list_call(queue, key, kind, offset, window, task_type, error_contains)
        (reply,) = yield [call(size - len(rows), state == "active", False)]
        reply = ok(reply)
        if reply[0] == -1:
            rows.append(Row("", None, None, None, None, None, f"{key} is a {_s(reply[1])}"))
            break
        if reply[0] == 0:
            break  # the index shrank under the scan
        rows.extend(_rows(reply))
        offset += reply[0]
    return rows, offset, int(total)


def count_matches(
    queue: str,
    state: str,
    *,
    group: str | None,
    task_type: str | None,
    error_contains: str | None,
    chunk: int | None = None,
) -> Plan[int]:
    """How many tasks of a state match the filters: a full server-side scan in chunks."""
    yield from queue_exists_or_raise(queue)
    if group is not None:
        srcs = [(keys.group_key(queue, group), "zset", group)]
    else:
        srcs = yield from sources(queue, state)
    chunk = chunk or SCAN_CHUNK
    total = 0
    for key, kind, _ in srcs:
        offset = 0
        while True:
            call = _list_call(queue, key, kind, offset, chunk, task_type, error_contains)
            (reply,) = yield [call(0, False, True)]
            reply = ok(reply)
            if reply[0] == -1:
                break  # a wrong-typed index holds nothing countable
            scanned, found, ended = int(reply[0]), int(reply[1]), int(reply[2])
            total += found
            offset += scanned
            if ended or scanned == 0:
                break
    return total


def _list_call(
    queue: str,
    key: str,
    kind: str,
    offset: int,
    window: int,
    task_type: str | None,
    error_contains: str | None,
) -> Callable[[int, bool, bool], Call]:
    """One window of ``inspect_list_tasks``; the result takes (most matches or 0, read
    leases, count only)."""

    def call(limit: int, leases: bool, count_only: bool) -> Call:
        args: list[str | int] = [kind, offset, window, keys.task_key_prefix(queue)]
        args += [task_type or "", (error_contains or "").lower(), limit]
        args += ["1" if leases else "0", "1" if count_only else "0", SCAN_BYTES]
        return Call("inspect_list_tasks", [key, keys.lease_key(queue)], args)

    return call


def _rows(reply: list[Any]) -> list[Row]:
    out = []
    for i in range(2, len(reply), 7):
        tid, msg, state, score, result, lease, wrong = reply[i : i + 7]
        out.append(
            Row(
                id=_s(tid),
                msg=msg,
                state=_s(state) if state is not None else None,
                score=float(score) if score is not None else None,
                result=result,
                lease=float(lease) if lease is not None else None,
                problem="task key is not a hash" if wrong is not None else None,
            )
        )
    return out


def task_row(queue: str, task_id: str) -> Plan[tuple[bool, Row | None]]:
    """(queue exists, the task's row or None when no hash exists)."""
    found, reply = yield [
        Cmd(("SISMEMBER", keys.ALL_QUEUES, queue)),
        Call(
            "inspect_task_info",
            [
                keys.task_key(queue, task_id),
                keys.lease_key(queue),
                keys.scheduled_key(queue),
                keys.retry_key(queue),
                keys.archived_key(queue),
                keys.completed_key(queue),
            ],
            [task_id],
        ),
    ]
    reply = ok(reply)
    if reply is None:
        return bool(ok(found)), None
    if len(reply) == 1:
        return True, Row(task_id, None, None, None, None, None, "task key is not a hash")
    msg, state, result, pending_since, score, traceback = reply
    row = Row(
        id=task_id,
        msg=msg,
        state=_s(state) if state is not None else None,
        score=float(score) if score is not None else None,
        result=result,
        lease=float(score) if score is not None and state == b"active" else None,
        pending_since=_int(pending_since) / 1e9 if pending_since is not None else None,
        traceback=traceback,
    )
    return bool(ok(found)), row


# --- mutations -------------------------------------------------------------------------


def mutate(
    queue: str, action: str, task_ids: Sequence[str], now: float
) -> Plan[list[tuple[int, str]]]:
    """Run, archive or delete tasks by id, all in one round trip: one (code, state) each.

    Codes: 1 done, 0 not found, -1 refused in the returned state.
    """
    yield from queue_exists_or_raise(queue)
    calls: list[Op] = [_mutation(queue, action, tid, now) for tid in task_ids]
    replies = yield calls
    return [(int(ok(r)[0]), _s(ok(r)[1])) for r in replies]


def _mutation(queue: str, action: str, task_id: str, now: float) -> Call:
    tkey, gprefix = keys.task_key(queue, task_id), keys.group_key(queue, "")
    pend, sched = keys.pending_key(queue), keys.scheduled_key(queue)
    retry, arch, groups = keys.retry_key(queue), keys.archived_key(queue), keys.groups_key(queue)
    recovered = keys.recovered_count_key(queue)
    if action == "run":
        return Call(
            "inspect_run_task",
            [tkey, pend, sched, retry, arch, groups, keys.wake_key(queue), recovered],
            [task_id, gprefix, int(now * 1e9), DEFAULT_WAKE_TOKENS],
        )
    if action == "archive":
        return Call(
            "inspect_archive_task",
            [tkey, pend, sched, retry, arch, groups],
            [
                task_id,
                gprefix,
                int(now),
                int(now) - DEFAULT_ARCHIVE_MAX_AGE,
                DEFAULT_ARCHIVE_MAX_SIZE,
                keys.task_key_prefix(queue),
            ],
        )
    if action == "delete":
        return Call(
            "inspect_delete_task",
            [tkey, pend, sched, retry, arch, keys.completed_key(queue), groups, recovered],
            [task_id, gprefix],
        )
    raise ValueError(f"unknown action {action!r}")


Progress = Callable[[int, int], None]


def bulk(
    queue: str,
    action: str,
    state: str,
    group: str | None,
    *,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> Plan[int]:
    """Run, archive or delete every task of a state in chunks; returns how many moved.

    ``progress(done, total)`` is called after each chunk; ``total`` is the size of the
    state when the operation started, and the operation stops there so producers
    that keep adding tasks cannot make it run forever.
    """
    if group is not None:
        srcs = [(keys.group_key(queue, group), "zset", group)]
    else:
        srcs = yield from sources(queue, state)
    sizes = yield [Cmd(("LLEN" if kind == "list" else "ZCARD", key)) for key, kind, _ in srcs]
    sizes = [0 if isinstance(n, ResponseError) else int(n) for n in sizes]
    total, done = sum(sizes), 0
    for (key, kind, gname), size in zip(srcs, sizes, strict=True):
        left = size
        while left > 0:
            n = min(chunk or BULK_CHUNK, left)
            (reply,) = yield [_bulk_call(queue, action, key, kind, gname, n)]
            moved, dropped = (int(x) for x in ok(reply))
            if moved + dropped == 0:
                break
            left -= moved + dropped
            done += moved
            if progress is not None:
                progress(done, total)
    return done


def _bulk_call(queue: str, action: str, key: str, kind: str, group: str, n: int) -> Call:
    now = time.time()
    prefix, groups = keys.task_key_prefix(queue), keys.groups_key(queue)
    recovered = keys.recovered_count_key(queue)
    if action == "run":
        return Call(
            "inspect_run_all",
            [key, keys.pending_key(queue), groups, keys.wake_key(queue), recovered],
            [n, prefix, time.time_ns(), group, DEFAULT_WAKE_TOKENS],
        )
    if action == "archive":
        return Call(
            "inspect_archive_all",
            [key, keys.archived_key(queue), groups],
            [
                kind,
                n,
                prefix,
                int(now),
                int(now) - DEFAULT_ARCHIVE_MAX_AGE,
                DEFAULT_ARCHIVE_MAX_SIZE,
                group,
            ],
        )
    if action == "delete":
        return Call("inspect_delete_all", [key, groups, recovered], [kind, n, prefix, group])
    raise ValueError(f"unknown action {action!r}")


def update_message(
    queue: str, task_id: str, transform: Callable[[bytes], bytes], allowed: Sequence[str]
) -> Plan[tuple[int, str]]:
    """Replace a task's message with ``transform(old)`` by compare-and-set (retried)."""
    tkey = keys.task_key(queue, task_id)
    for _ in range(5):
        (msg,) = yield [Cmd(("HGET", tkey, "msg"))]
        if isinstance(msg, ResponseError) or msg is None:
            return 0, ""
        (reply,) = yield [Call("inspect_update_payload", [tkey], [msg, transform(msg), *allowed])]
        code, state = int(ok(reply)[0]), _s(ok(reply)[1])
        if code != -2:
            return code, state
    return -2, state


def cancel(task_ids: Sequence[str]) -> Plan[list[int]]:
    """Publish one cancel request per task id, all in one round trip; returns how many
    subscribers (servers) received each."""
    if not task_ids:
        return []
    replies = yield [Cmd(("PUBLISH", keys.CANCEL_CHANNEL, tid)) for tid in task_ids]
    return [int(ok(n)) for n in replies]


# --- servers, schedulers, redis --------------------------------------------------------


def servers(now: float) -> Plan[tuple[list[bytes], list[list[bytes]]]]:
    """Encoded ServerInfo of live servers, and the WorkerInfo values of live workers;
    members whose heartbeat expired are removed from ``asynq:servers``/``asynq:workers``."""
    skeys, wkeys, _, _ = yield [
        Cmd(("ZRANGEBYSCORE", keys.ALL_SERVERS, now, "+inf")),
        Cmd(("ZRANGEBYSCORE", keys.ALL_WORKERS, now, "+inf")),
        # Dead members go, as Asynq's ListServers / ListWorkers remove them.
        Cmd(("ZREMRANGEBYSCORE", keys.ALL_SERVERS, "-inf", int(now) - 1)),
        Cmd(("ZREMRANGEBYSCORE", keys.ALL_WORKERS, "-inf", int(now) - 1)),
    ]
    skeys, wkeys = ok(skeys), ok(wkeys)
    replies = yield [
        *(Cmd(("GET", k)) for k in skeys),
        *(Cmd(("HVALS", k)) for k in wkeys),
    ]
    infos = [r for r in replies[: len(skeys)] if isinstance(r, bytes)]
    workers = [r for r in replies[len(skeys) :] if isinstance(r, list)]
    return infos, workers


def scheduler_entries(now: float) -> Plan[list[bytes]]:
    """Encoded SchedulerEntry messages of live schedulers."""
    (skeys,) = yield [Cmd(("ZRANGEBYSCORE", keys.ALL_SCHEDULERS, now, "+inf"))]
    lists = yield [Cmd(("LRANGE", k, 0, -1)) for k in ok(skeys)]
    return [e for lst in lists if isinstance(lst, list) for e in lst]


def scheduler_history(entry_id: str, offset: int, count: int) -> Plan[list[bytes]]:
    """Encoded SchedulerEnqueueEvent messages, newest first."""
    (events,) = yield [
        Cmd(("ZREVRANGE", keys.scheduler_history_key(entry_id), offset, offset + count - 1))
    ]
    return [] if isinstance(events, ResponseError) else list(events)


def redis_info() -> Plan[dict[str, Any]]:
    (info,) = yield [Cmd(("INFO",))]
    return dict(ok(info))
