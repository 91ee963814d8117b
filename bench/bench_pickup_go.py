"""Pickup latency of tasks pushed without a wake-up, as Go Asynq pushes them.

    python3 bench/bench_pickup_go.py [--n 100] [--runs 2] [--producer go|fastq]

Starts its own redis-server and ``fastq-worker fastq_peer:app --processes 2``,
then writes tasks one at a time the way Go Asynq's enqueue does (task hash +
LPUSH on the pending list, no fastq wake token; ``tests/asynq_writer.py``),
spaced 5-50 ms apart. Each task carries its write time and its handler records
start - write. Runs alternate between keyspace wake-ups on (the default) and
``--no-keyspace-wakeups`` (the 100 ms poll only); prints p50 / p99 per mode, and
the Redis work per task: script calls (fetches, acks, heartbeats) and LPUSHes
(the producer's own and wake tokens). ``--producer fastq`` enqueues with ``fastq.Client`` instead
(wake token included): what keyspace events cost tasks that need none.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT), str(ROOT / "tests")]

from asynq_writer import put_task  # noqa: E402
from common import LATENCY, percentile, start_fastq_worker, verify_runs, wait_done  # noqa: E402

from fastq.client import Client  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.task import Task  # noqa: E402


def calls(r: redis.Redis) -> dict[str, int]:
    stats = r.info("commandstats")
    return {k[len("cmdstat_") :]: int(v["calls"]) for k, v in stats.items()}


def one(
    url: str, r: redis.Redis, n: int, keyspace: bool, producer: str
) -> tuple[list[float], dict[str, float]]:
    r.flushdb()
    r.config_set("notify-keyspace-events", "")  # fastq-worker turns it on when asked to
    flag = "--keyspace-wakeups" if keyspace else "--no-keyspace-wakeups"
    sup = start_fastq_worker(url, ROOT, "--processes", "2", "--redis-url", url, flag)
    client = Client(url) if producer == "fastq" else None
    try:
        time.sleep(1.5)  # started and idle
        before = calls(r)
        for seq in range(n):
            payload = b"%d %r" % (seq, time.time())
            if client is None:
                put_task(r, "default", "pending", type="noop", payload=payload)
            else:
                client.enqueue(Task("noop", payload), queue="default")
            wait_done(r, seq + 1, 10, None)
            time.sleep(random.uniform(0.005, 0.05))
        time.sleep(0.3)
        after = calls(r)
        verify_runs(r, n)
        # Script calls (fetches, acks, heartbeats) and LPUSHes (the producer's, and
        # wake tokens) per task, whoever sent them.
        work = {c: (after.get(c, 0) - before.get(c, 0)) / n for c in ("evalsha", "lpush")}
        return [float(x) * 1000 for x in r.lrange(LATENCY, 0, -1)], work
    finally:
        if client is not None:
            client.close()
        sup.send_signal(signal.SIGTERM)
        sup.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--producer", choices=["go", "fastq"], default="go")
    args = ap.parse_args()
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    try:
        r = redis.Redis.from_url(server.url)
        got: dict[str, list[tuple[float, float, dict[str, float]]]] = {
            "keyspace": [],
            "poll only": [],
        }
        for i in range(args.runs):
            for mode in got:
                lat, work = one(server.url, r, args.n, mode == "keyspace", args.producer)
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                got[mode].append((p50, p99, work))
                print(
                    f"run {i + 1} {mode}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (n={len(lat)}); "
                    + ", ".join(f"{k} {v:.2f}" for k, v in work.items())
                    + " per task"
                )
        for mode, res in got.items():
            p50 = statistics.median(x for x, _, _ in res)
            p99 = statistics.median(y for _, y, _ in res)
            work = {k: statistics.median(w[k] for _, _, w in res) for k in res[0][2]}
            print(
                f"median {mode} ({args.producer} producer): p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
                + ", ".join(f"{k} {v:.2f}" for k, v in work.items())
                + " per task"
            )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
