"""Worker engine benchmark: drain rate and idle pickup latency.

    python3 bench/bench_worker.py [--n 20000] [--runs 3] [--concurrency 100]

Starts its own redis-server, then for 1 and 2 worker processes
(``python3 -m fastq.worker``, app ``tests/workerapps/apps.py``):

- drain: N no-op ``async def`` tasks (``--sync``: ``def`` tasks) are enqueued
  with ``Client.enqueue_many`` into a paused queue; the clock starts when the
  queue is resumed and stops when the processed counter reaches N (tasks/s, median of the runs);
- pickup: with the workers idle, one task at a time is enqueued with
  ``Client.enqueue``; the handler stamps its start time as the task's result.
  Reported: p50 / p99 of (handler start - time just before enqueue).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))

from fastq import keys  # noqa: E402
from fastq.client import Client  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.task import Task  # noqa: E402

Q = "default"
VERBOSE = "-v" in sys.argv
HANDLER = ["noop"]  # the task type drained: "noop" (async def) or "noop_sync" (def)
# How a worker process starts; --metrics swaps in bench/metrics_worker.py (hooks on).
WORKER = ["-m", "fastq.worker"]


def start_workers(url: str, n: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update(
        FASTQ_REDIS_URL=url,
        FASTQ_MAINTENANCE="0",
        FASTQ_CONCURRENCY=str(concurrency),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
    )
    return [
        subprocess.Popen(
            [sys.executable, *WORKER, "workerapps.apps:app"],
            env=env,
            cwd=str(TESTS),
        )
        for _ in range(n)
    ]


def use_metrics() -> None:
    """Start workers with the metrics hooks on (a fresh multiprocess dir)."""
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fastq-bench-metrics-")
    WORKER[:] = [str(ROOT / "bench" / "metrics_worker.py")]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_ready(r: redis.Redis, n: int) -> None:
    # Standalone workers write the server heartbeat as soon as they run.
    deadline = time.monotonic() + 30
    while r.zcard(keys.ALL_SERVERS) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.02)
    time.sleep(0.2)


def drain(url: str, r: redis.Redis, client: Client, workers: int, n: int, conc: int) -> float:
    r.flushall()
    r.set(keys.paused_key(Q), int(time.time()))
    tasks = [Task(HANDLER[0]) for _ in range(n)]
    for i in range(0, n, 5000):
        client.enqueue_many(tasks[i : i + 5000], queue=Q)
    procs = start_workers(url, workers, conc)
    try:
        wait_ready(r, workers)
        start = time.perf_counter()
        r.delete(keys.paused_key(Q))
        r.lpush(keys.wake_key(Q), *(["1"] * 16))
        while int(r.get(keys.processed_total_key(Q)) or 0) < n:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        if VERBOSE:
            cpu = [sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs]
            rc = r.info("cpu")
            print(
                f"  workers cpu {cpu} s, redis cpu {rc['used_cpu_user'] + rc['used_cpu_sys']:.2f} s"
                f", wall {elapsed:.2f} s",
                flush=True,
            )
    finally:
        stop_workers(procs)
    return n / elapsed


def pickup(url: str, r: redis.Redis, client: Client, workers: int, samples: int) -> list[float]:
    r.flushall()
    procs = start_workers(url, workers, 10)
    out: list[float] = []
    try:
        wait_ready(r, workers)
        for _ in range(samples):
            time.sleep(0.02)  # workers are idle, blocked on the wake key
            t0 = time.time()
            info = client.enqueue(Task("latency"), queue=Q, retention=600)
            key = keys.task_key(Q, info.id)
            while True:
                res = r.hget(key, "result")
                if res is not None:
                    break
                time.sleep(0.0005)
            out.append(float(res) - t0)
    finally:
        stop_workers(procs)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("-v", action="store_true", help="print CPU use per drain")
    ap.add_argument("--sync", action="store_true", help="drain def handlers (thread pool)")
    ap.add_argument("--processes", default="1,2", help="worker process counts to run")
    ap.add_argument("--metrics", action="store_true", help="workers record metrics (hooks on)")
    args = ap.parse_args()
    if args.metrics:
        use_metrics()
    if args.sync:
        HANDLER[0] = "noop_sync"
    server = RedisServer()
    server.start()
    try:
        r = redis.Redis.from_url(server.url)
        client = Client(server.url)
        for workers in [int(x) for x in args.processes.split(",")]:
            rates = [
                drain(server.url, r, client, workers, args.n, args.concurrency)
                for _ in range(args.runs)
            ]
            lats: list[float] = []
            for _ in range(args.runs):
                lats.append(0.0)
                got = pickup(server.url, r, client, workers, args.samples // args.runs)
                lats.pop()
                lats.extend(got)
            print(
                f"{workers} process(es): drain {statistics.median(rates):,.0f} tasks/s "
                f"(runs: {', '.join(f'{x:,.0f}' for x in rates)}); "
                f"idle pickup p50 {pct(lats, 50) * 1000:.2f} ms, "
                f"p99 {pct(lats, 99) * 1000:.2f} ms ({len(lats)} samples)",
                flush=True,
            )
        client.close()
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
