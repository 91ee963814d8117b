"""Maintenance loops, once per supervisor: forwarder, recoverer, janitor.

- Forwarder: every ``maintenance_interval``, due tasks move from ``scheduled`` and
  ``retry`` to ``pending`` (or into their group), with a wake-up token for idle
  workers.
- Recoverer: tasks whose lease expired more than ``skew_allowance`` seconds ago
  (their worker died; the allowance absorbs clocks that run ahead, as Asynq's
  30 s does) are recovered. Unlike
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
  deleted (with their hashes), batch after batch until a batch comes back short
  or the pass has used ``JANITOR_PASS_BUDGET`` seconds (as Asynq loops), and each
  archive is trimmed to ``archive_max_size`` and ``archive_max_age``.

A Redis that answers but refuses writes (a read-only replica after a failover,
OOM) fails every call of every pass: such refusals are logged like an outage
(once, then at most every few seconds, then once when they stop), and the
reports count only what Redis accepted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from fastq._core import TaskMessage
from fastq.app import IncomingTask, default_retry_delay
from fastq.errors import DecodeError, FastqError
from fastq.rdb import worker as rdb
from fastq.rdb.conn import SyncConn
from fastq.worker.outage import OutageLog
from fastq.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from fastq.app import App

log = structlog.get_logger("fastq.maintenance")

LEASE_EXPIRED = "asynq: task lease expired"  # Asynq's ErrLeaseExpired text
JANITOR_PASS_BUDGET = 2.0  # seconds one janitor pass may spend deleting completed tasks


class _LeaseExpiredError(FastqError):
    """The task's worker stopped renewing its lease."""


@dataclass
class Report:
    """What one maintenance pass did."""

    forwarded: int = 0
    recovered: int = 0  # lease-expired tasks sent back to retry
    archived: int = 0  # lease-expired tasks archived (no retries left, or the recover cap)
    dropped: int = 0  # lease-expired ids whose task hash was gone: taken off active only
    deleted: int = 0
    trimmed: int = 0


