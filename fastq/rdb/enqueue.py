"""The enqueue family: build the script calls for a prepared task, parse the replies.

The paths are Asynq's (internal/rdb/rdb.go): enqueue, enqueue-unique, schedule,
schedule-unique, add-to-group and add-to-group-unique, one Lua script each, plus
the SADD of the queue name into ``asynq:queues``. Nothing here does I/O: the sync
and async clients hand the calls to their connection and the replies back here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from fastq import keys, scripts
from fastq._core import enqueue_batch_request, enqueue_request
from fastq.errors import BrokerError, DuplicateTaskError, FastqError, TaskIDConflictError
from fastq.rdb.conn import ArgT, Call, broker_error, pack_call
from fastq.task import Prepared, TaskInfo, TaskState, info_from_prepared, infos_from_prepared

# Wake tokens kept per queue: enough to wake that many idle workers at once while
# the list stays tiny when no fastq worker listens (e.g. only Go workers run).
DEFAULT_WAKE_TOKENS = 16

# Plain tasks per enqueue_batch call: large enough to amortize the script call,
# small enough that one call blocks Redis for only a few milliseconds (and well
# under the few thousand values Lua's unpack() accepts in the script).
BATCH_SIZE = 500

# Queue names per SADD call: Lua's unpack() has a stack limit of a few thousand.
_PUBLISH_CHUNK = 1000

_OK, _CONFLICT, _DUPLICATE = 1, 0, -1


def enqueue_call(p: Prepared, wake_tokens: int = DEFAULT_WAKE_TOKENS) -> Call:
    """The one script call that writes ``p`` along its path."""
    q = p.queue
    msg = p.msg
    task_id = msg.id
    task_key = keys.task_key(q, task_id)
    if p.state is TaskState.PENDING:
        if p.unique_ttl:
            return Call(
                "enqueue_unique",
                (msg.unique_key, task_key, keys.pending_key(q), keys.wake_key(q)),
                (p.encoded, task_id, p.now_ns, p.unique_ttl, wake_tokens),
            )
        return Call(
            "enqueue",
            (task_key, keys.pending_key(q), keys.wake_key(q)),
            (p.encoded, task_id, p.now_ns, wake_tokens),
        )
    if p.state is TaskState.SCHEDULED:
        score = int(p.process_at)  # whole unix seconds, as Asynq's processAt.Unix()
        if p.unique_ttl:
            return Call(
                "schedule_unique",
                (msg.unique_key, task_key, keys.scheduled_key(q)),
                (p.encoded, task_id, score, p.unique_ttl),
            )
        return Call("schedule", (task_key, keys.scheduled_key(q)), (p.encoded, task_id, score))
    group = msg.group_key
    now = p.now_ns // 1_000_000_000
    if p.unique_ttl:
        return Call(
            "add_to_group_unique",
            (msg.unique_key, task_key, keys.group_key(q, group), keys.groups_key(q)),
            (p.encoded, task_id, now, group, p.unique_ttl),
        )
    return Call(
        "add_to_group",
        (task_key, keys.group_key(q, group), keys.groups_key(q)),
        (p.encoded, task_id, now, group),
    )


def _bulk(value: str | bytes) -> bytes:
    """One RESP bulk string."""
    raw = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


# Queues whose request pieces a producer keeps (a producer writing to more
# builds the pieces of the others per call).
_MAX_CACHED_QUEUES = 1024


class Requests:
    """The RESP bytes of a producer's plain enqueue requests, built by the compiled
    core around pieces that stay the same: the script heads and, per queue, the
    task-key prefix and the pending and wake keys.

    Args:
        wake_tokens: the cap of each queue's wake list (ARGV of both scripts).
    """

    def __init__(self, wake_tokens: int) -> None:
        self._wake_tokens = wake_tokens
        self._head = b"*10\r\n" + _bulk("EVALSHA") + _bulk(scripts.get("enqueue").sha) + _bulk("3")
        self._tail = _bulk(str(wake_tokens))
        self._batch_sha = scripts.get("enqueue_batch").sha.encode()
        self._queues: dict[str, tuple[bytes, bytes]] = {}

    def _queue(self, queue: str) -> tuple[bytes, bytes]:
        got = self._queues.get(queue)
        if got is None:
            prefix = keys.task_key_prefix(queue).encode()
            got = (prefix, _bulk(keys.pending_key(queue)) + _bulk(keys.wake_key(queue)))
            if len(self._queues) < _MAX_CACHED_QUEUES:
                self._queues[queue] = got
        return got

    def enqueue(self, p: Prepared) -> bytes:
        """``enqueue_call(p)`` as RESP bytes (a plain pending task: no lock, no group)."""
        prefix, queue_keys = self._queue(p.queue)
        return enqueue_request(
            self._head, prefix, queue_keys, p.msg.id, p.encoded, p.now_ns, self._tail
        )

    def enqueue_batch(self, queue: str, batch: Sequence[Prepared]) -> bytes:
        """The ``enqueue_batch`` call of ``plan_many`` for ``batch`` as RESP bytes."""
        prefix, queue_keys = self._queue(queue)
        return enqueue_batch_request(
            self._batch_sha,
            prefix,
            queue_keys,
            [p.msg.id for p in batch],
            [p.encoded for p in batch],
            batch[0].now_ns,
            self._wake_tokens,
        )


def publish_calls(queues: Iterable[str]) -> list[Call]:
    """Calls that add queue names to ``asynq:queues``."""
    names = sorted(set(queues))
    return [
        Call("publish_queues", (keys.ALL_QUEUES,), names[i : i + _PUBLISH_CHUNK])
        for i in range(0, len(names), _PUBLISH_CHUNK)
    ]


def _typed(reply: BaseException, context: str) -> BrokerError:
    """An error reply as fastq's error: OOM and read-only replicas keep their own
    classes, anything else is a BrokerError that says what failed. The reply is
    chained as ``__cause__``, as if raised ``from`` it."""
    typed = broker_error(reply)
    if type(typed) is BrokerError:
        typed = BrokerError(f"{context}: {typed}")
    typed.__cause__ = reply
    return typed


def reply_error(p: Prepared, reply: Any) -> FastqError | None:
    """The typed error an enqueue script's reply stands for, or None on success."""
    if reply == _OK:
        return None
    if reply == _CONFLICT:
        return TaskIDConflictError(p.queue, p.msg.id)
    if reply == _DUPLICATE:
        return DuplicateTaskError(p.queue, p.msg.unique_key)
    if isinstance(reply, BaseException):
        return _typed(reply, f"enqueue of task {p.msg.id!r} failed")
    return BrokerError(f"unexpected reply from the enqueue script: {reply!r}")


