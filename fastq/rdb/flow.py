"""Redis calls of flow control (key slots, stored queue caps) and of waiting for results.

Queue caps and queue rate limits ride on the dequeue script (``worker.dequeue_call``);
what is here runs only for capped or keyed tasks, or for a caller that waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from fastq import keys
from fastq.options import validate_queue_name
from fastq.rdb.conn import Call
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.rdb.plan import Cmd, Plan, ok


class KeySlot(NamedTuple):
    """A fetched task that needs a slot of its concurrency key."""

    task_id: str
    flow_key: str
    cap: int
    lease: int


class SlotCode:
    """Per-task codes of ``flow_acquire``."""

    TAKEN = 1
    PARKED = 2
    LEASE_LOST = 0
    NOT_ACTIVE = -1


def flow_acquire_call(queue: str, items: Sequence[KeySlot], now: float, park_until: int) -> Call:
    """Take a key slot for each item or park the task (see ``lua/flow_acquire.lua``)."""
    ks = [keys.active_key(queue), keys.lease_key(queue), keys.scheduled_key(queue)]
    args: list[str | int] = [int(now), park_until]
    for it in items:
        ks += [
            keys.task_key(queue, it.task_id),
            keys.key_slots_key(queue, it.flow_key),
            keys.key_waiters_key(queue, it.flow_key),
        ]
        args += [it.task_id, it.cap, it.lease]
    return Call("flow_acquire", ks, args)


def flow_release_call(
    queue: str,
    held: Sequence[tuple[str, str]],
    freed: int,
    now: float,
    wake_tokens: int = DEFAULT_WAKE_TOKENS,
) -> Call:
    """Free the key slots ``held`` ((task id, key) pairs) and wake a parked task for
    each, plus ``freed`` wake tokens for queue-cap slots."""
    ks = [keys.scheduled_key(queue), keys.pending_key(queue), keys.wake_key(queue)]
    args: list[str | int] = [wake_tokens, keys.task_key_prefix(queue), int(now * 1e9), freed]
    for task_id, flow_key in held:
        ks += [keys.key_slots_key(queue, flow_key), keys.key_waiters_key(queue, flow_key)]
        args.append(task_id)
    return Call("flow_release", ks, args)


# --- stored queue caps --------------------------------------------------------


def queue_limits() -> Plan[dict[str, int]]:
    """The queue caps stored in Redis (set at run time), by queue."""
    (reply,) = yield [Cmd(("HGETALL", keys.QUEUE_LIMITS))]
    out: dict[str, int] = {}
    for name, value in (ok(reply) or {}).items():
        try:
            out[_s(name)] = int(value)
        except ValueError:
            continue  # hostile or corrupt entry: ignored, the worker's own cap applies
    return out


def set_queue_limit(queue: str, cap: int | None) -> Plan[None]:
    """Store ``cap`` for ``queue`` (None: clear it, the workers' own caps apply)."""
    validate_queue_name(queue)
    if cap is None:
        (reply,) = yield [Cmd(("HDEL", keys.QUEUE_LIMITS, queue))]
    else:
        (reply,) = yield [Cmd(("HSET", keys.QUEUE_LIMITS, queue, int(cap)))]
    ok(reply)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
