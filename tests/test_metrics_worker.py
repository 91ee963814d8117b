"""Worker metrics: the engine hooks, the multiprocess directory, and a real
``fastq-worker --metrics-port`` (subprocess, real signals) serving /metrics,
/healthz and /readyz."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY, Histogram
from prometheus_client.parser import text_string_to_metric_families
from supervisorapps.harness import SupervisorProc, wait_for

from fastq._core import TaskMessage
from fastq.client import Client
from fastq.devredis import RedisServer, free_port
from fastq.errors import RevokeTask, SkipRetry, TaskCanceledError, TaskTimeoutError
from fastq.metrics.worker import WorkerMetrics, _add_histogram
from fastq.supervisor.config_file import load_config_file
from fastq.supervisor.options import OPTION_NAMES, resolve
from fastq.task import Task
from fastq.worker.executor import Interrupt, Running

APP = "supervisorapps.metrics_app:app"


def sample(name: str, **labels: str) -> float:
    got = REGISTRY.get_sample_value(name, labels)
    return 0.0 if got is None else got


def running(queue: str, kind: str, *, retried: int = 0, retry: int = 3) -> Running:
    msg = TaskMessage(type=kind, id="t1", queue=queue, retry=retry, retried=retried)
    r = Running(msg, queue, time.time() - 0.2, time.time() + 30)
    r.pending_since = int((r.started - 1.5) * 1e9)
    return r


# --- the hooks (single-process prometheus_client in this test process) -------------


def test_each_run_counts_once_under_its_outcome_and_failures_under_their_action() -> None:
    m, q = WorkerMetrics(), "hooks-outcomes"
    m.finished(running(q, "t"), None)
    m.finished(running(q, "t"), RuntimeError("x"))  # retries left -> retried
    m.finished(running(q, "t", retried=3, retry=3), RuntimeError("x"))  # archived
    m.finished(running(q, "t"), SkipRetry("no"))  # archived at once
    timed = running(q, "t")
    timed.ctx.cancel(Interrupt.TIMEOUT)
    m.finished(timed, TaskTimeoutError("late"))
    canceled = running(q, "t")
    canceled.ctx.cancel(Interrupt.CANCELED)
    m.finished(canceled, TaskCanceledError("stop"))
    m.finished(running(q, "t"), RevokeTask("gone"))
    lost = running(q, "t")
    lost.ctx.cancel(Interrupt.LEASE_GONE)
    m.finished(lost, TaskCanceledError("lease"))
    assert sample("fastq_worker_task_runs_total", queue=q, task_type="t", outcome="succeeded") == 0
    m.publish()  # nothing reaches prometheus_client before a publication
    runs = {
        o: sample("fastq_worker_task_runs_total", queue=q, task_type="t", outcome=o)
        for o in ("succeeded", "failed", "timed_out", "cancelled", "revoked", "lease_lost")
    }
    assert runs == {
        "succeeded": 1,
        "failed": 3,
        "timed_out": 1,
        "cancelled": 1,
        "revoked": 1,
        "lease_lost": 1,
    }
    actions = {
        a: sample("fastq_worker_task_failures_total", queue=q, task_type="t", action=a)
        for a in ("retried", "archived")
    }
    assert actions == {"retried": 3, "archived": 2}  # failed x1, timed out, cancelled / 2
    assert sample("fastq_worker_task_duration_seconds_count", queue=q, task_type="t") == 8
    le = sample("fastq_worker_task_pickup_latency_seconds_bucket", queue=q, task_type="t", le="1.0")
    assert le == 0  # every pickup took 1.5 s
    le = sample("fastq_worker_task_pickup_latency_seconds_bucket", queue=q, task_type="t", le="5.0")
    assert le == 8


def test_a_task_without_pending_since_has_a_duration_but_no_pickup_latency() -> None:
    m, q = WorkerMetrics(), "hooks-nosince"
    r = running(q, "t")
    r.pending_since = 0
    m.finished(r, None)
    m.publish()
    assert sample("fastq_worker_task_duration_seconds_count", queue=q, task_type="t") == 1
    assert sample("fastq_worker_task_pickup_latency_seconds_count", queue=q, task_type="t") == 0


def test_bulk_added_histogram_equals_one_observe_per_value() -> None:
    values = [0.0001, 0.004, 0.02, 0.3, 0.3, 7.0, 1e6]
    bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
    a = Histogram("fastq_test_bulk_a", "a", buckets=bounds)
    b = Histogram("fastq_test_bulk_b", "b", buckets=bounds)
    for v in values:
        a.observe(v)
    from bisect import bisect_left

    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[bisect_left(bounds, v)] += 1
    _add_histogram(b, counts, sum(values))
    got_a = {
        (s.name[len("fastq_test_bulk_a") :], s.labels.get("le")): s.value
        for s in a.collect()[0].samples
    }
    got_b = {
        (s.name[len("fastq_test_bulk_b") :], s.labels.get("le")): s.value
        for s in b.collect()[0].samples
    }
    got_a = {k: v for k, v in got_a.items() if k[0] != "_created"}
    got_b = {k: v for k, v in got_b.items() if k[0] != "_created"}
    assert got_a == got_b
    assert got_a[("_count", None)] == len(values)


def test_series_per_process_are_capped_and_overflow_into_other() -> None:
    import fastq.metrics.worker as mw

    q = "hooks-cap"
    old = mw.MAX_SERIES
    mw.MAX_SERIES = 2
    try:
        m = WorkerMetrics()
    finally:
        mw.MAX_SERIES = old
    for kind in ("a", "b", "c", "d"):
        m.finished(running(q, kind), None)
    m.publish()
    ok = "succeeded"
    assert sample("fastq_worker_task_runs_total", queue=q, task_type="other", outcome=ok) == 2
    assert sample("fastq_worker_task_runs_total", queue=q, task_type="c", outcome=ok) == 0


# --- options --------------------------------------------------------------------------


def test_metrics_port_from_cli_env_and_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text('app = "m:app"\nmetrics_port = 9101\nmetrics_host = "0.0.0.0"\n')
    config = load_config_file(cfg, OPTION_NAMES | {"app"})
    assert resolve({}, {}, config).metrics_port == 9101
    assert resolve({}, {}, config).metrics_host == "0.0.0.0"
    assert resolve({}, {"FASTQ_METRICS_PORT": "9102"}, config).metrics_port == 9102
    assert (
        resolve({"metrics_port": "9103"}, {"FASTQ_METRICS_PORT": "9102"}, config).metrics_port
        == 9103
    )
    assert resolve({}, {}, {"app": "m:app"}).metrics_port == 0  # off by default
    with pytest.raises(Exception, match="metrics_port"):
        resolve({"metrics_port": "70000"}, {}, {"app": "m:app"})


# --- the multiprocess directory: real processes ---------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from prometheus_client import Counter, Gauge
    c = Counter("fastq_test_done", "done", ["k"])
    g = Gauge("fastq_test_busy", "busy", multiprocess_mode="livesum")
    c.labels("x").inc(float(sys.argv[1]))
    g.set(1)
    """
)