def finish_one(p: Prepared, reply: Any) -> TaskInfo:
    """The TaskInfo of an enqueued task, or its typed error raised."""
    err = reply_error(p, reply)
    if err is not None:
        raise err
    return info_from_prepared(p)


def check_published(replies: Sequence[Any]) -> None:
    """Raise if a ``publish_queues`` call failed (the caller then keeps no cache entry)."""
    for reply in replies:
        if isinstance(reply, BaseException):
            raise _typed(reply, f"could not add the queue to {keys.ALL_QUEUES}") from reply


class Plan(NamedTuple):
    """The pipeline for a batch: publish calls first, then the enqueue calls.

    ``covers[j]`` names the tasks (indexes into the prepared list) that enqueue
    call ``j`` writes: one index for a single-task script, a list for a batch.
    """

    calls: list[Call]
    n_publish: int
    covers: list[int | list[int]]


def plan_many(
    prepared: Sequence[Prepared],
    new_queues: Iterable[str],
    wake_tokens: int = DEFAULT_WAKE_TOKENS,
    batch_size: int = BATCH_SIZE,
) -> Plan:
    """Build the calls for many tasks, keeping each queue's pending order.

    Plain pending tasks (no uniqueness lock) go through ``enqueue_batch``, up to
    ``batch_size`` per call and queue, which saves the per-call cost of a script;
    every other task gets its own script call. ``new_queues`` are added to
    ``asynq:queues`` first; ``wake_tokens`` caps each queue's wake list.
    """
    calls = publish_calls(new_queues)
    n_publish = len(calls)
    covers: list[int | list[int]] = []
    batches: dict[str, list[int]] = {}

    def flush(queue: str, idx: list[int]) -> None:
        task_keys = [keys.task_key(queue, prepared[i].msg.id) for i in idx]
        args: list[ArgT] = [prepared[idx[0]].now_ns, wake_tokens]
        for i in idx:
            args.append(prepared[i].encoded)
            args.append(prepared[i].msg.id)
        calls.append(
            Call("enqueue_batch", [keys.pending_key(queue), keys.wake_key(queue), *task_keys], args)
        )
        covers.append(idx)

    for i, p in enumerate(prepared):
        if p.state is TaskState.PENDING and not p.unique_ttl:
            batch = batches.setdefault(p.queue, [])
            batch.append(i)
            if len(batch) >= batch_size:
                flush(p.queue, batch)
                batches[p.queue] = []
        else:
            if p.state is TaskState.PENDING and batches.get(p.queue):
                flush(p.queue, batches[p.queue])  # keep the pending list in input order
                batches[p.queue] = []
            calls.append(enqueue_call(p, wake_tokens))
            covers.append(i)
    for queue, batch in batches.items():
        if batch:
            flush(queue, batch)
    return Plan(calls, n_publish, covers)


