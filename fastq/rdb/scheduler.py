"""The periodic-task scheduler's Redis calls: claim-and-enqueue a tick, history, entries.

``fire_call`` is the one write that matters: it claims a tick of an entry and
enqueues that tick's task in one script, so any number of schedulers can attempt
the same tick and exactly one enqueues it. The rest mirrors Asynq's scheduler
(``WriteSchedulerEntries``, ``ClearSchedulerEntries``,
``RecordSchedulerEnqueueEvent``) so Asynq's tools list fastq's entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastq import keys
from fastq.rdb.conn import ArgT, Call, SyncConn
from fastq.rdb.plan import Cmd, Plan, ok, run_sync
from fastq.task import Prepared, TaskState

# Results of fire_call.
FIRED = 1
ALREADY_FIRED = 0
TASK_EXISTS = -1
DUPLICATE = -2

MAX_HISTORY = 1000  # Asynq's maxEvents per entry


def fire_call(p: Prepared, entry_id: str, tick: int, tick_ttl: int, wake_tokens: int) -> Call:
    """Claim ``tick`` of entry ``entry_id`` and enqueue the prepared task (see the
    script's header for the replies: FIRED, ALREADY_FIRED, TASK_EXISTS, DUPLICATE)."""
    q = p.queue
    msg = p.msg
    task_key = keys.task_key(q, msg.id)
    if p.state is TaskState.PENDING:
        where, extra, mode, score = keys.pending_key(q), keys.wake_key(q), "pending", p.now_ns
    elif p.state is TaskState.SCHEDULED:
        where = keys.scheduled_key(q)
        extra, mode, score = where, "scheduled", int(p.process_at)
    else:
        where, extra = keys.group_key(q, msg.group_key), keys.groups_key(q)
        mode, score = "aggregating", p.now_ns // 1_000_000_000
    unique_key = msg.unique_key if p.unique_ttl else task_key
    args: list[ArgT] = [
        tick,
        p.encoded,
        msg.id,
        mode,
        score,
        p.unique_ttl,
        msg.group_key,
        wake_tokens,
        tick_ttl,
    ]
    return Call(
        "scheduler_fire",
        [keys.scheduler_tick_key(q, entry_id), task_key, where, extra, unique_key],
        args,
    )


def history_call(entry_id: str, enqueued_at: int, event: bytes) -> Call:
    """Record one enqueue event, keeping the newest ``MAX_HISTORY``."""
    return Call(
        "scheduler_history",
        [keys.scheduler_history_key(entry_id)],
        [enqueued_at, event, MAX_HISTORY],
    )


def entries_call(scheduler_id: str, entries: Sequence[bytes], ttl: int, now: float) -> Call:
    """Publish this scheduler's encoded SchedulerEntry messages for ``ttl`` seconds."""
    return Call(
        "scheduler_entries",
        [keys.scheduler_entries_key(scheduler_id), keys.ALL_SCHEDULERS],
        [ttl, int(now) + ttl, *entries],
    )


def clear_call(scheduler_id: str) -> Call:
    """Remove this scheduler's entries (it is stopping)."""
    return Call(
        "scheduler_clear", [keys.scheduler_entries_key(scheduler_id), keys.ALL_SCHEDULERS], []
    )


def _last_ticks(tick_keys: Sequence[str]) -> Plan[list[int]]:
    replies = yield [Cmd(("GET", k)) for k in tick_keys]
    return [int(ok(v)) if v is not None else 0 for v in replies]


def last_ticks(conn: SyncConn, targets: Sequence[tuple[str, str]]) -> list[int]:
    """The last enqueued tick (0: never) of each (queue, entry id), one round trip."""
    if not targets:
        return []
    return run_sync(conn, _last_ticks([keys.scheduler_tick_key(q, e) for q, e in targets]))


def parse_fire(reply: Any) -> int:
    """The fire script's result code (an error reply is raised by the caller)."""
    return int(reply)