def test_dead_childrens_counters_are_folded_and_their_live_gauges_dropped() -> None:
    from fastq.metrics.multiproc import MultiprocDir

    mp = MultiprocDir.__new__(MultiprocDir)  # no env change in this test process
    import tempfile

    mp.path = tempfile.mkdtemp(prefix="fastq-metrics-test-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": mp.path}
    try:
        pids = []
        for n in ("3", "4"):
            subprocess.run([sys.executable, "-c", WRITER, n], env=env, check=True)
        pids = sorted(
            int(f.split("_")[1][:-3]) for f in os.listdir(mp.path) if f.startswith("counter_")
        )
        assert len(pids) == 2
        total = collect_total(mp.path)
        assert (total["fastq_test_done_total"], total["fastq_test_busy"]) == (7, 2)
        for pid in pids:
            mp.child_dead(pid)
        assert sorted(os.listdir(mp.path)) == ["counter_retired.db"]
        total = collect_total(mp.path)
        assert total["fastq_test_done_total"] == 7  # a total never goes down
        assert total.get("fastq_test_busy", 0) == 0
    finally:
        mp.close()
    assert not os.path.exists(mp.path)


def collect_total(path: str) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    reg = CollectorRegistry()
    MultiProcessCollector(reg, path)
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0) + s.value
    return out


# --- a real fastq-worker ------------------------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def worker_samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    _, body = get(f"http://127.0.0.1:{port}/metrics")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def runs(port: int, outcome: str, kind: str) -> float:
    key = frozenset({"queue": "default", "task_type": kind, "outcome": outcome}.items())
    return worker_samples(port).get(("fastq_worker_task_runs_total", key), 0.0)


@pytest.fixture
def fastq_worker(tmp_path: Path, redis_url: str) -> Iterator[tuple[SupervisorProc, int]]:
    port = free_port()
    p = SupervisorProc.real(
        [APP, "--processes", "2", "--concurrency", "4", "--metrics-port", str(port)],
        tmp_path,
        {"FASTQ_REDIS_URL": redis_url, "TMPDIR": str(tmp_path)},
    )
    try:
        wait_for(lambda: get_or_none(f"http://127.0.0.1:{port}/readyz") == 200, 20, "readyz")
        yield p, port
    finally:
        p.close()