def wire_plan(
    prepared: Sequence[Prepared], requests: Requests, wake_tokens: int = DEFAULT_WAKE_TOKENS
) -> tuple[list[bytes], Plan]:
    """``plan_many(prepared, ())`` with each call as RESP bytes (queues already
    published). Plain pending tasks of one queue, a coalesced batch's usual content,
    are written by the compiled core; any other mix is planned and packed call by call.
    """
    queue = prepared[0].queue
    pending = TaskState.PENDING
    for p in prepared:  # a loop, not all(<generator>): one resumed frame less per task
        if p.state is not pending or p.unique_ttl or p.queue != queue:
            break
    else:
        parts: list[bytes] = []
        covers: list[int | list[int]] = []
        for i in range(0, len(prepared), BATCH_SIZE):
            chunk = prepared[i : i + BATCH_SIZE]
            parts.append(requests.enqueue_batch(queue, chunk))
            covers.append(list(range(i, i + len(chunk))))
        return parts, Plan([], 0, covers)
    plan = plan_many(prepared, (), wake_tokens)
    return [pack_call(c) for c in plan.calls], plan


def infos_for(prepared: Sequence[Prepared]) -> list[TaskInfo]:
    """The TaskInfo of every task as if it was enqueued (built while Redis works)."""
    if not prepared:
        return []
    now = datetime.fromtimestamp(prepared[0].now_ns / 1e9, timezone.utc)
    return infos_from_prepared(prepared, now)


def finish_many(
    prepared: Sequence[Prepared],
    plan: Plan,
    replies: Sequence[Any],
    infos: Sequence[TaskInfo] | None = None,
) -> list[TaskInfo | FastqError]:
    """Per task, in input order: its TaskInfo, or the typed error it was refused with.

    ``infos`` are the ones ``infos_for(prepared)`` built ahead, if any.
    Raises ``BrokerError`` if a publish call failed.
    """
    check_published(replies[: plan.n_publish])
    if infos is None or len(infos) != len(prepared):
        infos = infos_for(prepared)
    out: list[TaskInfo | FastqError] = list(infos)
    for cover, reply in zip(plan.covers, replies[plan.n_publish :], strict=True):
        if isinstance(cover, int):
            err = reply_error(prepared[cover], reply)
            if err is not None:
                out[cover] = err
            continue
        if not isinstance(reply, list) or len(reply) != len(cover):
            reply = [reply] * len(cover)  # the whole batch failed (e.g. a Redis error)
        for i, code in zip(cover, reply, strict=True):
            if code != _OK:
                err = reply_error(prepared[i], code)
                if err is not None:
                    out[i] = err
    return out
