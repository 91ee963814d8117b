"""Queue metrics (fastq.metrics.queues / exporter) against the test Redis.

The Asynq series must match hibiken/asynq x/metrics/metrics.go exactly: the
expected names, types, help texts and labels below are copied from that file.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastq import keys
from fastq.client import Client
from fastq.inspect import ops
from fastq.inspect.inspector import Inspector
from fastq.metrics import asgi_app, queue_registry
from fastq.rdb.conn import SyncConn
from fastq.rdb.plan import _exec_sync
from fastq.task import Task

# name -> (type, help, labels), verbatim from Asynq's x/metrics.
ASYNQ = {
    "asynq_tasks_enqueued_total": (
        "gauge",
        "Number of tasks enqueued; broken down by queue and state.",
        {"queue", "state"},
    ),
    "asynq_queue_size": ("gauge", "Number of tasks in a queue", {"queue"}),
    "asynq_queue_latency_seconds": (
        "gauge",
        "Number of seconds the oldest pending task is waiting in pending state to be processed.",
        {"queue"},
    ),
    "asynq_queue_memory_usage_approx_bytes": (
        "gauge",
        "Number of memory used by a given queue (approximated number by sampling).",
        {"queue"},
    ),
    "asynq_tasks_processed_total": (
        "counter",
        "Number of tasks processed (both succeeded and failed); broken down by queue",
        {"queue"},
    ),
    "asynq_tasks_failed_total": (
        "counter",
        "Number of tasks failed; broken down by queue",
        {"queue"},
    ),
    "asynq_queue_paused_total": ("gauge", "Number of queues paused", {"queue"}),
}
# promtool's lint rejects a gauge named *_total; Asynq names two gauges so, and
# the names must stay Asynq's. Nothing else may be reported.
ASYNQ_LINT = {
    'asynq_tasks_enqueued_total non-counter metrics should not have "_total" suffix',
    'asynq_queue_paused_total non-counter metrics should not have "_total" suffix',
}


def promtool_problems(text: bytes) -> set[str]:
    """promtool check metrics: parse errors fail here; lint lines are returned."""
    res = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    out = (res.stdout + res.stderr).decode()
    assert res.returncode in (0, 3), out  # 1: the text does not even parse
    return {line.strip() for line in out.splitlines() if line.strip()}


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: bytes, name: str, **labels: str) -> float:
    return samples(text)[(name, frozenset(labels.items()))]


def workload(url: str, r: redis.Redis) -> None:
    now = time.time()
    with Client(url) as c:
        c.enqueue_many([Task("a", b"x") for _ in range(3)], queue="alpha")
        c.enqueue(Task("a", b"x"), queue="alpha", process_at=now + 600)
        c.enqueue(Task("b", b"y"), queue="beta")
    r.set(keys.paused_key("beta"), int(now))
    r.set(keys.processed_total_key("alpha"), 7)
    r.set(keys.failed_total_key("alpha"), 2)
    (tid,) = [x.decode() for x in r.lrange(keys.pending_key("alpha"), 0, 0)]
    # One alpha task due for retry 30 s ago: the forwarder is late.
    r.lrem(keys.pending_key("alpha"), 1, tid)
    r.zadd(keys.retry_key("alpha"), {tid: now - 30})
    r.hset(keys.task_key("alpha", tid), "state", "retry")


def test_asynq_series_have_asynqs_names_types_help_and_labels(
    redis_url: str, r: redis.Redis
) -> None:
    workload(redis_url, r)
    text = generate_latest(queue_registry(redis_url))
    fams = {f.name: f for f in text_string_to_metric_families(text.decode())}
    for name, (kind, help_text, labels) in ASYNQ.items():
        base = name.removesuffix("_total") if kind == "counter" else name
        fam = fams[base]
        assert (fam.type, fam.documentation) == (kind, help_text), name
        assert {frozenset(s.labels) for s in fam.samples} == {frozenset(labels)}, name
        assert {s.name for s in fam.samples} == {name}


def test_values_after_a_known_workload(redis_url: str, r: redis.Redis) -> None:
    workload(redis_url, r)
    text = generate_latest(queue_registry(redis_url))
    state = "asynq_tasks_enqueued_total"
    assert value(text, state, queue="alpha", state="pending") == 2
    assert value(text, state, queue="alpha", state="scheduled") == 1
    assert value(text, state, queue="alpha", state="retry") == 1
    assert value(text, state, queue="alpha", state="archived") == 0
    assert value(text, state, queue="beta", state="pending") == 1
    assert value(text, "asynq_queue_size", queue="alpha") == 4
    assert value(text, "asynq_tasks_processed_total", queue="alpha") == 7
    assert value(text, "asynq_tasks_failed_total", queue="alpha") == 2
    assert value(text, "asynq_queue_paused_total", queue="beta") == 1
    assert value(text, "asynq_queue_paused_total", queue="alpha") == 0
    assert value(text, "asynq_queue_memory_usage_approx_bytes", queue="alpha") > 0
    assert 0 <= value(text, "asynq_queue_latency_seconds", queue="alpha") < 60
    assert 29 <= value(text, "fastq_queue_retry_overdue_seconds", queue="alpha") < 90
    assert value(text, "fastq_queue_scheduled_overdue_seconds", queue="alpha") == 0
    assert value(text, "fastq_queue_metrics_up") == 1


def test_promtool_finds_nothing_but_asynqs_own_gauge_names(redis_url: str, r: redis.Redis) -> None:
    workload(redis_url, r)
    assert promtool_problems(generate_latest(queue_registry(redis_url))) == ASYNQ_LINT


def test_a_scrape_is_two_round_trips_with_1_or_200_queues(redis_url: str) -> None:
    def trips() -> int:
        conn = SyncConn(Inspector(redis_url).config)
        plan, n = ops.queue_metrics(), 0
        try:
            batch = next(plan)
            while True:
                n += 1
                batch = plan.send(_exec_sync(conn, batch))
        except StopIteration as stop:
            rows = stop.value
        conn.close()
        return n if rows else -1

    with Client(redis_url) as c:
        c.enqueue(Task("a"), queue="q0")
        one = trips()
        c.enqueue_many([Task("a", queue=f"q{i}") for i in range(1, 200)])
    assert (one, trips()) == (2, 2)
    assert len(Inspector(redis_url).queue_metrics()) == 200


def test_unreachable_redis_reports_up_0_and_no_asynq_series() -> None:
    insp = Inspector("redis://127.0.0.1:1/0?socket_connect_timeout=0.5")
    text = generate_latest(queue_registry(insp))
    assert value(text, "fastq_queue_metrics_up") == 0
    assert not [k for k in samples(text) if k[0].startswith("asynq_")]


def test_asgi_app_serves_the_same_series(redis_url: str, r: redis.Redis) -> None:
    workload(redis_url, r)
    app = asgi_app(redis_url)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/plain; version=0.0.4")
    body = sent[1]["body"]
    assert value(body, "asynq_queue_paused_total", queue="beta") == 1
    sent.clear()
    asyncio.run(app({**scope, "method": "POST"}, receive, send))
    assert sent[0]["status"] == 405


@pytest.mark.parametrize("bad", ["", "q\nx", 'q"x', "q\\x"])
def test_hostile_queue_names_are_escaped_in_the_exposition(
    redis_url: str, r: redis.Redis, bad: str
) -> None:
    name = f"evil{bad}"
    r.sadd(keys.ALL_QUEUES, name)
    r.lpush(keys.pending_key(name), "id1")
    text = generate_latest(queue_registry(redis_url))
    assert value(text, "asynq_tasks_enqueued_total", queue=name, state="pending") == 1
    assert promtool_problems(text) == ASYNQ_LINT
