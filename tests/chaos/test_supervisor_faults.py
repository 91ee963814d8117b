"""Faults around the supervisor: it is killed with -9, or told to stop while Redis
is down. Its children must not linger and no task may be lost."""

from __future__ import annotations

import os
import signal
import time

import psutil
import redis

from fastq import keys
from fastq.devredis import RedisServer
from fastq.supervisor.exitcodes import ExitCode

from .helpers import (
    Workers,
    done_counts,
    enqueue_recs,
    members,
    missing,
    report,
    running,
    scale,
    wait_for,
)


def test_kill_9_of_the_supervisor_leaves_no_orphan_and_loses_nothing(
    workers: Workers, redis_url: str, r: redis.Redis
) -> None:
    ids = enqueue_recs(redis_url, scale(400, 4000), sleep=0.2)
    p = workers.start(
        redis_url,
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--lease-duration",
        "2",
        "--shutdown-timeout",
        "2",
    )
    wait_for(lambda: len(done_counts(r)) >= 50, timeout=30, what="50 tasks done")
    kids = psutil.Process(p.pid).children(recursive=True)  # recorded before the kill
    assert len(kids) == 2  # two workers, one hosting the maintenance duties
    active = set(members(r, keys.active_key("default")))
    os.kill(p.pid, signal.SIGKILL)
    p.wait(5)
    # Orphaned children notice and stop on their own (drain, requeue) in bounded time.
    t0 = time.monotonic()
    wait_for(
        lambda: not any(running(k) for k in kids), timeout=20, what="the orphaned children to exit"
    )
    orphan_exit = time.monotonic() - t0
    p2 = workers.start(redis_url, "--processes", "2", "--concurrency", "8", "--lease-duration", "2")
    wait_for(
        lambda: not missing(ids, done_counts(r)),
        timeout=scale(60, 300),
        what="every task done by the second supervisor",
        every=0.2,
    )
    counts = done_counts(r)
    dups = {i for i, c in counts.items() if c > 1}
    assert dups <= active, sorted(dups - active)[:5]  # only tasks in flight at the kill
    wait_for(lambda: r.llen(keys.active_key("default")) == 0, timeout=10, what="active empty")
    assert r.zcard(keys.lease_key("default")) == 0
    report(
        {
            "scenario": "supervisor_kill_9",
            "tasks": len(ids),
            "lost": 0,
            "duplicates": sum(c - 1 for c in counts.values()),
            "in_flight": len(active),
            "orphans_exited_after_s": round(orphan_exit, 1),
        }
    )
    p2.signal(signal.SIGTERM)
    assert p2.wait(30) == ExitCode.OK


def test_sigterm_while_redis_is_down_exits_in_bounded_time_and_loses_nothing(
    workers: Workers, aof_redis: RedisServer, redis_url: str, r: redis.Redis
) -> None:
    ids = enqueue_recs(aof_redis.url, 300, sleep=0.3)
    p = workers.start(
        aof_redis.url,
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--lease-duration",
        "3",
        "--shutdown-timeout",
        "2",
        record_url=redis_url,
    )
    wait_for(lambda: len(done_counts(r)) >= 30, timeout=30, what="30 tasks done")
    # Every descendant, recorded while the supervisor still lives: once it is reaped,
    # asking it for its children answers nothing.
    tree = psutil.Process(p.pid).children(recursive=True)
    assert len(tree) == 2, tree  # two workers, one hosting the maintenance duties
    aof_redis.stop()
    time.sleep(0.5)
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    # shutdown timeout (2 s) + the supervisor's stop grace: never a hang on Redis.
    code = p.wait(30)
    stopped_after = time.monotonic() - t0
    # A stop on request exits OK even though the drain could not requeue: the tasks
    # it held come back when their leases expire (checked below).
    assert code == ExitCode.OK, p.log()[-3000:]
    assert not [c for c in tree if running(c)], [c.pid for c in tree if running(c)]
    aof_redis.start()
    p2 = workers.start(
        aof_redis.url,
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--lease-duration",
        "3",
        record_url=redis_url,
    )
    wait_for(
        lambda: not missing(ids, done_counts(r)), timeout=60, what="every task done", every=0.2
    )
    report(
        {
            "scenario": "sigterm_while_redis_down",
            "tasks": len(ids),
            "lost": 0,
            "exit_code": code,
            "stopped_after_s": round(stopped_after, 1),
        }
    )
    p2.signal(signal.SIGTERM)
    assert p2.wait(30) == ExitCode.OK


def test_kill_9_of_the_supervisor_while_redis_is_down_leaves_no_orphan(
    workers: Workers, aof_redis: RedisServer, redis_url: str, r: redis.Redis
) -> None:
    # The orphans' graceful stop cannot reach Redis to acknowledge or requeue, and
    # no supervisor is left to SIGKILL them: they must still go away on their own.
    ids = enqueue_recs(aof_redis.url, 200, sleep=0.3)
    p = workers.start(
        aof_redis.url,
        "--processes", "2",
        "--concurrency", "8",
        "--lease-duration", "3",
        "--shutdown-timeout", "2",
        record_url=redis_url,
    )  # fmt: skip
    wait_for(lambda: len(done_counts(r)) >= 20, timeout=30, what="20 tasks done")
    kids = psutil.Process(p.pid).children(recursive=True)  # recorded before the kill
    assert len(kids) == 2  # two workers, one hosting the maintenance duties
    aof_redis.stop()
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(5)
    t0 = time.monotonic()
    wait_for(lambda: not any(running(k) for k in kids), timeout=40, what="the orphans to exit")
    orphan_exit = time.monotonic() - t0
    aof_redis.start()
    p2 = workers.start(aof_redis.url, "--processes", "2", "--concurrency", "8",
                       "--lease-duration", "3", record_url=redis_url)  # fmt: skip
    wait_for(lambda: not missing(ids, done_counts(r)), timeout=60, what="every task done",
             every=0.2)  # fmt: skip
    report({"scenario": "supervisor_kill_9_redis_down", "tasks": len(ids), "lost": 0,
            "orphans_exited_after_s": round(orphan_exit, 1)})  # fmt: skip
    p2.signal(signal.SIGTERM)
    assert p2.wait(30) == ExitCode.OK
