"""Metrics benchmark: the Redis cost of one queue-metrics scrape, and the hot-path
overhead of worker metrics.

    python3 bench/bench_metrics.py [--queues 200] [--tasks 50] [--scrapes 20]
    python3 bench/bench_metrics.py --overhead [--n 20000] [--runs 5]

Scrape cost (its own redis-server): ``--queues`` queues each holding ``--tasks``
tasks spread over pending, scheduled, retry and archived, one of them paused. It
prints the Redis round trips one scrape makes (counted on the plan the Inspector
runs), the scrape's wall time, the longest single command Redis ran during the
scrapes (SLOWLOG with a 0 µs threshold: no other client runs meanwhile), and the
worst PING latency another client saw while the scrapes ran.

Overhead: ``bench_worker.py``'s drain (1 worker process, no-op ``async def``
tasks), alternating metrics off and on, ``--runs`` times each. Prints the median
drain rate and the worker's CPU time per task of each, and the difference in %;
then the cost of the hook alone (``WorkerMetrics.finished``, timed in-process), as a
share of the worker's CPU per task. On a shared machine the end-to-end figures move
by several % from run to run; the hook's own cost is the steadier number.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fastq import keys  # noqa: E402
from fastq.client import Client  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.inspect import ops  # noqa: E402
from fastq.inspect.inspector import Inspector  # noqa: E402
from fastq.rdb.conn import SyncConn  # noqa: E402
from fastq.rdb.plan import _exec_sync  # noqa: E402
from fastq.task import Task  # noqa: E402

PINGER = """
import signal, sys, time, redis
r = redis.Redis.from_url(sys.argv[1])
worst = 0.0
def done(*_):
    print(worst, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    t0 = time.perf_counter()
    r.ping()
    worst = max(worst, time.perf_counter() - t0)
"""


def fill(url: str, queues: int, tasks: int) -> None:
    now = time.time()
    with Client(url) as client:
        for i in range(queues):
            q = f"q{i:03d}"
            batch = []
            for j in range(tasks):
                kind = j % 4
                if kind == 0:
                    batch.append(Task("work", b"x" * 64, queue=q))
                elif kind == 1:
                    batch.append(Task("work", b"x" * 64, queue=q, process_at=now + 3600))
                else:
                    batch.append(Task("work", b"x" * 64, queue=q, max_retry=0))
            client.enqueue_many(batch)
    r = redis.Redis.from_url(url)
    r.set(keys.paused_key("q000"), int(now))
    # Move the max_retry=0 pending ones of every queue into retry and archived
    # directly, so those indexes have members too (the layout is all the scrape reads).
    for i in range(queues):
        q = f"q{i:03d}"
        ids = [x.decode() for x in r.lrange(keys.pending_key(q), 0, -1)]
        half = ids[: len(ids) // 2]
        for n, tid in enumerate(half):
            r.lrem(keys.pending_key(q), 1, tid)
            state = "retry" if n % 2 else "archived"
            r.zadd(keys.state_key(q, state), {tid: now - 5})
            r.hset(keys.task_key(q, tid), "state", state)
    r.close()


VERBOSE = "-v" in sys.argv


def round_trips(url: str) -> int:
    conn = SyncConn(Inspector(url).config)
    plan = ops.queue_metrics()
    n = 0
    try:
        batch = next(plan)
        while True:
            n += 1
            batch = plan.send(_exec_sync(conn, batch))
    except StopIteration:
        pass
    conn.close()
    return n


def worst_ping_during(url: str, work: Callable[[], None]) -> float:
    """Worst PING latency another process sees while ``work`` runs. (In this process
    the pinger would wait for the GIL while a scrape decodes replies.)"""
    pinger = subprocess.Popen(
        [sys.executable, "-c", PINGER, url], stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    work()
    pinger.terminate()
    out, _ = pinger.communicate()
    return float(out.split()[-1])


def _redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def scrape_cost(queues: int, tasks: int, scrapes: int) -> None:
    server = RedisServer()
    server.start()
    try:
        fill(server.url, queues, tasks)
        trips = round_trips(server.url)
        insp = Inspector(server.url)
        insp.queue_metrics()  # load the scripts
        r = redis.Redis.from_url(server.url)
        r.config_set("slowlog-log-slower-than", 0)
        r.config_set("slowlog-max-len", 100_000)
        r.slowlog_reset()
        idle_ping = worst_ping_during(server.url, lambda: time.sleep(2.0))
        walls: list[float] = []
        rows: list[object] = []

        def scrape_all() -> None:
            for _ in range(scrapes):
                t0 = time.perf_counter()
                rows[:] = insp.queue_metrics()
                walls.append(time.perf_counter() - t0)

        cpu0 = _redis_cpu(r)
        r.slowlog_reset()
        busy_ping = worst_ping_during(server.url, scrape_all)
        cpu = (_redis_cpu(r) - cpu0) / scrapes
        log = r.slowlog_get(100_000)
        top = [e for e in log if e["command"].upper().startswith(b"EVALSHA")]
        longest = max(top, key=lambda e: e["duration"])
        if VERBOSE:
            for e in sorted(top, key=lambda e: -e["duration"])[:5]:
                print(f"  {e['duration']} us {e['command'][:120]!r}")
        print(
            f"{len(rows)} queues x {tasks} tasks: {trips} Redis round trips per scrape; "
            f"scrape wall p50 {statistics.median(walls) * 1000:.1f} ms, "
            f"max {max(walls) * 1000:.1f} ms ({scrapes} scrapes); Redis CPU per scrape "
            f"{cpu * 1000:.1f} ms; script calls: median "
            f"{statistics.median(e['duration'] for e in top) / 1000:.2f} ms, "
            f"longest {longest['duration'] / 1000:.2f} ms; worst PING of another client "
            f"{busy_ping * 1000:.1f} ms while scraping, {idle_ping * 1000:.1f} ms idle",
            flush=True,
        )
        insp.close()
        r.close()
    finally:
        server.cleanup()


def overhead(n: int, runs: int) -> None:
    import tempfile

    import bench_worker as bw

    server = RedisServer()
    server.start()
    mpdir = tempfile.mkdtemp(prefix="fastq-bench-metrics-")
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    plain = list(bw.WORKER)
    try:
        r = redis.Redis.from_url(server.url)
        client = Client(server.url)
        for i in range(runs * 2):
            mode = ("off", "on")[i % 2]
            if mode == "on":
                bw.os.environ["PROMETHEUS_MULTIPROC_DIR"] = mpdir
                bw.WORKER[:] = [str(ROOT / "bench" / "metrics_worker.py")]
            else:
                bw.WORKER[:] = plain
            cpu = _drain_with_cpu(bw, server.url, r, client, n)
            results[mode].append(cpu)
            print(f"  {mode}: {cpu[0]:,.0f} tasks/s, {cpu[1]:.2f} µs CPU/task", flush=True)
        client.close()
    finally:
        server.cleanup()
    hook_ns = hook_cost_ns()
    med = {
        m: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
        for m, v in results.items()
    }
    rate_pct = (med["on"][0] / med["off"][0] - 1) * 100
    cpu_pct = (med["on"][1] / med["off"][1] - 1) * 100
    print(
        f"metrics off: {med['off'][0]:,.0f} tasks/s, {med['off'][1]:.2f} µs CPU/task; "
        f"on: {med['on'][0]:,.0f} tasks/s, {med['on'][1]:.2f} µs CPU/task; "
        f"drain rate {rate_pct:+.1f} %, worker CPU per task {cpu_pct:+.1f} % "
        f"(medians of {runs} alternating runs, {n} tasks each); the hook alone: "
        f"{hook_ns:.0f} ns per finished task = {hook_ns / 10 / med['off'][1]:.1f} % of the "
        "worker's CPU per task with metrics off",
        flush=True,
    )


def hook_cost_ns(n: int = 300_000) -> float:
    """``WorkerMetrics.finished`` on a succeeded task, timed in this process (best of 5)."""
    import os
    import tempfile
    import timeit

    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="fastq-bench-"))
    from fastq._core import TaskMessage
    from fastq.metrics.worker import WorkerMetrics
    from fastq.worker.executor import Running

    hooks = WorkerMetrics()
    now = time.time()
    r = Running(TaskMessage(type="noop", id="x", queue="default"), "default", now, now + 30)
    r.pending_since = int(now * 1e9) - 1_000_000
    finished = hooks.finished
    best = min(timeit.repeat(lambda: finished(r, None), number=n, repeat=5))
    empty = min(timeit.repeat(lambda: None, number=n, repeat=5))
    return (best - empty) / n * 1e9


def _drain_with_cpu(
    bw: Any, url: str, r: redis.Redis, client: Client, n: int
) -> tuple[float, float]:
    """bench_worker's drain (one process, concurrency 100), also reading the worker's
    CPU time over the drain alone (not its start-up)."""
    r.flushall()
    r.set(keys.paused_key(bw.Q), int(time.time()))
    tasks = [Task(bw.HANDLER[0]) for _ in range(n)]
    for i in range(0, n, 5000):
        client.enqueue_many(tasks[i : i + 5000], queue=bw.Q)
    procs = bw.start_workers(url, 1, 100)
    try:
        bw.wait_ready(r, 1)
        proc = psutil.Process(procs[0].pid)
        cpu0 = sum(proc.cpu_times()[:2])
        start = time.perf_counter()
        r.delete(keys.paused_key(bw.Q))
        r.lpush(keys.wake_key(bw.Q), *(["1"] * 16))
        while int(r.get(keys.processed_total_key(bw.Q)) or 0) < n:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        cpu = sum(proc.cpu_times()[:2]) - cpu0
    finally:
        bw.stop_workers(procs)
    return n / elapsed, cpu / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queues", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--overhead", action="store_true", help="measure the worker hot path instead")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-v", action="store_true", help="show the five longest commands")
    args = ap.parse_args()
    if args.overhead:
        overhead(args.n, args.runs)
    else:
        scrape_cost(args.queues, args.tasks, args.scrapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
