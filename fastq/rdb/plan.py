"""Plans: Redis I/O written once for blocking and asyncio callers.

A plan is a generator that yields batches of operations (raw commands or script
calls), receives their replies in order, and finally returns a result. ``run_sync``
and ``run_async`` drive a plan over a ``SyncConn`` or an ``AsyncConn``, one pipelined
round trip per batch; replies that are Redis errors come back in place as exception
instances, so a plan decides whether an error (say WRONGTYPE on a corrupt key) is
fatal (``ok``) or something to report.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, NamedTuple, TypeVar

from fastq.rdb.conn import (
    AsyncConn,
    Call,
    SyncConn,
    _evalsha_args,
    _merge_replies,
    broker_error,
    translate_errors,
)

T = TypeVar("T")


class Cmd(NamedTuple):
    """One raw Redis command, e.g. ``Cmd(("SMEMBERS", "asynq:queues"))``."""

    args: tuple[Any, ...]


Op = Call | Cmd
Plan = Generator[list[Op], list[Any], T]


def _op_args(op: Op) -> tuple[Any, ...]:
    return _evalsha_args(op) if isinstance(op, Call) else op.args


def run_sync(conn: SyncConn, plan: Plan[T]) -> T:
    """Run a plan on a blocking connection: one pipelined round trip per batch."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(_exec_sync(conn, batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(conn: AsyncConn, plan: Plan[T]) -> T:
    """Run a plan on an asyncio connection: one pipelined round trip per batch."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(await _exec_async(conn, batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _exec_sync(conn: SyncConn, batch: Sequence[Op]) -> list[Any]:
    replies: list[Any] = [None] * len(batch)
    todo = list(range(len(batch)))
    for attempt in range(2):
        with translate_errors(conn.target):
            pipe = conn.redis.pipeline(transaction=False)
            for i in todo:
                pipe.execute_command(*_op_args(batch[i]))
            got = pipe.execute(raise_on_error=False)
        todo = _merge_replies(replies, todo, got, retry=attempt == 0)
        if not todo:
            break
        conn.load_scripts()  # Redis restarted or was flushed: only the scripts re-run
    return replies


async def _exec_async(conn: AsyncConn, batch: Sequence[Op]) -> list[Any]:
    replies: list[Any] = [None] * len(batch)
    todo = list(range(len(batch)))
    for attempt in range(2):
        with translate_errors(conn.target):
            pipe = conn.redis.pipeline(transaction=False)
            for i in todo:
                pipe.execute_command(*_op_args(batch[i]))
            got = await pipe.execute(raise_on_error=False)
        todo = _merge_replies(replies, todo, got, retry=attempt == 0)
        if not todo:
            break
        await conn.load_scripts()
    return replies


def ok(reply: Any) -> Any:
    """A reply, or a BrokerError (typed: OOM, read-only, ...) if Redis answered with an error."""
    if isinstance(reply, BaseException):
        raise broker_error(reply) from reply
    return reply
