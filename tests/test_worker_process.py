"""Real worker subprocesses (`python3 -m fastq.worker`) and real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from workerapps.helpers import enqueue, task_msg, wait_for

from fastq import keys
from fastq.config import RedisConfig
from fastq.worker.maintenance import Maintenance
from fastq.worker.settings import WorkerSettings

TESTS = Path(__file__).parent
ROOT = TESTS.parent


@pytest.fixture
def spawn(redis_url: str) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        e = dict(os.environ)
        e.update(
            FASTQ_REDIS_URL=redis_url,
            FASTQ_MAINTENANCE="0",
            PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
            **env,
        )
        p = subprocess.Popen(
            [sys.executable, "-m", "fastq.worker", "workerapps.apps:app"],
            env=e,
            cwd=str(TESTS),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a full, unread pipe would block the worker
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _active(r: redis.Redis, tid: str) -> bool:
    return r.hget(keys.task_key("default", tid), "state") == b"active"


def test_processes_tasks_standalone(spawn, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    p = spawn()
    ids = [enqueue(r, "noop"), enqueue(r, "noop_sync")]
    wait_for(lambda: not any(r.exists(keys.task_key("default", t)) for t in ids), timeout=10)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert r.get(keys.processed_total_key("default")) == b"2"


def test_kill9_then_recovery_puts_tasks_back(spawn, r: redis.Redis, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    p = spawn(FASTQ_LEASE_DURATION="5")
    a = enqueue(r, "sleep", b"30", retry=3)
    s = enqueue(r, "sleep_sync", b"30", retry=3)
    wait_for(lambda: _active(r, a) and _active(r, s), timeout=10)
    p.kill()
    p.wait()
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), skew_allowance=0)
    # Before the lease ends nothing happens; after it, both go back to retry
    # without burning a retry, then the forwarder makes them pending again.
    assert Maintenance(settings, clock=time.time).run_once().recovered == 0
    later = time.time() + 6
    report = Maintenance(settings, clock=lambda: later).run_once()
    assert report.recovered == 2
    assert r.zcard(keys.retry_key("default")) == 2
    assert task_msg(r, "default", a).retried == 0
    Maintenance(settings, clock=lambda: later + 1).run_once()
    assert r.llen(keys.pending_key("default")) == 2
    assert r.llen(keys.active_key("default")) == 0


def test_sigterm_requeues_unfinished_at_the_head(spawn, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    p = spawn(FASTQ_SHUTDOWN_TIMEOUT="0.5", FASTQ_CONCURRENCY="2")
    a = enqueue(r, "sleep", b"30", retry=3)
    s = enqueue(r, "sleep_sync", b"30", retry=3)
    wait_for(lambda: _active(r, a) and _active(r, s), timeout=10)
    waiting = enqueue(r, "noop")  # no free slot: stays pending behind the requeued ones
    time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    pending = r.lrange(keys.pending_key("default"), 0, -1)
    assert set(pending[-2:]) == {a.encode(), s.encode()}  # next out (RPUSH)
    assert pending[0] == waiting.encode()
    for t in (a, s):
        assert r.hget(keys.task_key("default", t), "state") == b"pending"
        assert task_msg(r, "default", t).retried == 0
    assert r.llen(keys.active_key("default")) == 0 and r.zcard(keys.lease_key("default")) == 0


def test_sigquit_is_fast(spawn, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    p = spawn(FASTQ_SHUTDOWN_TIMEOUT="30")
    a = enqueue(r, "sleep", b"30")
    wait_for(lambda: _active(r, a), timeout=10)
    start = time.monotonic()
    p.send_signal(signal.SIGQUIT)
    assert p.wait(10) == 0
    assert time.monotonic() - start < 5
    assert r.lrange(keys.pending_key("default"), 0, -1) == [a.encode()]


def test_standalone_refuses_an_app_that_does_not_import() -> None:
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    p = subprocess.run(
        [sys.executable, "-m", "fastq.worker", "workerapps.nosuch:app"],
        env=e,
        cwd=str(TESTS),
        capture_output=True,
        timeout=30,
    )
    assert p.returncode == 2
    assert b"cannot load APP 'workerapps.nosuch:app'" in p.stderr


def test_settings_from_env_reads_the_fastq_variables() -> None:
    from fastq.worker.standalone import settings_from_env

    s = settings_from_env(
        {
            "FASTQ_REDIS_URL": "redis://h:1/2",
            "FASTQ_QUEUES": "critical=6,low=1",
            "FASTQ_CONCURRENCY": "7",
            "FASTQ_LEASE_DURATION": "12.5",
        }
    )
    assert (s.redis.url, s.queues, s.concurrency, s.lease_duration) == (
        "redis://h:1/2",
        {"critical": 6, "low": 1},
        7,
        12.5,
    )
