"""Calls the worker engine and its maintenance loops make (fetch, ack, leases, recovery).

Each function builds ``Call`` objects (run them with ``SyncConn``/``AsyncConn``
``call``/``call_many``) or parses a script's reply; no I/O happens here (the
blocking wake-up wait and the cancel subscription live in ``rdb/blocking.py``).
Nothing here decodes task messages: that is the engine's job, on the Cython codec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from fastq import keys
from fastq.config import DEFAULT_STATS_TTL
from fastq.rdb.conn import Call
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS

__all__ = ["Call"]


class Ack(IntEnum):
    """Per-task result codes of the acknowledging scripts (ack_success, retry, archive,
    requeue)."""

    ACKED = 1
    LEASE_LOST = 0  # the lease zset no longer scores the task at the caller's lease
    NOT_ACTIVE = -1  # the task is not in the active list


# Stable identifiers of the maintenance batches (Asynq uses 100 for the forwarder).
FORWARD_BATCH = 100
JANITOR_BATCH = 100
RECOVER_BATCH = 100


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def stats_expiry(now: float) -> int:
    """Unix second at which a daily counter created at ``now`` expires."""
    return int(now) + DEFAULT_STATS_TTL


# --- fetch ------------------------------------------------------------------


class Fetched(NamedTuple):  # a NamedTuple: one is built per task on the hot path
    """One id the dequeue script moved to active (``msg`` set) or had to skip."""

    queue: str
    task_id: str
    msg: bytes | None  # None: skipped, see ``problem``
    problem: str = ""
    pending_since: int = 0  # unix ns the task became pending (0: unknown), for metrics


def dequeue_call(
    queues: Sequence[str],
    count: int,
    lease_expiry: int,
    quotas: Sequence[int] = (),
    max_bytes: int = 0,
) -> Call:
    """Move up to ``count`` tasks (and about ``max_bytes`` of messages, 0: no limit, at
    least one task) from the queues' pending lists: first up to each queue's quota
    (aligned with ``queues``), then what is still wanted in the given order."""
    ks: list[str] = []
    for q in queues:
        ks += [keys.pending_key(q), keys.paused_key(q), keys.active_key(q), keys.lease_key(q)]
    args: list[str | int] = [lease_expiry, count, max_bytes]
    args += [keys.task_key_prefix(q) for q in queues]
    args += list(quotas)
    return Call("dequeue", ks, args)


def parse_dequeue(queues: Sequence[str], reply: Sequence[Any]) -> list[Fetched]:
    out: list[Fetched] = []
    append = out.append
    for i in range(0, len(reply), 4):
        idx = reply[i]
        if idx > 0:
            since = reply[i + 3]
            append(Fetched(queues[idx - 1], reply[i + 1].decode(), reply[i + 2], "", _ns(since)))
        else:
            append(Fetched(queues[-idx - 1], _s(reply[i + 1]), None, _s(reply[i + 2])))
    return out


def _ns(value: bytes | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:  # a hand-written pending_since: latency unknown, task still runs
        return 0


def wake_keys(queues: Iterable[str]) -> list[str]:
    return [keys.wake_key(q) for q in queues]


# --- acknowledge --------------------------------------------------------------


class Success(NamedTuple):
    """A task to acknowledge as succeeded; ``completed_msg`` set keeps it as completed."""

    task_id: str
    lease: int
    unique_key: str = ""
    completed_expiry: int = 0  # 0: delete the task
    completed_msg: bytes = b""


def ack_success_call(queue: str, items: Sequence[Success], now: float) -> Call:
    ks: list[str] = [
        keys.active_key(queue),
        keys.lease_key(queue),
        keys.completed_key(queue),
        keys.processed_key(queue, now),
        keys.processed_total_key(queue),
        keys.recovered_count_key(queue),
    ]
    args: list[str | int | bytes] = [stats_expiry(now)]
    for it in items:
        tk = keys.task_key(queue, it.task_id)
        ks += [tk, it.unique_key or tk]
        args += [it.task_id, it.lease, it.completed_expiry, it.completed_msg]
    return Call("ack_success", ks, args)


def retry_call(
    queue: str,
    task_id: str,
    msg: bytes,
    retry_at: int,
    *,
    is_failure: bool,
    lease: int,
    now: float,
    traceback: str = "",
) -> Call:
    ks = [
        keys.task_key(queue, task_id),
        keys.active_key(queue),
        keys.lease_key(queue),
        keys.retry_key(queue),
        *keys.counter_keys(queue, now),
    ]
    args: list[str | int | bytes] = [
        task_id,
        msg,
        retry_at,
        stats_expiry(now),
        int(is_failure),
        lease,
        traceback,
    ]
    return Call("retry", ks, args)


def archive_call(
    queue: str,
    task_id: str,
    msg: bytes,
    *,
    lease: int,
    now: float,
    max_size: int,
    max_age: float,
    traceback: str = "",
) -> Call:
    ks = [
        keys.task_key(queue, task_id),
        keys.active_key(queue),
        keys.lease_key(queue),
        keys.archived_key(queue),
        *keys.counter_keys(queue, now),
        keys.recovered_count_key(queue),
    ]
    args: list[str | int | bytes] = [
        task_id,
        msg,
        int(now),
        int(now - max_age),
        max_size,
        stats_expiry(now),
        lease,
        keys.task_key_prefix(queue),
        traceback,
    ]
    return Call("archive", ks, args)


def write_result_call(queue: str, task_id: str, result: bytes, leases: Sequence[int]) -> Call:
    """Write ``result`` if the lease zset holds the task at one of ``leases``."""
    args: list[str | int | bytes] = [result, task_id, *leases]
    return Call("write_result", [keys.task_key(queue, task_id), keys.lease_key(queue)], args)


def requeue_call(
    queue: str, held: Sequence[tuple[str, int]], wake_tokens: int = DEFAULT_WAKE_TOKENS
) -> Call:
    """Put (task id, lease score) pairs back at the head of pending."""
    ks = [keys.active_key(queue), keys.lease_key(queue), keys.pending_key(queue)]
    ks.append(keys.wake_key(queue))
    args: list[str | int] = [wake_tokens]
    for task_id, lease in held:
        ks.append(keys.task_key(queue, task_id))
        args += [task_id, lease]
    return Call("requeue", ks, args)


def extend_lease_call(queue: str, held: Sequence[tuple[str, int]], expiry: int) -> Call:
    args: list[str | int] = [expiry]
    for task_id, lease in held:
        args += [task_id, lease]
    return Call("extend_lease", [keys.lease_key(queue)], args)


def parse_ids(reply: Sequence[Any]) -> list[str]:
    return [_s(x) for x in reply]


# --- maintenance ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expired:
    """A task whose lease ended, as the recoverer sees it."""

    queue: str
    task_id: str
    lease: int
    msg: bytes | None  # None: the task hash is gone
    recovered: int


def list_lease_expired_call(queue: str, cutoff: float, limit: int = RECOVER_BATCH) -> Call:
    return Call(
        "list_lease_expired",
        [keys.lease_key(queue), keys.recovered_count_key(queue)],
        [int(cutoff), limit, keys.task_key_prefix(queue)],
    )


def parse_lease_expired(queue: str, reply: Sequence[Any]) -> list[Expired]:
    out = []
    for i in range(0, len(reply), 4):
        msg = bytes(reply[i + 2])
        out.append(
            Expired(queue, _s(reply[i]), int(float(reply[i + 1])), msg or None, int(reply[i + 3]))
        )
    return out


def recover_call(
    item: Expired,
    *,
    mode: str,
    msg: bytes,
    at: int,
    is_failure: bool,
    now: float,
    max_size: int,
    max_age: float,
) -> Call:
    q = item.queue
    ks = [
        keys.task_key(q, item.task_id),
        keys.active_key(q),
        keys.lease_key(q),
        keys.retry_key(q),
        keys.archived_key(q),
        *keys.counter_keys(q, now),
        keys.recovered_count_key(q),
    ]
    args: list[str | int | bytes] = [
        item.task_id,
        item.lease,
        mode,
        msg,
        at,
        int(is_failure),
        stats_expiry(now),
        int(now - max_age),
        max_size,
        keys.task_key_prefix(q),
    ]
    return Call("recover", ks, args)


def forward_call(
    queue: str,
    source: str,
    now: float,
    limit: int = FORWARD_BATCH,
    wake_tokens: int = DEFAULT_WAKE_TOKENS,
) -> Call:
    """Forward due tasks from ``source`` ("scheduled" or "retry")."""
    return Call(
        "forward",
        [
            keys.state_key(queue, source),
            keys.pending_key(queue),
            keys.groups_key(queue),
            keys.wake_key(queue),
        ],
        [
            int(now),
            int(now * 1_000_000_000),
            limit,
            keys.task_key_prefix(queue),
            keys.group_key(queue, ""),
            wake_tokens,
        ],
    )


def delete_expired_completed_call(queue: str, now: float, limit: int = JANITOR_BATCH) -> Call:
    return Call(
        "delete_expired_completed",
        [keys.completed_key(queue)],
        [int(now), keys.task_key_prefix(queue), limit],
    )


def archive_trim_call(queue: str, now: float, max_size: int, max_age: float) -> Call:
    return Call(
        "archive_trim",
        [keys.archived_key(queue)],
        [int(now - max_age), max_size, keys.task_key_prefix(queue)],
    )


# --- heartbeat ------------------------------------------------------------------


def worker_info_sync_call(
    workers_key: str,
    pids_key: str,
    pid: int,
    started: Sequence[tuple[str, bytes]],
    finished: Sequence[str],
    ttl: int,
) -> Call:
    args: list[str | int | bytes] = [ttl, len(started), pid]
    for task_id, info in started:
        args += [task_id, info]
    args += list(finished)
    return Call("worker_info_sync", [workers_key, pids_key], args)


def write_server_info_call(
    server_key: str, workers_key: str, info: bytes, ttl: int, now: float
) -> Call:
    return Call(
        "write_server_info",
        [server_key, workers_key, keys.ALL_SERVERS, keys.ALL_WORKERS],
        [ttl, info, int(now) + ttl],
    )
