"""End to end: a real Prometheus server scrapes a running ``fastq-worker
--metrics-port`` and ``fastq metrics``, then its HTTP API must show the expected
series and values after a known workload; every query of the Grafana dashboard
(docs/grafana/fastq.json) must return data there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from supervisorapps.harness import ROOT, TESTS, SupervisorProc, wait_for
from test_metrics_queues import ASYNQ_LINT, promtool_problems

from fastq import keys
from fastq.client import Client
from fastq.devredis import free_port
from fastq.task import Task

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]  # .ci/run installs prometheus
DASHBOARD = ROOT / "docs" / "grafana" / "fastq.json"
ALERTS = ROOT / "docs" / "prometheus" / "fastq-alerts.yml"
N_OK, M_FAIL = 20, 5


class Prometheus:
    def __init__(self, tmp: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\n"
            for job, p in targets.items()
        )
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: ['{ALERTS}']\nscrape_configs:\n{jobs}"
        )
        self.log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[Prometheus, int]]:
    worker_port, queues_port = free_port(), free_port()
    worker = SupervisorProc.real(
        ["supervisorapps.metrics_app:app", "--processes", "2", "--metrics-port", str(worker_port)],
        tmp_path / "worker",
        {"FASTQ_REDIS_URL": redis_url},
    )
    env = {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "fastq.cli", "--redis-url", redis_url, "metrics"]
    exporter = subprocess.Popen(
        [*cmd, "--port", str(queues_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prom = Prometheus(tmp_path, {"fastq-worker": worker_port, "fastq-queues": queues_port})
    try:
        yield prom, queues_port
    finally:
        prom.close()
        exporter.terminate()
        exporter.wait(10)
        worker.close()


def test_prometheus_scrapes_the_expected_series_and_values(
    stack: tuple[Prometheus, int], redis_url: str, r: redis.Redis
) -> None:
    prom, queues_port = stack
    with Client(redis_url) as c:
        c.enqueue_many([Task("ok") for _ in range(N_OK)])
        c.enqueue_many([Task("boom", max_retry=0) for _ in range(M_FAIL)])
        c.enqueue_many([Task("ok") for _ in range(2)], queue="held")
    r.set(keys.paused_key("held"), int(time.time()))

    def settled() -> bool:
        try:
            return prom.value('asynq_tasks_processed_total{queue="default"}') == N_OK + M_FAIL and (
                prom.value('sum(fastq_worker_task_runs_total{outcome="succeeded"})') == N_OK
            )
        except OSError:
            return False  # Prometheus still starting

    wait_for(settled, 40, "the workload in Prometheus")
    expected = {
        'up{job="fastq-worker"}': 1,
        'up{job="fastq-queues"}': 1,
        'asynq_tasks_failed_total{queue="default"}': M_FAIL,
        'asynq_tasks_enqueued_total{queue="default",state="archived"}': M_FAIL,
        'asynq_tasks_enqueued_total{queue="default",state="pending"}': 0,
        'asynq_tasks_enqueued_total{queue="held",state="pending"}': 2,
        'asynq_queue_paused_total{queue="held"}': 1,
        'asynq_queue_paused_total{queue="default"}': 0,
        'asynq_queue_size{queue="held"}': 2,
        'sum(fastq_worker_task_runs_total{outcome="failed",task_type="boom"})': M_FAIL,
        'sum(fastq_worker_task_failures_total{action="archived"})': M_FAIL,
        'sum(fastq_worker_task_duration_seconds_count{task_type="ok"})': N_OK,
        'sum(fastq_worker_task_pickup_latency_seconds_count{queue="default"})': N_OK + M_FAIL,
        'fastq_worker_processes{state="ready"}': 2,
        "fastq_queue_metrics_up": 1,
    }
    got = {expr: prom.value(expr) for expr in expected}
    assert got == expected
    # The standalone exporter's own output passes promtool (but for Asynq's gauge names).
    with urllib.request.urlopen(f"http://127.0.0.1:{queues_port}/metrics", timeout=5) as resp:
        assert promtool_problems(resp.read()) == ASYNQ_LINT


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m").replace("$queue", ".*") for e in exprs]


def test_every_dashboard_query_returns_data(stack: tuple[Prometheus, int], redis_url: str) -> None:
    prom, _ = stack
    with Client(redis_url) as c:
        c.enqueue_many([Task("ok") for _ in range(10)] + [Task("boom", max_retry=0)])
    queries = dashboard_queries()
    assert len(queries) >= 20
    names = {n for q in queries for n in re.findall(r"\b((?:asynq|fastq)_\w+)", q)}

    def present() -> set[str]:
        try:
            return set(prom.api("label/__name__/values"))
        except OSError:
            return set()

    # Histogram series appear under their _bucket/_count names, as the queries use them.
    wait_for(lambda: names <= present(), 40, f"series {sorted(names - present())}")
    # rate() needs two samples of each series; then every query must have a result.
    wait_for(lambda: all(prom.query(q) for q in queries), 20, "every query to return data")
    empty = [q for q in queries if not prom.query(q)]
    assert empty == []


def test_the_alert_rules_load_and_evaluate(stack: tuple[Prometheus, int]) -> None:
    check = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    prom, _ = stack

    def rules() -> list[dict[str, Any]]:
        try:
            groups = prom.api("rules")["groups"]
        except OSError:
            return []
        return [r for g in groups for r in g["rules"]]

    wait_for(
        lambda: rules() and all(r.get("lastEvaluation", "").startswith("2") for r in rules()),
        20,
        "rule evaluation",
    )
    got = {r["name"]: r["health"] for r in rules()}
    assert len(got) == 8
    assert set(got.values()) == {"ok"}, got
    # Once the worker is scraped, with nothing failing, no alert is pending or firing.
    wait_for(lambda: prom.value('up{job="fastq-worker"}') == 1, 20, "worker scraped")
    wait_for(lambda: all(r["state"] == "inactive" for r in rules()), 15, "all alerts inactive")
