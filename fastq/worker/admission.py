"""Admission of fetched tasks whose handler declares a per-key concurrency cap or a
per-type rate limit: one ``flow_acquire`` call per queue admits each, or parks it.

Key slots: the slot table of a key is a ZSET under the queue's extension prefix; a
holder counts while the queue's lease zset scores it in the future, so slots are
leases: extended with the task's lease, released at acknowledgement
(``flow_release``), and back on their own when a crashed worker's leases expire. A
task parked for a slot sits in ``scheduled`` with its message untouched (no retry
used) and in the key's waiters; a released slot moves the oldest waiter to the head
of pending, and the forwarder brings it back anyway after one lease duration should
the release be lost.

Per-type rate limits: GCRA state per (queue, type); a task over the limit is parked
in ``scheduled`` until the second its next token is due.
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


class Admission:
    """Admits fetched runs, one script call per queue.

    Args:
        app: the handler registry (which types declare a key cap or a rate limit).
        conn: the process's script connection.
        park_for: seconds a task parked for a key slot waits at most before the
            forwarder brings it back without a release (the lease duration).
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
        """The run's route if its type needs admission, else None."""
        try:
            route = self.app.route(run.msg.type)
        except UnknownTaskTypeError:
            return None
        return route if route.key_fn is not None or route.rate is not None else None

    async def admit(
        self, queue: str, runs: Sequence[tuple[Running, Route]], leases: dict[str, int]
    ) -> tuple[list[Running], list[tuple[Running, BaseException]]]:
        """Admit each run: returns the runs that may start and the runs whose key
        function failed (to be failed as the handler would). Parked runs and runs
        whose lease was lost are in neither list.

        Args:
            queue: the runs' queue.
            runs: the runs and their routes.
            leases: task id -> the lease score the run holds.
        """
        failed: list[tuple[Running, BaseException]] = []
        items: list[rdb_flow.Admit] = []
        admitted: list[Running] = []
        for run, route in runs:
            if route.key_fn is not None:
                try:
                    run.flow_key = key_text(route.key_fn(IncomingTask(run.msg)))
                except Exception as exc:
                    log.warning("concurrency key failed", task_id=run.task_id, error=describe(exc))
                    failed.append((run, exc))
                    continue
            rate = route.rate
            items.append(
                rdb_flow.Admit(
                    run.task_id,
                    run.msg.type,
                    leases[run.task_id],
                    run.flow_key,
                    route.concurrency if run.flow_key else 0,
                    rate.interval_ms if rate else 0,
                    rate.burst if rate else 1,
                )
            )
            admitted.append(run)
        if not items:
            return [], failed
        call = rdb_flow.flow_acquire_call(queue, items, self.clock(), int(self.park_for))
        codes = await self.conn.call(call)
        start = [
            run
            for run, code in zip(admitted, codes, strict=True)
            if code == rdb_flow.AdmitCode.ADMITTED
        ]
        return start, failed
