"""Group aggregation's Redis calls, on Asynq's keys and with Asynq's semantics.

The check, read and reclaim follow Asynq's ``AggregationCheck``,
``ReadAggregationSet`` and ``ReclaimStaleAggregationSets``, so a Go server and a
fastq worker can aggregate the same queues. The commit differs on purpose: it
enqueues the aggregated task and deletes the set in one script (Asynq does it in two
steps and aggregates a set twice if it dies between them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from fastq import keys
from fastq.rdb.conn import Call, SyncConn
from fastq.rdb.plan import Cmd, Plan, ok, run_sync
from fastq.task import Prepared, TaskState

AGGREGATION_TIMEOUT = 120  # seconds; Asynq's aggregationTimeout (the set's deadline)

COMMITTED = 1
SET_GONE = 0
TASK_EXISTS = -1


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _list_groups(queues: Sequence[str]) -> Plan[dict[str, list[str]]]:
    replies = yield [Cmd(("SMEMBERS", keys.groups_key(q))) for q in queues]
    return {q: sorted(_s(g) for g in ok(r)) for q, r in zip(queues, replies, strict=True)}


def list_groups(conn: SyncConn, queues: Sequence[str]) -> dict[str, list[str]]:
    """Queue -> names in its ``groups`` set, one round trip."""
    return run_sync(conn, _list_groups(queues)) if queues else {}


def check_call(
    queue: str,
    group: str,
    set_id: str,
    *,
    now: int,
    grace_period: int,
    max_delay: int,
    max_size: int,
) -> Call:
    """Asynq's AggregationCheck: reply 1 when set ``set_id`` was created."""
    return Call(
        "aggregation_check",
        [
            keys.group_key(queue, group),
            keys.aggregation_set_key(queue, group, set_id),
            keys.all_aggregation_sets_key(queue),
            keys.groups_key(queue),
        ],
        [max_size, max_delay, grace_period, now + AGGREGATION_TIMEOUT, now, group],
    )


class SetMember(NamedTuple):
    task_id: str
    msg: bytes | None  # None: the task hash is gone


def read_set(conn: SyncConn, queue: str, group: str, set_id: str) -> list[SetMember] | None:
    """The members of a set in score order; None when the set is no longer listed."""
    reply = conn.call(
        Call(
            "aggregation_read",
            [keys.aggregation_set_key(queue, group, set_id), keys.all_aggregation_sets_key(queue)],
            [keys.task_key_prefix(queue)],
        )
    )
    if reply[0] is None:
        return None
    return [
        SetMember(_s(reply[i]), bytes(reply[i + 1]) if reply[i + 1] is not None else None)
        for i in range(1, len(reply), 2)
    ]


def commit_call(p: Prepared, group: str, set_id: str, wake_tokens: int) -> Call:
    """Enqueue the aggregated task ``p`` (pending or scheduled) and drop the set."""
    q = p.queue
    if p.state is TaskState.PENDING:
        where, mode, score = keys.pending_key(q), "pending", p.now_ns
    else:
        where, mode, score = keys.scheduled_key(q), "scheduled", int(p.process_at)
    return Call(
        "aggregation_commit",
        [
            keys.aggregation_set_key(q, group, set_id),
            keys.all_aggregation_sets_key(q),
            keys.task_key(q, p.msg.id),
            where,
            keys.wake_key(q),
        ],
        [p.encoded, p.msg.id, mode, score, wake_tokens, keys.task_key_prefix(q)],
    )


def _stale_sets(queues: Sequence[str], now: int) -> Plan[list[tuple[str, str, str]]]:
    replies = yield [
        Cmd(("ZRANGEBYSCORE", keys.all_aggregation_sets_key(q), "-inf", now)) for q in queues
    ]
    out = []
    for q, reply in zip(queues, replies, strict=True):
        for key in ok(reply):
            parsed = keys.parse_aggregation_set_key(q, _s(key))
            if parsed is not None:  # anything else in the index is not Asynq's
                out.append((q, *parsed))
    return out


def stale_sets(conn: SyncConn, queues: Sequence[str], now: int) -> list[tuple[str, str, str]]:
    """(queue, group, set id) of every aggregation set whose deadline passed."""
    return run_sync(conn, _stale_sets(queues, now)) if queues else []


def reclaim_call(queue: str, group: str, set_id: str, now: int) -> Call:
    """Put a stale set's tasks back into their group (reply: how many; -1 not stale)."""
    return Call(
        "aggregation_reclaim",
        [
            keys.aggregation_set_key(queue, group, set_id),
            keys.group_key(queue, group),
            keys.all_aggregation_sets_key(queue),
            keys.groups_key(queue),
        ],
        [now, group],
    )
