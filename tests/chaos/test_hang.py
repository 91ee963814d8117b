"""Redis hangs (SIGSTOP): the connection stays open but nothing answers.

Producers must get a typed error within their socket timeout instead of hanging,
workers must survive it, and nothing acknowledged may be lost. A command already
sent may still run when Redis wakes up (an enqueue the producer saw fail, a fetch
whose reply nobody reads): the test requires those to end up done, not lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import redis

from fastq.client import Client
from fastq.devredis import RedisServer
from fastq.errors import BrokerConnectionError
from fastq.task import Task

from .helpers import (
    Workers,
    all_pids,
    done_counts,
    missing,
    report,
    scale,
    wait_all_up,
    wait_for,
)

FREEZE = scale(4.0, 20.0)
SOCKET_TIMEOUT = 1.0


def test_hung_redis_gives_typed_errors_and_loses_nothing(
    workers: Workers, aof_redis: RedisServer, redis_url: str, r: redis.Redis
) -> None:
    assert aof_redis.proc is not None
    url = f"{aof_redis.url}?socket_timeout={SOCKET_TIMEOUT}"
    p = workers.start(
        url, "--processes", "2", "--concurrency", "8", "--lease-duration", "5", record_url=redis_url
    )
    wait_all_up(p, 2)
    before = all_pids(p)
    acked: list[str] = []
    refusals: list[float] = []  # seconds each refused enqueue took
    unexpected: list[BaseException] = []
    halt = threading.Event()

    def produce() -> None:
        with Client(url) as client:
            while not halt.is_set():
                t0 = time.monotonic()
                try:
                    acked.append(client.enqueue(Task("rec", b'{"sleep": 0.01}')).id)
                except BrokerConnectionError:
                    refusals.append(time.monotonic() - t0)
                except BaseException as exc:
                    unexpected.append(exc)
                time.sleep(0.005)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(acked) >= 100, timeout=20, what="100 enqueues")
        os.kill(aof_redis.proc.pid, signal.SIGSTOP)  # our own redis-server, by pid
        try:
            time.sleep(FREEZE)
            assert all_pids(p) == before
        finally:
            os.kill(aof_redis.proc.pid, signal.SIGCONT)
        n = len(acked)
        wait_for(lambda: len(acked) >= n + 100, timeout=20, what="enqueues after the freeze")
    finally:
        halt.set()
        thread.join(15)
    assert not unexpected, unexpected[:3]
    assert refusals, "no enqueue failed while Redis was frozen"
    assert max(refusals) < SOCKET_TIMEOUT + 2.0  # a typed error, never a hang
    wait_for(
        lambda: not missing(acked, done_counts(r)),
        timeout=60,
        what="every acknowledged task done",
        every=0.2,
    )
    assert all_pids(p) == before
    counts = done_counts(r)
    report(
        {
            "scenario": "redis_hang_sigstop",
            "seconds": FREEZE,
            "acknowledged": len(acked),
            "refused": len(refusals),
            "slowest_refusal_s": round(max(refusals), 2),
            "lost": 0,
            "duplicates": sum(c - 1 for c in counts.values()),
        }
    )
    p.signal(signal.SIGTERM)
    assert p.wait(30) == 0
