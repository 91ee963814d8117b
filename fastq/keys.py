"""Every Redis key name fastq reads or writes. Nothing else builds a key.

The layout is Asynq's (v0.26): per-queue keys share the hash tag ``{<queue>}`` so
one script can touch them all on Redis Cluster. fastq's own additions live under
``asynq:{<queue>}:x:`` (per queue) and ``fastq:`` (global); Asynq never reads them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

# Global keys (Asynq).
ALL_QUEUES = "asynq:queues"  # SET of queue names
ALL_SERVERS = "asynq:servers"  # ZSET server key -> expiry
ALL_WORKERS = "asynq:workers"  # ZSET workers key -> expiry
ALL_SCHEDULERS = "asynq:schedulers"  # ZSET scheduler key -> expiry
CANCEL_CHANNEL = "asynq:cancel"  # pub/sub: task ids to cancel

# Global keys (fastq extensions).
FASTQ_PREFIX = "fastq:"
SCHEDULER_LEADER = "fastq:scheduler:leader"  # STRING scheduler id, with TTL

TASK_STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")


def queue_prefix(queue: str) -> str:
    return f"asynq:{{{queue}}}:"


def task_key_prefix(queue: str) -> str:
    return f"asynq:{{{queue}}}:t:"


def task_key(queue: str, task_id: str) -> str:
    return f"asynq:{{{queue}}}:t:{task_id}"


def pending_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:pending"


def active_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:active"


def lease_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:lease"


def scheduled_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:scheduled"


def retry_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:retry"


def archived_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:archived"


def completed_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:completed"


def paused_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:paused"


def processed_total_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:processed"


def failed_total_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:failed"


def _day(t: datetime | float) -> str:
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, tz=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d")


def processed_key(queue: str, t: datetime | float) -> str:
    """Daily processed counter; the day is taken in UTC."""
    return f"asynq:{{{queue}}}:processed:{_day(t)}"


def failed_key(queue: str, t: datetime | float) -> str:
    """Daily failed counter; the day is taken in UTC."""
    return f"asynq:{{{queue}}}:failed:{_day(t)}"


def counter_keys(queue: str, t: datetime | float) -> list[str]:
    """The daily processed and failed counters of the day of ``t``, then the totals."""
    daily = [processed_key(queue, t), failed_key(queue, t)]
    return [*daily, processed_total_key(queue), failed_total_key(queue)]


def unique_key(queue: str, task_type: str, payload: bytes | None) -> str:
    """Uniqueness lock key, as Asynq's ``base.UniqueKey``: a nil payload (None) has no
    checksum, any other payload (``b""`` included) has the md5 hex of its bytes."""
    if payload is None:
        return f"asynq:{{{queue}}}:unique:{task_type}:"
    return f"asynq:{{{queue}}}:unique:{task_type}:{hashlib.md5(payload).hexdigest()}"


def groups_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:groups"


def group_key(queue: str, group: str) -> str:
    return f"asynq:{{{queue}}}:g:{group}"


def aggregation_set_key(queue: str, group: str, set_id: str) -> str:
    return f"asynq:{{{queue}}}:g:{group}:{set_id}"


def all_aggregation_sets_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:aggregation_sets"


def parse_aggregation_set_key(queue: str, key: str) -> tuple[str, str] | None:
    """(group, set id) of an ``aggregation_set_key(queue, ...)``; None if ``key`` is not one.

    The set id (a uuid) holds no colon, so a group name with colons still parses."""
    prefix = f"asynq:{{{queue}}}:g:"
    group, sep, set_id = key[len(prefix) :].rpartition(":")
    if not key.startswith(prefix) or not sep or not set_id:
        return None
    return group, set_id


def server_info_key(host: str, pid: int, server_id: str) -> str:
    return f"asynq:servers:{{{host}:{pid}:{server_id}}}"


def workers_key(host: str, pid: int, server_id: str) -> str:
    return f"asynq:workers:{{{host}:{pid}:{server_id}}}"


def worker_pids_key(host: str, pid: int, server_id: str) -> str:
    """HASH task id -> pid of the worker process running it (fastq extension).

    Kept next to the server's workers hash (same hash tag) so the supervisor can
    drop a dead child's WorkerInfo entries the moment it reaps the child.
    """
    return f"fastq:workers:{{{host}:{pid}:{server_id}}}:pids"


def scheduler_entries_key(scheduler_id: str) -> str:
    return f"asynq:schedulers:{{{scheduler_id}}}"


def scheduler_history_key(entry_id: str) -> str:
    return f"asynq:scheduler_history:{entry_id}"


# fastq extension keys (additive; Asynq ignores them).


def wake_key(queue: str) -> str:
    """LIST that fastq producers push a token to; idle fastq workers block on it."""
    return f"asynq:{{{queue}}}:x:wake"


def recovered_count_key(queue: str) -> str:
    """HASH task id -> times the task was recovered after its lease expired."""
    return f"asynq:{{{queue}}}:x:recovered"


def scheduler_tick_key(queue: str, entry_id: str) -> str:
    """STRING: the last tick (unix seconds) of a periodic entry that any scheduler
    enqueued. In the queue's hash slot, so one script claims the tick and enqueues."""
    return f"asynq:{{{queue}}}:x:tick:{entry_id}"


def state_key(queue: str, state: str) -> str:
    """The key that indexes tasks of one state (pending/active lists, the zsets)."""
    builders = {
        "pending": pending_key,
        "active": active_key,
        "scheduled": scheduled_key,
        "retry": retry_key,
        "archived": archived_key,
        "completed": completed_key,
    }
    if state not in builders:
        raise ValueError(f"state {state!r} has no index key")
    return builders[state](queue)
