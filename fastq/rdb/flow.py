"""Redis calls of flow control (key slots, stored queue caps) and of waiting for results.

Queue caps and queue rate limits ride on the dequeue script (``worker.dequeue_call``);
what is here runs only for capped or keyed tasks, or for a caller that waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from fastq import keys
from fastq.config import RedisConfig
from fastq.options import validate_queue_name
from fastq.rdb.conn import Call, translate_errors
from fastq.rdb.enqueue import DEFAULT_WAKE_TOKENS
from fastq.rdb.plan import Cmd, Plan, ok
from fastq.rdb.topology import async_client, sync_client


class Admit(NamedTuple):
    """A fetched task whose type has a per-key cap and/or a per-type rate limit."""

    task_id: str
    task_type: str
    lease: int
    flow_key: str = ""  # the concurrency key ("": no key cap)
    cap: int = 0
    interval_ms: int = 0  # GCRA interval of the type's rate limit (0: none)
    burst: int = 1


class AdmitCode:
    """Per-task codes of ``flow_acquire``."""

    ADMITTED = 1
    PARKED_FOR_SLOT = 2
    PARKED_FOR_RATE = 3
    LEASE_LOST = 0
    NOT_ACTIVE = -1


def flow_acquire_call(queue: str, items: Sequence[Admit], now: float, park_for: int) -> Call:
    """Admit or park each item (see ``lua/flow_acquire.lua``); ``park_for`` is the
    longest a task waits for a key slot (seconds)."""
    ks = [keys.active_key(queue), keys.lease_key(queue), keys.scheduled_key(queue)]
    args: list[str | int] = [int(now * 1000), park_for]
    for it in items:
        tk = keys.task_key(queue, it.task_id)
        ks.append(tk)
        if it.cap:
            ks += [keys.key_slots_key(queue, it.flow_key), keys.key_waiters_key(queue, it.flow_key)]
        else:
            ks += [tk, tk]
        ks.append(keys.rate_key(queue, it.task_type) if it.interval_ms else tk)
        args += [it.task_id, it.lease, it.cap, it.interval_ms, it.burst]
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
            cap = int(value)
        except ValueError:
            continue  # hostile or corrupt entry: ignored, the worker's own cap applies
        if cap >= 1:
            out[_s(name)] = cap
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


# --- waiting for results ----------------------------------------------------------


def notify_done_call(queue: str, done: Sequence[tuple[str, int]]) -> Call:
    """Wake waiters of (task id, retention seconds) pairs now completed or archived."""
    ks: list[str] = []
    args: list[str | int] = []
    for task_id, ttl in done:
        ks += [keys.task_key(queue, task_id), keys.done_key(queue, task_id)]
        args.append(max(1, ttl))
    return Call("notify_done", ks, args)


FINAL_STATES = ("completed", "archived")


class TaskRecord(NamedTuple):
    """A task hash as ``wait`` reads it (None fields: the hash or field is missing)."""

    state: str | None
    msg: bytes | None
    result: bytes | None


class Waiter:
    """Reads a task's state and blocks on its done list, on a connection without a
    socket timeout (a blocking pop may last as long as the caller's timeout).

    Args:
        config: how to reach Redis.
    """

    def __init__(self, config: RedisConfig) -> None:
        self._redis = sync_client(config, socket_timeout=None)
        self._target = config.redacted_url

    def read(self, queue: str, task_id: str) -> TaskRecord:
        with translate_errors(self._target):
            state, msg, result = self._redis.hmget(
                keys.task_key(queue, task_id), ["state", "msg", "result"]
            )
        return _record(state, msg, result)

    def block(self, queue: str, task_id: str, timeout: float) -> bool:
        """Block until the task's done token comes or ``timeout`` passes; True: it came."""
        with translate_errors(self._target):
            return (
                self._redis.blpop([keys.done_key(queue, task_id)], timeout=max(timeout, 0.01))
                is not None
            )

    def pass_on(self, queue: str, task_id: str, ttl: int) -> None:
        """Put the done token back for the next waiter, lasting ``ttl`` seconds."""
        with translate_errors(self._target):
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(keys.done_key(queue, task_id), "1")
            pipe.expire(keys.done_key(queue, task_id), max(1, ttl))
            pipe.execute()

    def close(self) -> None:
        self._redis.close()


class AsyncWaiter:
    """``Waiter`` for asyncio callers.

    Args:
        config: how to reach Redis.
    """

    def __init__(self, config: RedisConfig) -> None:
        self._redis = async_client(config, socket_timeout=None)
        self._target = config.redacted_url

    async def read(self, queue: str, task_id: str) -> TaskRecord:
        with translate_errors(self._target):
            state, msg, result = await self._redis.hmget(
                keys.task_key(queue, task_id), ["state", "msg", "result"]
            )
        return _record(state, msg, result)

    async def block(self, queue: str, task_id: str, timeout: float) -> bool:
        """Block until the task's done token comes or ``timeout`` passes; True: it came."""
        with translate_errors(self._target):
            got = await self._redis.blpop(
                [keys.done_key(queue, task_id)], timeout=max(timeout, 0.01)
            )
        return got is not None

    async def pass_on(self, queue: str, task_id: str, ttl: int) -> None:
        """Put the done token back for the next waiter, lasting ``ttl`` seconds."""
        with translate_errors(self._target):
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(keys.done_key(queue, task_id), "1")
            pipe.expire(keys.done_key(queue, task_id), max(1, ttl))
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


def _record(state: Any, msg: Any, result: Any) -> TaskRecord:
    return TaskRecord(
        _s(state) if state is not None else None,
        bytes(msg) if msg is not None else None,
        bytes(result) if result is not None else None,
    )
