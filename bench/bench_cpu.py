"""CPU per task of one fastq worker process: a measure the shared machine's load
does not skew the way wall-clock rates are skewed.

    python3 bench/bench_cpu.py [--n 5000] [--runs 3] [--kinds noop,rtt]
                               [--variants async-uvloop,async-asyncio,def-uvloop,def-asyncio]
                               [--trees /path/to/checkout-a,/path/to/checkout-b]

Starts its own redis-server. For each run, and within it each variant in turn
(alternating A/B, so load drifts hit every variant alike): one standalone worker
(``python3 -m fastq.worker fastq_peer:app``, concurrency 50) starts and goes idle;
N tasks are bulk-enqueued; once every task has been recorded (bench/common.py
verifies each ran exactly once by sequence number) the worker's user+system CPU
since it went idle is divided by N. Prints the median microseconds of worker CPU
per task for each variant, and the drain rate beside it (noisy here). ``--py-spy
PREFIX`` also samples the worker during each drain (collapsed stacks, for
``bench/profile_top.py``). ``--trees`` runs each variant once per checkout
(the worker imports that checkout's fastq), alternated: A/B of two versions.
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT)]

from common import DONE, numbered, verify_runs, wait_done  # noqa: E402

from fastq.devredis import RedisServer  # noqa: E402


def cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def one(
    url: str,
    r: redis.Redis,
    kind: str,
    variant: str,
    n: int,
    profile: str = "",
    root: Path = ROOT,
) -> tuple[float, float]:
    """(worker CPU microseconds per task, tasks/s) for one drain of ``n`` tasks, the
    worker importing fastq from the checkout ``root``."""
    handlers, loop = variant.split("-")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(BENCH / "peers"), str(BENCH), str(root)]),
        BENCH_REDIS_URL=url,
        BENCH_FASTQ_HANDLERS="sync" if handlers == "def" else "async",
        FASTQ_REDIS_URL=url,
        FASTQ_CONCURRENCY="50",
        FASTQ_UVLOOP="1" if loop == "uvloop" else "0",
    )
    r.flushdb()
    worker = subprocess.Popen(
        [sys.executable, "-m", "fastq.worker", "fastq_peer:app"],
        env=env,
        cwd=str(BENCH / "peers"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc = psutil.Process(worker.pid)
        time.sleep(1.5)  # start-up and the first idle polls
        import fastq_peer

        fastq_peer.PEER.open(url)
        spy = None
        if profile:  # collapsed stacks of the worker during the drain (py-spy record -f raw)
            out = f"{profile}.{kind}.{variant}.txt"
            cmd = ["py-spy", "record", "-p", str(worker.pid), "-f", "raw", "-r", "250", "-o", out]
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        before = cpu(proc)
        t0 = time.perf_counter()
        fastq_peer.PEER.enqueue_bulk(numbered(n, kind=kind))
        wait_done(r, n, 120, None)
        elapsed = time.perf_counter() - t0
        used = cpu(proc) - before
        if spy:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            spy.wait(30)
        fastq_peer.PEER.close()
        time.sleep(0.2)  # a task run twice would show up now
        verify_runs(r, n)
        assert int(r.get(DONE) or 0) == n
        return used / n * 1e6, n / elapsed
    finally:
        worker.terminate()
        worker.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default="noop,rtt")
    ap.add_argument("--variants", default="async-uvloop,async-asyncio,def-uvloop,def-asyncio")
    ap.add_argument("--py-spy", default="", metavar="PREFIX", help="profile to PREFIX.*.txt")
    ap.add_argument(
        "--trees",
        default="",
        help="comma list of checkouts whose fastq the worker runs, alternated (A/B of versions)",
    )
    args = ap.parse_args()
    trees = [Path(t) for t in args.trees.split(",")] if args.trees else [ROOT]
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    try:
        r = redis.Redis.from_url(server.url)
        for kind in args.kinds.split(","):
            got: dict[str, list[tuple[float, float]]] = {}
            where: dict[str, tuple[str, Path]] = {}
            for v in args.variants.split(","):
                for t in trees:
                    name = v if len(trees) == 1 else f"{v}@{t}"
                    got[name] = []
                    where[name] = (v, t)
            for i in range(args.runs):
                for v in got:
                    variant, tree = where[v]
                    us, rate = one(server.url, r, kind, variant, args.n, args.py_spy, tree)
                    got[v].append((us, rate))
                    print(f"  {kind} {v} run {i + 1}: {us:.0f} us CPU/task, {rate:,.0f} tasks/s")
            for v, res in got.items():
                us = statistics.median(x for x, _ in res)
                rate = statistics.median(y for _, y in res)
                print(f"{kind:5} {v:14} median {us:6.0f} us worker CPU/task  {rate:8,.0f} tasks/s")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
