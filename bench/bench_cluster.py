"""Drain throughput on a local Redis Cluster against one Redis on the same machine.

    python3 bench/bench_cluster.py [--n 20000] [--runs 3] [--concurrency 100]

Starts a private redis-server and a private 6-node cluster (3 masters, 3 replicas,
``fastq.devcluster``). For each, N no-op tasks are enqueued with
``Client.enqueue_many`` over 8 paused queues (spread across the cluster's masters
by their ``{queue}`` hash tags); one worker process (``python3 -m fastq.worker``,
app ``tests/workerapps/apps.py``) starts, the clock starts when the queues are
resumed and stops when their processed counters sum to N. Prints tasks/s (median of
the runs) per target and the ratio cluster / single: what the per-queue dequeue and
the cluster client cost. On 2 cores the cluster cannot scale up; it shares them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import redis.cluster  # noqa: E402

from fastq import keys  # noqa: E402
from fastq.client import Client  # noqa: E402
from fastq.devcluster import LocalCluster  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.task import Task  # noqa: E402

QUEUES = [f"q{i}" for i in range(8)]


def start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        FASTQ_REDIS_URL=url,
        FASTQ_MAINTENANCE="0",
        FASTQ_CONCURRENCY=str(concurrency),
        FASTQ_QUEUES=",".join(QUEUES),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
    )
    argv = [sys.executable, "-m", "fastq.worker", "workerapps.apps:app"]
    return subprocess.Popen(argv, env=env, cwd=str(TESTS))


def processed(r: redis.Redis) -> int:
    return sum(int(r.get(keys.processed_total_key(q)) or 0) for q in QUEUES)


def drain(url: str, r: redis.Redis, flush: Callable[[], None], n: int, conc: int) -> float:
    flush()
    for q in QUEUES:
        r.set(keys.paused_key(q), int(time.time()))
    with Client(url) as client:
        per = n // len(QUEUES)
        for q in QUEUES:
            for i in range(0, per, 5000):
                client.enqueue_many([Task("noop") for _ in range(min(5000, per - i))], queue=q)
    proc = start_worker(url, conc)
    try:
        deadline = time.monotonic() + 30
        while not r.exists(keys.ALL_SERVERS):  # the worker's first heartbeat
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start")
            time.sleep(0.02)
        time.sleep(0.3)
        start = time.perf_counter()
        for q in QUEUES:
            r.delete(keys.paused_key(q))
        while processed(r) < per * len(QUEUES):
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(15)
    return per * len(QUEUES) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()

    single = RedisServer()
    single.start()
    cluster = LocalCluster()
    cluster.start()
    try:
        r1 = redis.Redis(port=single.port)
        nodes = [redis.cluster.ClusterNode("127.0.0.1", x.port) for x in cluster.nodes]
        rc = redis.cluster.RedisCluster(startup_nodes=nodes)
        rates: dict[str, list[float]] = {"single": [], "cluster": []}
        for _ in range(a.runs):
            rates["single"].append(drain(single.url, r1, r1.flushall, a.n, a.concurrency))
            rates["cluster"].append(drain(cluster.url, rc, cluster.flush, a.n, a.concurrency))  # type: ignore[arg-type]
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"drain of {a.n} no-op tasks over 8 queues, 1 worker process, {a.runs} runs (median)")
        print(f"single Redis : {med['single']:8.0f} tasks/s")
        print(f"Redis Cluster: {med['cluster']:8.0f} tasks/s (3 masters, 3 replicas)")
        print(f"ratio cluster/single: {med['cluster'] / med['single']:.2f}")
    finally:
        cluster.cleanup()
        single.cleanup()


if __name__ == "__main__":
    main()
