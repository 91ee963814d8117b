"""Redis goes away: producers get typed errors, workers wait it out and resume alone."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis

from fastq.client import Client
from fastq.devredis import RedisServer
from fastq.errors import BrokerConnectionError
from fastq.supervisor.exitcodes import ExitCode
from fastq.task import Task

from .helpers import (
    Workers,
    all_pids,
    done_counts,
    enqueue_recs,
    missing,
    report,
    scale,
    wait_all_up,
    wait_for,
)

OUTAGE = scale(5.0, 30.0)


class Producer(threading.Thread):
    """Enqueues one task at a time until stopped, keeping every id it got a TaskInfo for."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acked: list[str] = []
        self.refused = 0  # BrokerConnectionError while Redis was down
        self.last_refusal = ""
        self.acked_after_refusal = 0
        self.unexpected: list[BaseException] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with Client(self.url) as client:
            while not self.halt.is_set():
                try:
                    info = client.enqueue(Task("rec", b'{"sleep": 0.002}'))
                except BrokerConnectionError as exc:
                    self.refused += 1
                    self.last_refusal = str(exc)
                    time.sleep(0.02)
                    continue
                except BaseException as exc:  # anything else is a finding
                    self.unexpected.append(exc)
                    time.sleep(0.02)
                    continue
                self.acked.append(info.id)
                if self.refused:
                    self.acked_after_refusal += 1
                time.sleep(0.002)


@pytest.mark.parametrize("how", scale(["kill"], ["stop", "kill"]))  # kill: the harder case
def test_redis_restart_loses_nothing_acknowledged(
    how: str, workers: Workers, aof_redis: RedisServer, redis_url: str, r: redis.Redis
) -> None:
    p = workers.start(
        aof_redis.url,
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--lease-duration",
        "5",
        "--shutdown-timeout",
        "2",
        record_url=redis_url,
    )
    wait_all_up(p, 2)  # the maintenance process forks once the workers are ready
    before = all_pids(p)
    producer = Producer(aof_redis.url)
    producer.start()
    try:
        wait_for(lambda: len(producer.acked) >= 200, timeout=20, what="200 enqueues")
        # SIGTERM lets Redis finish its AOF; SIGKILL relies on appendfsync always.
        aof_redis.stop() if how == "stop" else aof_redis.kill()
        wait_for(lambda: producer.refused >= 5, timeout=10, what="refused enqueues")
        time.sleep(scale(2.0, 10.0))
        assert all_pids(p) == before
        aof_redis.start()
        wait_for(
            lambda: producer.acked_after_refusal >= 200,
            timeout=30,
            what="enqueues after the restart",
        )
    finally:
        producer.halt.set()
        producer.join(10)
    assert not producer.unexpected, producer.unexpected[:3]
    assert f"cannot reach Redis at {aof_redis.url}" in producer.last_refusal
    acked = producer.acked
    wait_for(
        lambda: not missing(acked, done_counts(r)),
        timeout=60,
        what=f"all {len(acked)} acknowledged tasks done",
    )
    assert all_pids(p) == before  # no child restarted: no crash loop
    assert "died" not in p.log() and "crash" not in p.log()
    report(
        {
            "scenario": f"redis_restart_{how}",
            "acknowledged": len(acked),
            "refused_while_down": producer.refused,
            "lost": 0,
            "child_restarts": 0,
        }
    )
    p.signal(signal.SIGTERM)
    assert p.wait(20) == ExitCode.OK


def test_outage_keeps_every_process_and_resumes_alone(
    workers: Workers, aof_redis: RedisServer, redis_url: str, r: redis.Redis
) -> None:
    p = workers.start(
        aof_redis.url,
        "--processes",
        "2",
        "--concurrency",
        "4",
        "--lease-duration",
        "10",
        record_url=redis_url,
    )
    wait_all_up(p, 2)
    first = enqueue_recs(aof_redis.url, 20, sleep=0.01)
    wait_for(lambda: not missing(first, done_counts(r)), timeout=20, what="warm-up tasks")
    before = all_pids(p)
    log_before = len(p.log().splitlines())
    aof_redis.stop()
    t0 = time.monotonic()
    while time.monotonic() - t0 < OUTAGE:
        assert all_pids(p) == before, "a process died or was replaced during the outage"
        time.sleep(0.5)
    outage_lines = p.log().splitlines()[log_before:]
    aof_redis.start()
    second = enqueue_recs(aof_redis.url, 50, sleep=0.01)
    wait_for(lambda: not missing(second, done_counts(r)), timeout=30, what="tasks after outage")
    assert all_pids(p) == before  # same supervisor, same children: nothing restarted
    assert "died" not in p.log()
    # Every process says clearly what is wrong.
    for pid in before:
        mine = [x for x in outage_lines if f"pid={pid}" in x]
        assert any("cannot reach Redis" in x for x in mine), f"pid {pid} said nothing"
    p.signal(signal.SIGTERM)
    assert p.wait(20) == ExitCode.OK
    # Not a flood: one line per process per 5 s interval, plus one when it starts.
    budget = len(before) * (int(OUTAGE / 5) + 1)
    report(
        {
            "scenario": "redis_outage",
            "seconds": OUTAGE,
            "processes": len(before),
            "log_lines": len(outage_lines),
            "budget": budget,
            "same_pids": True,
        }
    )
    assert len(outage_lines) <= budget, "\n".join(outage_lines)
    # A heartbeat pass that wrote nothing must not claim Redis is back.
    assert not [x for x in outage_lines if "heartbeat written again" in x]
