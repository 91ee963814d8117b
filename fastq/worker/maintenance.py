"""Maintenance loops, once per supervisor: forwarder, recoverer, janitor.

- Forwarder: every ``maintenance_interval``, due tasks move from ``scheduled`` and
  ``retry`` to ``pending`` (or into their group), with a wake-up token for idle
  workers.
- Recoverer: tasks whose lease expired (their worker died) are recovered. Unlike
  Asynq (issue #1015), a crash recovery does not burn a retry: the first
  ``recover_cap`` recoveries of a task put it back in ``retry`` due at once, with
  ``retried`` unchanged and no failure counted. Once a task has been recovered
  ``recover_cap`` times (counted in ``asynq:{q}:x:recovered``, cleared when the
  task finishes) it is treated as Asynq does: retried + 1 with the default backoff,
  or archived when no retries remain, counted as a failure. A task that keeps
  killing its worker therefore ends in the archive instead of looping forever.
- Extras: hooks run on every pass with the connection and the time (the group
  aggregator of ``fastq.scheduler.aggregator`` is one).
- Janitor: every ``janitor_interval``, completed tasks past their retention are
  deleted (with their hashes) and each archive is trimmed to
  ``archive_max_size`` and ``archive_max_age``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from fastq._core import TaskMessage
from fastq.app import IncomingTask, default_retry_delay
from fastq.errors import DecodeError, FastqError
from fastq.rdb import worker as rdb
from fastq.rdb.conn import SyncConn
from fastq.worker.outage import OutageLog
from fastq.worker.settings import WorkerSettings

log = structlog.get_logger("fastq.maintenance")

LEASE_EXPIRED = "asynq: task lease expired"  # Asynq's ErrLeaseExpired text


class _LeaseExpiredError(FastqError):
    """The task's worker stopped renewing its lease."""


@dataclass
class Report:
    """What one maintenance pass did."""

    forwarded: int = 0
    recovered: int = 0
    archived: int = 0
    deleted: int = 0
    trimmed: int = 0


class Maintenance:
    """Forwarder, recoverer and janitor for the settings' queues.

    Args:
        settings: queues, intervals, lease and archive limits, recover_cap.
        clock: unix time source (tests inject one to jump past leases).
        extras: ``f(conn, now)`` hooks run on every pass (e.g. group aggregation).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.time,
        extras: Sequence[Callable[[SyncConn, float], object]] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.extras = list(extras)
        self.queues = list(settings.queues)
        self._conn: SyncConn | None = None

    @property
    def conn(self) -> SyncConn:
        # Created on first use, in the thread/process that runs the loops.
        if self._conn is None:
            self._conn = SyncConn(self.settings.redis)
        return self._conn

    def run_once(self, *, janitor: bool = True) -> Report:
        """One pass of every loop (the janitor too unless ``janitor=False``)."""
        report = Report()
        report.forwarded = self.forward()
        report.recovered, report.archived = self.recover()
        if janitor:
            report.deleted, report.trimmed = self.janitor()
        for extra in self.extras:
            extra(self.conn, self.clock())
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """Run the loops until ``stop`` is set; Redis errors are logged, then retried."""
        next_janitor = 0.0
        outage = OutageLog()
        errors = OutageLog(message="maintenance pass crashed; retrying")
        while not stop.is_set():
            try:
                now = time.monotonic()
                run_janitor = now >= next_janitor
                if run_janitor:
                    next_janitor = now + self.settings.janitor_interval
                self.run_once(janitor=run_janitor)
                outage.ok()
            except FastqError as exc:
                outage.failed("maintenance", exc)
            except Exception as exc:  # a bad key must not end maintenance
                errors.failed("maintenance", exc)
            stop.wait(self.settings.maintenance_interval)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def forward(self) -> int:
        """Move every due scheduled/retry task; returns how many moved."""
        total = 0
        now = self.clock()
        todo = [(q, src) for q in self.queues for src in ("scheduled", "retry")]
        while todo:
            replies = self.conn.call_many([rdb.forward_call(q, src, now) for q, src in todo])
            again = []
            for item, reply in zip(todo, replies, strict=True):
                if isinstance(reply, BaseException):
                    log.error("forward failed", queue=item[0], source=item[1], error=str(reply))
                    continue
                total += int(reply)
                if int(reply) >= rdb.FORWARD_BATCH:
                    again.append(item)
            todo = again
        return total

    def recover(self) -> tuple[int, int]:
        """Recover lease-expired tasks; returns (sent to retry, archived or dropped)."""
        now = self.clock()
        replies = self.conn.call_many([rdb.list_lease_expired_call(q, now) for q in self.queues])
        calls = []
        retried = archived = 0
        for q, reply in zip(self.queues, replies, strict=True):
            if isinstance(reply, BaseException):
                log.error("listing expired leases failed", queue=q, error=str(reply))
                continue
            for item in rdb.parse_lease_expired(q, reply):
                call, mode = self._recover_call(item, now)
                calls.append(call)
                if mode == "retry":
                    retried += 1
                else:
                    archived += 1
        if calls:
            for reply in self.conn.call_many(calls):
                if isinstance(reply, BaseException):
                    log.error("recovering a task failed", error=str(reply))
            log.info("recovered lease-expired tasks", retry=retried, archived=archived)
        return retried, archived

    def _recover_call(self, item: rdb.Expired, now: float) -> tuple[rdb.Call, str]:
        s = self.settings

        def call(mode: str, msg: bytes, at: float, failure: bool) -> tuple[rdb.Call, str]:
            c = rdb.recover_call(
                item,
                mode=mode,
                msg=msg,
                at=int(at),
                is_failure=failure,
                now=now,
                max_size=s.archive_max_size,
                max_age=s.archive_max_age,
            )
            return c, mode

        if item.msg is None:
            log.warning("lease expired on a task without a hash", task_id=item.task_id)
            return call("drop", b"", now, False)
        try:
            msg = TaskMessage.decode(item.msg)
        except DecodeError as exc:
            log.warning(
                "archiving undecodable lease-expired task", task_id=item.task_id, error=str(exc)
            )
            return call("archive", item.msg, now, True)
        msg.error_msg = LEASE_EXPIRED
        msg.last_failed_at = int(now)
        if item.recovered < s.recover_cap:
            return call("retry", msg.encode(), now, False)
        if msg.retried >= msg.retry:
            return call("archive", msg.encode(), now, True)
        err = _LeaseExpiredError(LEASE_EXPIRED)
        delay = default_retry_delay(msg.retried, err, IncomingTask(msg))
        msg.retried += 1
        return call("retry", msg.encode(), now + delay, True)

    def janitor(self) -> tuple[int, int]:
        """Delete expired completed tasks and trim archives; returns (deleted, trimmed)."""
        now = self.clock()
        s = self.settings
        calls = [rdb.delete_expired_completed_call(q, now) for q in self.queues]
        calls += [
            rdb.archive_trim_call(q, now, s.archive_max_size, s.archive_max_age)
            for q in self.queues
        ]
        deleted = trimmed = 0
        n = len(self.queues)
        for i, reply in enumerate(self.conn.call_many(calls)):
            if isinstance(reply, BaseException):
                log.error("janitor call failed", error=str(reply))
            elif i < n:
                deleted += int(reply)
            else:
                trimmed += int(reply)
        return deleted, trimmed
