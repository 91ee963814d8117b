"""Fleet-wide flow control with real processes: three `fastq-worker` supervisors of two
worker processes each drain one queue against the test Redis, and the handlers
(tests/supervisorapps/flow_app.py) record in Redis how many of them run at once and
when each starts."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from supervisorapps.harness import SupervisorProc, wait_for

from fastq import keys
from fastq.client import Client
from fastq.task import Task

pytestmark = pytest.mark.timeout(240)
APP = "supervisorapps.flow_app:app"
SUPERVISORS = 3
TASKS = 5000  # the figure: about 40 s for the four tests on 2 quiet cores


@pytest.fixture
def started() -> Iterator[list[SupervisorProc]]:
    procs: list[SupervisorProc] = []
    yield procs
    for p in procs:
        p.close()


def fleet(started: list[SupervisorProc], tmp: Path, url: str, *args: str) -> None:
    for n in range(SUPERVISORS):
        argv = [APP, "--processes", "2", "--concurrency", "8", *args]
        started.append(SupervisorProc.real(argv, tmp / f"s{n}", {"FASTQ_REDIS_URL": url}))


def enqueue(url: str, kind: str, payloads: list[dict[str, object]], queue: str) -> None:
    with Client(url) as client:
        for i in range(0, len(payloads), 500):
            chunk = payloads[i : i + 500]
            client.enqueue_many([Task(kind, json.dumps(p).encode(), queue=queue) for p in chunk])


def done(r: redis.Redis) -> int:
    return int(r.llen("test:flow:done"))


def maxima(r: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.zrange("test:flow:max", 0, -1, withscores=True)}


def test_queue_cap_5_holds_across_three_supervisors(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    enqueue(redis_url, "capped", [{"sleep": 0.01}] * TASKS, "stripe")
    fleet(started, tmp_path, redis_url, "--queues", "stripe", "--queue-limits", "stripe=5")
    wait_for(lambda: done(r) >= TASKS, timeout=200, what="the queue drained")
    observed = maxima(r)["queue"]
    print(f"queue cap 5, {TASKS} tasks, 3x2 processes: observed max running = {observed}")
    assert observed == 5
    assert sorted(Counter(r.lrange("test:flow:done", 0, -1)).values())[-1] == 1


def test_per_key_cap_1_over_50_keys(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    payloads: list[dict[str, object]] = [
        {"user_id": f"u{i % 50}", "sleep": 0.01} for i in range(TASKS)
    ]
    enqueue(redis_url, "sync:user", payloads, "users")
    fleet(started, tmp_path, redis_url, "--queues", "users")
    wait_for(lambda: done(r) >= TASKS, timeout=200, what="the queue drained")
    seen = maxima(r)
    per_key = [v for k, v in seen.items() if k.startswith("user:")]
    print(
        f"per-key cap 1, 50 keys, {TASKS} tasks: max per key = {max(per_key)},"
        f" max running overall = {seen['all']}"
    )
    assert len(per_key) == 50 and max(per_key) == 1
    assert seen["all"] > 1  # different keys did run side by side
    assert r.zcard(keys.retry_key("users")) == 0
    for i in range(50):  # every slot released: no holder left behind
        assert r.zcard(keys.key_slots_key("users", f"u{i}")) == 0


def test_kill_9_of_a_worker_leaks_no_slot(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    n = 120
    enqueue(redis_url, "capped", [{"sleep": 0.5}] * n, "stripe")
    fleet(
        started,
        tmp_path,
        redis_url,
        "--queues",
        "stripe",
        "--queue-limits",
        "stripe=5",
        "--lease-duration",
        "3",
    )
    wait_for(lambda: maxima(r).get("queue") == 5, timeout=60, what="five running")
    # kill -9 a worker process that holds running tasks, then forget its runs
    running = "test:flow:running:queue"
    member = wait_for(lambda: r.zrange(running, 0, 0), timeout=20, what="a running task")[0]
    pid = int(member.split(b":")[0])
    psutil.Process(pid).send_signal(signal.SIGKILL)
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        timeout=10,
        what="the worker died",
    )
    dead = [m for m in r.zrange(running, 0, -1) if m.startswith(f"{pid}:".encode())]
    assert dead  # it died holding slots
    r.zrem(running, *dead)
    r.delete("test:flow:max")  # measure again after the kill
    wait_for(lambda: done(r) >= n, timeout=200, what="the queue drained after kill -9")
    after = maxima(r)["queue"]
    print(f"kill -9 of pid {pid} holding {len(dead)} slot(s): max running after = {after}")
    assert after == 5  # all five slots serve again, and never a sixth
    wait_for(lambda: r.zcard(keys.lease_key("stripe")) == 0, timeout=20, what="no lease left")


def test_rate_limit_200_per_second_across_three_supervisors(
    started: list[SupervisorProc], tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    n = 2600  # 13 s worth: the queue stays backlogged for the 11 s measured
    enqueue(redis_url, "rated", [{}] * n, "rl")
    fleet(started, tmp_path, redis_url, "--queues", "rl", "--rate-limits", "rl=200/s")

    def eleven_seconds() -> bool:  # windows 0..10 are complete
        span = r.lrange("test:flow:starts", 0, 0) + r.lrange("test:flow:starts", -1, -1)
        return len(span) == 2 and int(span[1]) - int(span[0]) > 11_100

    wait_for(eleven_seconds, timeout=60, what="11 s of starts")
    starts = sorted(int(x) for x in r.lrange("test:flow:starts", 0, -1))
    first = starts[0]
    windows = Counter((t - first) // 1000 for t in starts)
    rates = [windows[w] for w in range(1, 11)]  # every one-second window after the first
    print(f"rate limit 200/s: first window {windows[0]}, then {rates}")
    assert all(190 <= x <= 210 for x in rates), rates
