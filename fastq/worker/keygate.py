"""Per-key concurrency caps: a fetched task whose handler declares a concurrency key
takes a slot of its key before it starts, or is parked until one frees.

The slot table of a key is a ZSET under the queue's extension prefix; a holder counts
while the queue's lease zset scores it in the future, so slots are leases: extended
with the task's lease, released at acknowledgement (``flow_release``), and back on
their own when a crashed worker's leases expire. A parked task sits in ``scheduled``
with its message untouched (no retry used) and in the key's waiters; a released slot
moves the oldest waiter to the head of pending, and the forwarder brings it back
anyway after one lease duration should the release be lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import structlog

from fastq.app import App, IncomingTask, Route
from fastq.errors import UnknownTaskTypeError
from fastq.rdb import flow as rdb_flow
from fastq.rdb.conn import AsyncConn
from fastq.worker.executor import Running, describe

log = structlog.get_logger("fastq.worker")

MAX_KEY_CHARS = 200  # longer keys are replaced by their sha1 in key names


def key_text(key: object) -> str:
    """The concurrency key as used in key names: ``str(key)``, hashed when long."""
    text = str(key)
    if len(text) > MAX_KEY_CHARS:
        return "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


class KeyGate:
    """Takes key slots for fetched runs, one script call per queue.

    Args:
        app: the handler registry (which types declare a concurrency key).
        conn: the process's script connection.
        park_for: seconds a parked task waits at most before the forwarder brings it
            back without a release (the lease duration).
        clock: unix time source.
    """

    def __init__(
        self, app: App, conn: AsyncConn, park_for: float, clock: Callable[[], float]
    ) -> None:
        self.app = app
        self.conn = conn
        self.park_for = park_for
        self.clock = clock

    def route(self, run: Running) -> Route | None:
        """The run's route if its type declares a concurrency key, else None."""
        try:
            route = self.app.route(run.msg.type)
        except UnknownTaskTypeError:
            return None
        return route if route.key_fn is not None else None

    async def acquire(
        self, queue: str, runs: Sequence[tuple[Running, Route]], leases: dict[str, int]
    ) -> tuple[list[Running], list[tuple[Running, BaseException]]]:
        """Take a slot for each run: returns the runs that may start and the runs
        whose key function failed (to be failed as the handler would). Parked runs
        and runs whose lease was lost are in neither list.

        Args:
            queue: the runs' queue.
            runs: the runs and their routes (with ``key_fn``).
            leases: task id -> the lease score the run holds.
        """
        failed: list[tuple[Running, BaseException]] = []
        items: list[rdb_flow.KeySlot] = []
        keyed: list[Running] = []
        for run, route in runs:
            try:
                run.flow_key = key_text(route.key_fn(IncomingTask(run.msg)))  # type: ignore[misc]
            except Exception as exc:
                log.warning("concurrency key failed", task_id=run.task_id, error=describe(exc))
                failed.append((run, exc))
                continue
            items.append(
                rdb_flow.KeySlot(run.task_id, run.flow_key, route.concurrency, leases[run.task_id])
            )
            keyed.append(run)
        if not items:
            return [], failed
        now = self.clock()
        call = rdb_flow.flow_acquire_call(queue, items, now, int(now + self.park_for))
        codes = await self.conn.call(call)
        start = [run for run, code in zip(keyed, codes, strict=True) if code == 1]
        return start, failed
