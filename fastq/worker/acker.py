"""Turns finished tasks into acknowledgement calls, flushed in one round trip.

Successes of one queue share one ``ack_success`` script call; failures each get a
``retry`` or ``archive`` call; all of them, plus lease extensions and the
workers-hash sync, go out in one pipeline (results were written when the handler
wrote them, see ``results.py``). Every script checks that this worker
still holds the task's lease and writes nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from fastq.app import App, IncomingTask
from fastq.errors import RevokeTask, SkipRetry
from fastq.rdb import worker as rdb
from fastq.rdb.conn import Call
from fastq.worker.executor import Running, describe
from fastq.worker.failures import FailureLog, format_traceback
from fastq.worker.leases import Leases
from fastq.worker.settings import WorkerSettings

log = structlog.get_logger("fastq.worker")

_SUCCESS_CHUNK = 256


@dataclass(slots=True)
class _Pending:
    task_id: str
    queue: str
    kind: str  # "success", "retry", "archive"
    lease: int  # the lease score the call was made with


class Acker:
    """Collects outcomes; ``build`` drains them into calls, ``apply`` reads the replies."""

    def __init__(
        self, app: App, settings: WorkerSettings, leases: Leases, clock: Callable[[], float]
    ) -> None:
        self.app = app
        self.settings = settings
        self.leases = leases
        self.clock = clock
        self._successes: dict[str, list[rdb.Success]] = {}
        # Failure calls are made at flush time, with the lease as Redis holds it then.
        self._calls: list[tuple[Callable[[int], Call], _Pending]] = []
        self.acked = 0  # tasks acknowledged (any outcome), for max_tasks_per_child
        self.failure_log = FailureLog()

    def __len__(self) -> int:
        return sum(len(v) for v in self._successes.values()) + len(self._calls)

    def _lease(self, r: Running) -> int | None:
        score = self.leases.held(r.task_id)
        if score is None:
            log.warning("lease lost; result not acknowledged", task_id=r.task_id, queue=r.queue)
            self.leases.remove(r.task_id)
        return score

    def success(self, r: Running) -> None:
        now = self.clock()
        lease = self._lease(r)
        if lease is None:
            return
        msg = r.msg
        if msg.retention > 0:
            kept = msg.copy()
            kept.completed_at = int(now)
            item = rdb.Success(
                r.task_id, lease, msg.unique_key, int(now) + msg.retention, kept.encode()
            )
        else:
            item = rdb.Success(r.task_id, lease, msg.unique_key)
        self._successes.setdefault(r.queue, []).append(item)

    def failure(self, r: Running, exc: BaseException) -> None:
        now = self.clock()
        lease = self._lease(r)
        if lease is None:
            return
        # Asynq v0.26 order: the error handler sees every error; then revoke,
        # archive (retries used up or SkipRetry), else retry (counted as a failure
        # only if is_failure says so).
        task = IncomingTask(r.msg)
        if self.app.error_handler is not None:
            try:
                self.app.error_handler(task, exc)
            except Exception as err:
                log.error("error handler failed", error=describe(err), task_id=r.task_id)
        if isinstance(exc, RevokeTask):
            self._successes.setdefault(r.queue, []).append(
                rdb.Success(r.task_id, lease, r.msg.unique_key)
            )
            return
        msg = r.msg.copy()
        msg.error_msg = describe(exc)
        msg.last_failed_at = int(now)
        trace = format_traceback(exc)
        archive = isinstance(exc, SkipRetry) or r.msg.retried >= r.msg.retry
        self.failure_log.failed(r.msg, r.queue, exc, archived=archive)
        if archive:
            self._archive(r.queue, r.task_id, msg.encode(), lease, now, trace)
            return
        failure = self._is_failure(exc, r.task_id)
        try:
            delay = self.app.retry_delay(r.msg.retried, exc, task)
        except Exception as err:
            log.error("retry_delay_func failed", error=describe(err), task_id=r.task_id)
            delay = 0.0
        if failure:
            msg.retried += 1
        data, queue, task_id = msg.encode(), r.queue, r.task_id

        def retry(held: int) -> Call:
            return rdb.retry_call(
                queue,
                task_id,
                data,
                int(now + delay),
                is_failure=failure,
                lease=held,
                now=now,
                traceback=trace,
            )

        self._calls.append((retry, _Pending(task_id, queue, "retry", lease)))

    def archive_raw(self, queue: str, task_id: str, raw: bytes, lease: int, reason: str) -> None:
        """Archive a task whose message cannot be decoded, keeping its bytes as they are."""
        log.warning("archiving undecodable task", task_id=task_id, queue=queue, reason=reason)
        self._archive(queue, task_id, raw, lease, self.clock())

    def _archive(
        self, queue: str, task_id: str, msg: bytes, lease: int, now: float, trace: str = ""
    ) -> None:
        size, age = self.settings.archive_max_size, self.settings.archive_max_age

        def archive(held: int) -> Call:
            return rdb.archive_call(
                queue,
                task_id,
                msg,
                lease=held,
                now=now,
                max_size=size,
                max_age=age,
                traceback=trace,
            )

        self._calls.append((archive, _Pending(task_id, queue, "archive", lease)))

    def _is_failure(self, exc: BaseException, task_id: str) -> bool:
        try:
            return bool(self.app.is_failure(exc))
        except Exception as err:
            log.error("is_failure hook failed", error=describe(err), task_id=task_id)
            return True

    def build(self) -> tuple[list[Call], list[list[_Pending]]]:
        """Drain what was collected into calls."""
        calls: list[Call] = []
        meta: list[list[_Pending]] = []
        now = self.clock()
        renewed = self.leases.renewed
        for queue, items in self._successes.items():
            if self.leases.previous:  # an extension was read since some outcomes were recorded
                items = [it._replace(lease=renewed(it.task_id, it.lease)) for it in items]
            for i in range(0, len(items), _SUCCESS_CHUNK):
                chunk = items[i : i + _SUCCESS_CHUNK]
                calls.append(rdb.ack_success_call(queue, chunk, now))
                meta.append([_Pending(it.task_id, queue, "success", it.lease) for it in chunk])
        for make, pending in self._calls:
            pending.lease = renewed(pending.task_id, pending.lease)
            calls.append(make(pending.lease))
            meta.append([pending])
        self._successes = {}
        self._calls = []
        return calls, meta

    def apply(self, meta: list[list[_Pending]], replies: list[Any]) -> int:
        """Read the replies; returns how many tasks were acknowledged."""
        acked = 0
        for pendings, reply in zip(meta, replies, strict=True):
            if isinstance(reply, BaseException):
                log.error("acknowledgement failed", error=str(reply), task_id=pendings[0].task_id)
                for p in pendings:
                    self.leases.release(p.task_id, p.lease)
                continue
            codes = reply if isinstance(reply, list) else [reply]
            for p, code in zip(pendings, codes, strict=True):
                self.leases.release(p.task_id, p.lease)
                if code == rdb.Ack.ACKED:
                    acked += 1
                else:
                    reason = "lease lost" if code == rdb.Ack.LEASE_LOST else "not active"
                    log.warning(
                        "task not acknowledged",
                        reason=reason,
                        task_id=p.task_id,
                        queue=p.queue,
                        outcome=p.kind,
                    )
        self.acked += acked
        return acked
