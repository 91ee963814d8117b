"""Queue metrics (the Redis view): a prometheus_client collector over the Inspector.

The ``asynq_*`` series copy Asynq's ``x/metrics`` collector exactly (names, types,
help texts, labels), so Grafana dashboards and alerts written for Asynq work
unchanged. fastq-only series carry a ``fastq_`` prefix and never change an Asynq one.

A scrape reads every queue in two Redis round trips (``Inspector.queue_metrics``),
however many queues there are.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fastq.errors import FastqError
from fastq.inspect.types import QueueMetrics

log = structlog.get_logger("fastq.metrics")

ASYNQ_STATES = ("active", "pending", "scheduled", "retry", "archived", "completed")


class MetricsSource(Protocol):
    """What the collector needs: ``Inspector`` provides it."""

    def queue_metrics(self) -> list[QueueMetrics]: ...


class QueueCollector(Collector):
    """Computes queue gauges and counters at scrape time from Redis.

    When Redis cannot be read the Asynq series are left out (as Asynq does) and
    ``fastq_queue_metrics_up`` reads 0, so an alert can tell "no data" from "empty".

    Args:
        source: an ``Inspector`` (or anything with ``queue_metrics()``).
    """

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        # No descriptions up front: registering must not cost a Redis read.
        return []

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        try:
            rows = self.source.queue_metrics()
            up = 1.0
        except FastqError as exc:
            log.warning("failed to collect queue metrics", error=str(exc))
            rows, up = [], 0.0
        yield from asynq_families(rows)
        yield from fastq_families(rows)
        g = GaugeMetricFamily(
            "fastq_queue_metrics_up", "1 if the last scrape could read Redis, else 0."
        )
        g.add_metric([], up)
        yield g
        g = GaugeMetricFamily(
            "fastq_queue_metrics_scrape_duration_seconds",
            "Seconds the last scrape spent reading queue state from Redis.",
        )
        g.add_metric([], time.perf_counter() - start)
        yield g


def asynq_families(rows: list[QueueMetrics]) -> list[Metric]:
    """The series of Asynq's ``x/metrics`` QueueMetricsCollector, verbatim."""
    enqueued = GaugeMetricFamily(
        "asynq_tasks_enqueued_total",
        "Number of tasks enqueued; broken down by queue and state.",
        labels=["queue", "state"],
    )
    size = GaugeMetricFamily("asynq_queue_size", "Number of tasks in a queue", labels=["queue"])
    latency = GaugeMetricFamily(
        "asynq_queue_latency_seconds",
        "Number of seconds the oldest pending task is waiting in pending state to be processed.",
        labels=["queue"],
    )
    memory = GaugeMetricFamily(
        "asynq_queue_memory_usage_approx_bytes",
        "Number of memory used by a given queue (approximated number by sampling).",
        labels=["queue"],
    )
    processed = CounterMetricFamily(
        "asynq_tasks_processed_total",
        "Number of tasks processed (both succeeded and failed); broken down by queue",
        labels=["queue"],
    )
    failed = CounterMetricFamily(
        "asynq_tasks_failed_total",
        "Number of tasks failed; broken down by queue",
        labels=["queue"],
    )
    paused = GaugeMetricFamily(
        "asynq_queue_paused_total", "Number of queues paused", labels=["queue"]
    )
    for row in rows:
        info, q = row.info, row.info.queue
        for state in ASYNQ_STATES:
            enqueued.add_metric([q, state], float(getattr(info, state)))
        size.add_metric([q], float(info.size))
        latency.add_metric([q], info.latency)
        memory.add_metric([q], float(info.memory_usage))
        processed.add_metric([q], float(info.processed_total))
        failed.add_metric([q], float(info.failed_total))
        paused.add_metric([q], 1.0 if info.paused else 0.0)
    return [enqueued, size, latency, memory, processed, failed, paused]


def fastq_families(rows: list[QueueMetrics]) -> list[Metric]:
    """fastq-only queue series: what Asynq's collector leaves out."""
    aggregating = GaugeMetricFamily(
        "fastq_queue_aggregating_tasks",
        "Tasks waiting in aggregation groups (not part of asynq_tasks_enqueued_total).",
        labels=["queue"],
    )
    groups = GaugeMetricFamily(
        "fastq_queue_groups", "Aggregation groups holding tasks.", labels=["queue"]
    )
    retry = GaugeMetricFamily(
        "fastq_queue_retry_overdue_seconds",
        "Seconds the earliest retry task is past its retry time (0 when none is due); "
        "grows while no forwarder runs.",
        labels=["queue"],
    )
    scheduled = GaugeMetricFamily(
        "fastq_queue_scheduled_overdue_seconds",
        "Seconds the earliest scheduled task is past its process time (0 when none is due).",
        labels=["queue"],
    )
    problems = GaugeMetricFamily(
        "fastq_queue_corrupt_keys",
        "Keys of the queue found holding the wrong type (their counts read 0).",
        labels=["queue"],
    )
    for row in rows:
        q = row.info.queue
        aggregating.add_metric([q], float(row.info.aggregating))
        groups.add_metric([q], float(row.info.groups))
        retry.add_metric([q], row.retry_overdue)
        scheduled.add_metric([q], row.scheduled_overdue)
        problems.add_metric([q], float(len(row.info.problems)))
    return [aggregating, groups, retry, scheduled, problems]
