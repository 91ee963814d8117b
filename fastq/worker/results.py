"""``ctx.write_result``: the result goes to the task hash at once, as Asynq's
``ResultWriter.Write`` does, never after this worker lost the task.

A handler calls it from its own thread (``def``), from the event loop (``async
def``), or through ``write_result_async`` from a helper thread, so the writer uses
its own synchronous connection (redis-py's pool is thread-safe). The script checks
the lease atomically: a run whose lease was recovered, or that was superseded by a
new run of the same task, gets ``LeaseLostError`` and writes nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping

from fastq.config import RedisConfig
from fastq.errors import LeaseLostError
from fastq.rdb import worker as rdb
from fastq.rdb.conn import SyncConn
from fastq.worker.executor import Interrupt, Running
from fastq.worker.leases import Leases


class ResultWriter:
    """Writes handlers' results for one worker process.

    Args:
        config: how to reach Redis.
        leases: the process's lease table (which lease a run holds now).
        running: task id -> the run that owns the task (only that run may write).
    """

    def __init__(self, config: RedisConfig, leases: Leases, running: Mapping[str, Running]) -> None:
        self._config = config
        self._leases = leases
        self._running = running
        self._conn: SyncConn | None = None
        self._lock = threading.Lock()

    def attach(self, run: Running) -> None:
        """Let ``run``'s handler write through this writer."""
        run.ctx.result_writer = functools.partial(self.write, run)

    def write(self, run: Running, data: bytes) -> int:
        """Write ``data`` as ``run``'s result; returns its length."""
        if self._running.get(run.task_id) is not run or run.ctx.cancel_reason in (
            Interrupt.LEASE_GONE,
            Interrupt.SHUTDOWN,
        ):
            raise LeaseLostError(run.task_id)
        scores = self._leases.scores_in_redis(run.task_id)
        if not scores:
            raise LeaseLostError(run.task_id)
        reply = self._connection().call(rdb.write_result_call(run.queue, run.task_id, data, scores))
        if int(reply) != 1:
            raise LeaseLostError(run.task_id)
        return len(data)

    def _connection(self) -> SyncConn:
        with self._lock:  # handlers of several threads may be first at once
            if self._conn is None:
                self._conn = SyncConn(self._config)
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
