"""Enqueue throughput: one by one (sync and async) and enqueue_many at several batch sizes.

Starts its own private redis-server (the test harness's launcher), so it never
touches a Redis someone else runs. Prints the median of several runs.

    python3 bench/bench_enqueue.py [--runs 5] [--one-by-one 5000] [--total 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import redis  # noqa: E402
from redis_harness import RedisServer  # noqa: E402

from fastq.client import AsyncClient, Client  # noqa: E402
from fastq.task import Task  # noqa: E402

PAYLOAD = b'{"user_id":12345,"template":"welcome","locale":"en"}'


def median_rate(runs: int, n: int, once: Callable[[], float], reset: Callable[[], None]) -> float:
    """Median tasks/s over ``runs`` runs of ``once`` (which returns elapsed seconds)."""
    rates = []
    for _ in range(runs):
        reset()
        rates.append(n / once())
    return statistics.median(rates)


def bench_sync_one_by_one(client: Client, n: int) -> float:
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]
    start = time.perf_counter()
    for t in tasks:
        client.enqueue(t)
    return time.perf_counter() - start


def bench_async_one_by_one(url: str, n: int) -> float:
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]

    async def run() -> float:
        async with AsyncClient(url) as client:
            await client.enqueue(Task("warmup"))  # connect and load scripts untimed
            start = time.perf_counter()
            for t in tasks:
                await client.enqueue(t)
            return time.perf_counter() - start

    return asyncio.run(run())


def bench_many(client: Client, total: int, batch: int) -> float:
    tasks = [Task("email:send", PAYLOAD) for _ in range(total)]
    start = time.perf_counter()
    for i in range(0, total, batch):
        client.enqueue_many(tasks[i : i + batch])
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--one-by-one", type=int, default=5000, help="tasks per one-by-one run")
    ap.add_argument("--total", type=int, default=100_000, help="tasks per enqueue_many run")
    args = ap.parse_args()

    server = RedisServer()
    server.start()
    raw = redis.Redis(port=server.port)
    try:
        def reset() -> None:
            raw.flushall()

        with Client(server.url) as client:
            client.enqueue(Task("warmup"))  # load scripts, publish the queue
            rate = median_rate(
                args.runs, args.one_by_one,
                lambda: bench_sync_one_by_one(client, args.one_by_one), reset,
            )
            print(f"enqueue one by one (sync):   {rate:>10,.0f} tasks/s")

        rate = median_rate(
            args.runs, args.one_by_one,
            lambda: bench_async_one_by_one(server.url, args.one_by_one), reset,
        )
        print(f"enqueue one by one (async):  {rate:>10,.0f} tasks/s")

        with Client(server.url) as client:
            for batch in (100, 1000, 10_000):
                rate = median_rate(
                    args.runs, args.total,
                    lambda b=batch: bench_many(client, args.total, b), reset,
                )
                print(f"enqueue_many batch {batch:>6}:   {rate:>10,.0f} tasks/s")
    finally:
        raw.close()
        server.cleanup()


if __name__ == "__main__":
    main()