def get_or_none(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:
        return None


@pytest.mark.slow
def test_fastq_worker_serves_summed_counts_health_and_readiness(
    fastq_worker: tuple[SupervisorProc, int], redis_url: str, r: redis.Redis, tmp_path: Path
) -> None:
    p, port = fastq_worker
    with Client(redis_url) as c:
        c.enqueue_many(
            [Task("ok") for _ in range(40)] + [Task("boom", max_retry=0) for _ in range(3)]
        )
    wait_for(lambda: runs(port, "succeeded", "ok") == 40, 20, "40 successes published")
    wait_for(lambda: runs(port, "failed", "boom") == 3, 10, "3 failures published")
    s = worker_samples(port)
    by = frozenset({"queue": "default", "task_type": "ok"}.items())
    assert s[("fastq_worker_task_duration_seconds_count", by)] == 40
    assert s[("fastq_worker_task_pickup_latency_seconds_count", by)] == 40
    assert s[("fastq_worker_free_slots", frozenset())] == 8  # 2 processes x 4, all idle
    assert s[("fastq_worker_processes", frozenset({"state": "ready"}.items()))] == 2
    _, body = get(f"http://127.0.0.1:{port}/metrics")
    from test_metrics_queues import promtool_problems

    assert promtool_problems(body) == set()

    def health() -> dict[str, Any] | None:
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        h = json.loads(body)
        assert (status, h["status"]) == (200, "ok")
        return h if any(c["maintenance"] for c in h["children"]) else None

    children = wait_for(health, 10, "a maintenance host")["children"]
    # The duties are threads of one worker: no maintenance process.
    assert sorted(c["role"] for c in children) == ["worker", "worker"]
    assert sum(c["maintenance"] for c in children) == 1
    status, body = get(f"http://127.0.0.1:{port}/readyz")
    assert (status, json.loads(body)["ready_processes"]) == (200, 2)

    # kill -9 one worker: it is restarted, counted by cause, and its counts stay.
    victim = p.workers()[0].pid
    os.kill(victim, signal.SIGKILL)
    killed = frozenset({"role": "worker", "cause": "killed"}.items())
    wait_for(
        lambda: worker_samples(port).get(("fastq_worker_restarts_total", killed)) == 1,
        15,
        "restart counted",
    )
    assert runs(port, "succeeded", "ok") == 40
    mpdir = next(tmp_path.glob("fastq-metrics-*"))
    assert not list(mpdir.glob(f"*_{victim}.db"))  # folded away

    # quiet (SIGTSTP): alive, but no longer ready.
    p.signal(signal.SIGTSTP)
    wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 503, 10, "not ready when quiet")
    body = json.loads(get(f"http://127.0.0.1:{port}/readyz")[1])
    assert body["problems"] == ["quiet: not taking new tasks"]
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    # A client that connects and sends nothing is dropped; the next one is answered.
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        idle.settimeout(5)
        assert idle.recv(100) == b""

    p.signal(signal.SIGTERM)
    assert p.wait(20) == 0
    assert not mpdir.exists()  # the supervisor removes its directory


@pytest.mark.slow
def test_readyz_is_503_and_healthz_200_while_redis_is_down(tmp_path: Path) -> None:
    server = RedisServer()
    server.start()
    port = free_port()
    p = SupervisorProc.real(
        [APP, "--processes", "1", "--metrics-port", str(port)],
        tmp_path,
        {"FASTQ_REDIS_URL": server.url},
    )
    readyz = f"http://127.0.0.1:{port}/readyz"
    try:
        wait_for(lambda: get_or_none(readyz) == 200, 20, "ready")
        server.kill()
        wait_for(lambda: get(readyz)[0] == 503, 20, "not ready without Redis")
        assert json.loads(get(readyz)[1])["problems"] == ["Redis unreachable"]
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # alive: do not restart it
    finally:
        p.close()
        server.cleanup()


def test_runstats_buckets_as_prometheus_le_and_counts_only_successes_itself() -> None:
    from fastq._core import RunStats

    failed: list[tuple[str, BaseException]] = []
    stats = RunStats((1.0, 2.0), (1.0, 2.0), lambda r, e, s: failed.append((r.msg.type, e)))
    for wait in (0.5, 1.0, 1.5, 3.0):
        r = running("rs", "t")
        r.started = 100.0
        r.pending_since = int((100.0 - wait) * 1e9)
        stats.finished(r, None)
    err = ValueError("x")
    stats.finished(running("rs", "t"), err)
    s = stats.series["rs"]["t"]
    # <=1: 0.5 and 1.0; <=2: 1.5 and the failed run's 1.5 (see running()); +Inf: 3.0
    assert s.take_pickup() == [2, 2, 1]
    assert s.take_pickup() == [0, 0, 0]  # taken means reset
    assert (s.succeeded, s.runs_total, failed) == (4, 5, [("t", err)])
    assert sum(s.take_duration()) == 5