class Maintenance:
    """Forwarder, recoverer and janitor for the settings' queues.

    Args:
        settings: queues, intervals, lease and archive limits, recover_cap.
        clock: unix time source (tests inject one to jump past leases).
        timer: monotonic time source bounding a janitor pass (tests inject one).
        extras: ``f(conn, now)`` hooks run on every pass (e.g. group aggregation).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        extras: Sequence[Callable[[SyncConn, float], object]] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.timer = timer
        self.extras = list(extras)
        self.queues = list(settings.queues)
        self._conn: SyncConn | None = None
        self._refused = OutageLog(message="Redis refused maintenance calls; retrying")
        self._refusals = 0  # replies that were errors in the current pass

    @property
    def conn(self) -> SyncConn:
        # Created on first use, in the thread/process that runs the loops.
        if self._conn is None:
            self._conn = SyncConn(self.settings.redis)
        return self._conn

    def run_once(self, *, janitor: bool = True) -> Report:
        """One pass of every loop (the janitor too unless ``janitor=False``)."""
        report = Report()
        self._refusals = 0
        report.forwarded = self.forward()
        report.recovered, report.archived, report.dropped = self.recover()
        if janitor:
            report.deleted, report.trimmed = self.janitor()
        if not self._refusals:
            self._refused.ok()
        for extra in self.extras:
            extra(self.conn, self.clock())
        return report

    def _refusal(self, where: str, exc: BaseException) -> None:
        # One refused reply (READONLY, OOM, WRONGTYPE...): rate-limited, never per call.
        self._refusals += 1
        self._refused.failed(where, exc)

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
                    self._refusal(f"forward {item[1]} of {item[0]!r}", reply)
                    continue
                total += int(reply)
                if int(reply) >= rdb.FORWARD_BATCH:
                    again.append(item)
            todo = again
        return total

    def recover(self) -> tuple[int, int, int]:
        """Recover tasks whose lease expired more than ``skew_allowance`` seconds ago.

        Returns (sent to retry, archived, dropped), counting only the recoveries
        Redis carried out.
        """
        now = self.clock()
        cutoff = now - self.settings.skew_allowance
        replies = self.conn.call_many([rdb.list_lease_expired_call(q, cutoff) for q in self.queues])
        calls: list[rdb.Call] = []
        modes: list[str] = []
        for q, reply in zip(self.queues, replies, strict=True):
            if isinstance(reply, BaseException):
                self._refusal(f"list expired leases of {q!r}", reply)
                continue
            for item in rdb.parse_lease_expired(q, reply):
                call, mode = self._recover_call(item, now)
                calls.append(call)
                modes.append(mode)
        if not calls:
            return 0, 0, 0
        retried = archived = dropped = 0
        for mode, reply in zip(modes, self.conn.call_many(calls), strict=True):
            if isinstance(reply, BaseException):
                self._refusal("recover a task", reply)
            elif int(reply) == 1:
                if mode == "retry":
                    retried += 1
                elif mode == "archive":
                    archived += 1
                else:
                    dropped += 1
        if retried or archived or dropped:
            log.info(
                "recovered lease-expired tasks", retry=retried, archived=archived, dropped=dropped
            )
        return retried, archived, dropped

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
        """Delete expired completed tasks and trim archives; returns (deleted, trimmed).

        Completed tasks go in batches of ``JANITOR_BATCH`` per queue, all queues in
        one round trip, again for every queue whose batch came back full, until
        ``JANITOR_PASS_BUDGET`` seconds are used (the next pass goes on).
        """
        now = self.clock()
        s = self.settings
        deleted = trimmed = 0
        stop_at = self.timer() + JANITOR_PASS_BUDGET
        todo = list(self.queues)
        while todo:
            calls = [rdb.delete_expired_completed_call(q, now) for q in todo]
            again = []
            for q, reply in zip(todo, self.conn.call_many(calls), strict=True):
                if isinstance(reply, BaseException):
                    self._refusal(f"delete expired completed tasks of {q!r}", reply)
                    continue
                deleted += int(reply)
                if int(reply) >= rdb.JANITOR_BATCH:
                    again.append(q)
            todo = again if self.timer() < stop_at else []
        trims = [
            rdb.archive_trim_call(q, now, s.archive_max_size, s.archive_max_age)
            for q in self.queues
        ]
        for q, reply in zip(self.queues, self.conn.call_many(trims), strict=True):
            if isinstance(reply, BaseException):
                self._refusal(f"trim the archive of {q!r}", reply)
            else:
                trimmed += int(reply)
        return deleted, trimmed


class Duties:
    """The maintenance duties of one supervisor, as threads of the calling process:
    the loops (with the app's group aggregation) and, when ``scheduler_config`` is
    not None, the periodic-task scheduler (``""``: the app's own entries).

    A worker process that hosts them (``fastq-worker --maintenance worker``, the
    standalone worker) and the maintenance process (``--maintenance-in process``)
    both start them here.

    Args:
        settings: the worker settings (queues, intervals, Redis).
        app: the application (group aggregation, scheduler entries).
        scheduler_config: the scheduler's entries file, None: no scheduler.
        clock: unix time source of the loops (tests inject one).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        app: App | None,
        scheduler_config: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.app = app
        self.scheduler_config = scheduler_config
        self.clock = clock
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def started(self) -> bool:
        return bool(self.threads)

    def start(self) -> None:
        """Start the threads (once; a stopped set is not started again)."""
        from fastq.scheduler.aggregator import aggregation_hook

        if self.threads or self.stop_event.is_set():
            return
        hook = aggregation_hook(self.app, list(self.settings.queues))
        loops = Maintenance(self.settings, clock=self.clock, extras=[hook] if hook else [])
        self._thread(loops.run_forever, "fastq-maintenance")
        if self.scheduler_config is None:
            return
        from fastq.scheduler.main import build_scheduler

        try:
            sched = build_scheduler(self.app, self.settings.redis, self.scheduler_config or None)
        except FastqError as exc:  # a bad entries file must not stop maintenance
            log.error("periodic tasks are NOT scheduled: fix the config and reload", error=str(exc))
        else:
            self._thread(sched.run, "fastq-scheduler")

    def _thread(self, target: Callable[[threading.Event], object], name: str) -> None:
        t = threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def alive(self) -> bool:
        """False once a started thread ended without being asked to."""
        return self.stop_event.is_set() or all(t.is_alive() for t in self.threads)

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float) -> None:
        """Stop, and wait up to ``timeout`` seconds for each thread."""
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=timeout)
