"""Pickup latency of tasks pushed without a wake-up, as Go Asynq pushes them.

    python3 bench/bench_pickup_go.py [--n 100] [--runs 2]

Starts its own redis-server and ``fastq-worker fastq_peer:app --processes 2``,
then writes tasks one at a time the way Go Asynq's enqueue does (task hash +
LPUSH on the pending list, no fastq wake token; ``tests/asynq_writer.py``),
spaced 5-50 ms apart. Each task carries its write time and its handler records
start - write. Runs alternate between keyspace wake-ups on (the default) and
``--no-keyspace-wakeups`` (the 100 ms poll only); prints p50 / p99 per mode.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT), str(ROOT / "tests")]

from asynq_writer import put_task  # noqa: E402
from common import LATENCY, percentile, verify_runs, wait_done  # noqa: E402

from fastq.devredis import RedisServer  # noqa: E402

LAUNCHER = "import sys; from fastq.supervisor.cli import main; sys.exit(main())"


def one(url: str, r: redis.Redis, n: int, keyspace: bool) -> list[float]:
    r.flushdb()
    r.config_set("notify-keyspace-events", "")  # fastq-worker turns it on when asked to
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(BENCH / "peers"), str(BENCH), str(ROOT)]),
        BENCH_REDIS_URL=url,
    )
    flag = "--keyspace-wakeups" if keyspace else "--no-keyspace-wakeups"
    cmd = [sys.executable, "-c", LAUNCHER, "fastq_peer:app", "--processes", "2"]
    cmd += ["--redis-url", url, flag]
    sup = subprocess.Popen(
        cmd,
        env=env,
        cwd=str(BENCH / "peers"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)  # started and idle
        for seq in range(n):
            put_task(r, "default", "pending", type="noop", payload=b"%d %r" % (seq, time.time()))
            wait_done(r, seq + 1, 10, None)
            time.sleep(random.uniform(0.005, 0.05))
        time.sleep(0.3)
        verify_runs(r, n)
        return [float(x) * 1000 for x in r.lrange(LATENCY, 0, -1)]
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    try:
        r = redis.Redis.from_url(server.url)
        got: dict[str, list[tuple[float, float]]] = {"keyspace": [], "poll only": []}
        for i in range(args.runs):
            for mode in got:
                lat = one(server.url, r, args.n, mode == "keyspace")
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                got[mode].append((p50, p99))
                print(f"run {i + 1} {mode}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (n={len(lat)})")
        for mode, res in got.items():
            p50 = statistics.median(x for x, _ in res)
            p99 = statistics.median(y for _, y in res)
            print(f"median {mode}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
