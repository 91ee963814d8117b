"""Worker metrics (the process view): the engine hooks of one worker process.

Recording must cost the hot path nothing measurable, so a finished task only bumps
counters in C (``fastq._core.RunStats``: two bucket searches, a dict lookup); every
``PUBLISH_EVERY`` seconds, and once at exit, the deltas go to prometheus_client's
metrics, whose multiprocess mode writes them to this process's files in
``PROMETHEUS_MULTIPROC_DIR`` for the supervisor to aggregate.
"""

from __future__ import annotations

from typing import Any

import psutil
from prometheus_client import Counter, Gauge, Histogram

from fastq._core import RunSeries, RunStats
from fastq.errors import RevokeTask, SkipRetry, TaskCanceledError, TaskTimeoutError
from fastq.worker.executor import Interrupt, Running

PUBLISH_EVERY = 1.0  # seconds between publications of the local counts
RSS_EVERY = 5.0  # seconds between RSS reads
MAX_SERIES = 1000  # (queue, task type) pairs per process; task types come from Redis
OVERFLOW = "other"  # the task_type label once MAX_SERIES is reached

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
PICKUP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

_LABELS = ["queue", "task_type"]

TASK_DURATION = Histogram(
    "fastq_worker_task_duration_seconds",
    "Seconds from handler start to its end, by queue and task type.",
    _LABELS,
    buckets=DURATION_BUCKETS,
)
PICKUP_LATENCY = Histogram(
    "fastq_worker_task_pickup_latency_seconds",
    "Seconds from a task becoming pending (enqueue, or due time of a scheduled or "
    "retried task) to its handler start.",
    _LABELS,
    buckets=PICKUP_BUCKETS,
)
TASK_RUNS = Counter(
    "fastq_worker_task_runs",
    "Handler runs by how they ended: succeeded, failed, timed_out, cancelled, revoked, "
    "lease_lost (each run counts once).",
    [*_LABELS, "outcome"],
)
TASK_FAILURES = Counter(
    "fastq_worker_task_failures",
    "Failed, timed-out and cancelled runs by what happened next: retried or archived.",
    [*_LABELS, "action"],
)
IN_FLIGHT = Gauge(
    "fastq_worker_tasks_in_flight",
    "Tasks running now, over all worker processes.",
    multiprocess_mode="livesum",
)
FREE_SLOTS = Gauge(
    "fastq_worker_free_slots",
    "Task slots free now, over all worker processes.",
    multiprocess_mode="livesum",
)
RSS = Gauge(
    "fastq_worker_process_resident_memory_bytes",
    "Resident memory of each live worker process.",
    multiprocess_mode="liveall",
)
LEASE_EXTENSIONS = Counter("fastq_worker_lease_extensions", "Task leases extended.")
LEASES_LOST = Counter(
    "fastq_worker_leases_lost", "Task leases found lost while extending them (never acked)."
)
REDIS_RTT = Histogram(
    "fastq_worker_redis_round_trip_seconds",
    "Seconds one acknowledgement round trip to Redis took.",
    buckets=RTT_BUCKETS,
)
OUTAGE = Counter(
    "fastq_worker_redis_outage_seconds",
    "Seconds worker processes spent unable to reach Redis (summed over processes).",
)


class WorkerMetrics:
    """``EngineHooks`` that record worker metrics; one per worker process.

    ``finished`` is the compiled ``RunStats.finished`` (fastq._core): it buckets the
    run's duration (``running.started`` to now, on the wall clock the engine's default
    clock uses) and its pickup latency in C; only failures come back to Python.
    """

    def __init__(self) -> None:
        self.stats = RunStats(DURATION_BUCKETS, PICKUP_BUCKETS, self._failed, MAX_SERIES, OVERFLOW)
        self.finished = self.stats.finished  # the hot path, without a Python frame
        self._extended = 0
        self._lost = 0
        self._rtt: list[float] = []
        self._outage = 0.0
        self._last_tick = 0.0
        self._next_publish = 0.0
        self._next_rss = 0.0
        self._proc = psutil.Process()

    def _failed(self, running: Running, exc: BaseException, s: RunSeries) -> None:
        outcome = self._outcome(running, exc, s)
        s.runs[outcome] = s.runs.get(outcome, 0) + 1

    def _outcome(self, running: Running, exc: BaseException, s: RunSeries) -> str:
        reason = running.ctx.cancel_reason
        if reason == Interrupt.LEASE_GONE:
            return "lease_lost"
        if reason == Interrupt.SHUTDOWN:
            return "cancelled"  # requeued, not retried: no failure action
        if isinstance(exc, RevokeTask):
            return "revoked"
        # The acker's rule (Asynq's): SkipRetry or retries used up -> archive.
        msg = running.msg
        action = "archived" if isinstance(exc, SkipRetry) or msg.retried >= msg.retry else "retried"
        s.failures[action] = s.failures.get(action, 0) + 1
        if isinstance(exc, TaskTimeoutError):
            return "timed_out"
        if isinstance(exc, TaskCanceledError):
            return "cancelled"
        return "failed"

    def flushed(self, seconds: float, extended: int, lost: int) -> None:
        self._rtt.append(seconds)
        self._extended += extended
        self._lost += lost

    def tick(self, now: float, busy: int, capacity: int, outage: bool) -> None:
        if outage and self._last_tick:
            self._outage += now - self._last_tick
        self._last_tick = now
        if now < self._next_publish:
            return
        self._next_publish = now + PUBLISH_EVERY
        IN_FLIGHT.set(busy)
        FREE_SLOTS.set(max(0, capacity - busy))
        if now >= self._next_rss:
            self._next_rss = now + RSS_EVERY
            RSS.set(self._proc.memory_info().rss)
        self.publish()

    # --- publication -----------------------------------------------------------------

    def publish(self) -> None:
        """Move the local counts into prometheus_client (its files, in multiprocess mode)."""
        for queue, by_type in self.stats.series.items():
            for task_type, s in by_type.items():
                if s.runs_total:
                    _publish_series(queue, task_type, s)
        if self._extended:
            LEASE_EXTENSIONS.inc(self._extended)
            self._extended = 0
        if self._lost:
            LEASES_LOST.inc(self._lost)
            self._lost = 0
        for rtt in self._rtt:
            REDIS_RTT.observe(rtt)
        self._rtt.clear()
        if self._outage:
            OUTAGE.inc(self._outage)
            self._outage = 0.0


def _publish_series(queue: str, task_type: str, s: RunSeries) -> None:
    _add_histogram(TASK_DURATION.labels(queue, task_type), s.take_duration(), s.duration_sum)
    _add_histogram(PICKUP_LATENCY.labels(queue, task_type), s.take_pickup(), s.pickup_sum)
    s.duration_sum = s.pickup_sum = 0.0
    s.runs_total = 0
    if s.succeeded:
        s.runs["succeeded"] = s.succeeded
        s.succeeded = 0
    for outcome, n in s.runs.items():
        TASK_RUNS.labels(queue, task_type, outcome).inc(n)
    for action, n in s.failures.items():
        TASK_FAILURES.labels(queue, task_type, action).inc(n)
    s.runs.clear()
    s.failures.clear()


def _add_histogram(child: Any, counts: list[int], total: float) -> None:
    """Add pre-bucketed observations to a histogram child: what ``observe`` does once
    per value, done once per bucket (prometheus_client has no bulk observe)."""
    if not any(counts):
        return
    child._sum.inc(total)
    for i, n in enumerate(counts):
        if n:
            child._buckets[i].inc(n)
