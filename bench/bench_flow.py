"""Flow-control benchmark: what a concurrency cap and a rate limit cost in drain rate.

    python3 bench/bench_flow.py [--n 10000] [--runs 3] [--processes 2] [--concurrency 50]
                                [--only uncapped,cap]   # scenarios whose name starts so

Starts its own redis-server and standalone worker processes (``python3 -m
fastq.worker``, app ``tests/workerapps/flow_bench_app.py``), then drains N no-op
``async def`` tasks per scenario, the scenarios interleaved run by run (the machine
is shared: interleaving spreads its noise over all of them), and prints the median
tasks/s of each and its ratio to the uncapped drain:

- uncapped: no cap, no rate limit (the baseline);
- cap = running concurrency: ``FASTQ_QUEUE_LIMITS`` equal to processes x concurrency
  (goal: within 10 %); it still binds now and then, as a finished task's lease
  counts until its acknowledgement flush while its worker already fetches again;
- cap = 2 x running concurrency: never binds, only the bookkeeping costs;
- cap 10: a cap well below the running concurrency (it binds);
- queue rate limit 1,000,000/s: a GCRA check in every fetch that never binds;
- per-type rate limit 1,000,000/s: one admission call per fetched batch (never binds);
- per-key cap 1, a key per task: one admission call per batch plus one release.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))

from fastq import keys  # noqa: E402
from fastq.client import Client  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.task import Task  # noqa: E402

Q = "default"


@dataclass(frozen=True)
class Scenario:
    name: str
    task_type: str = "noop"
    env: tuple[tuple[str, str], ...] = ()
    keyed: bool = False


def scenarios(running: int) -> list[Scenario]:
    return [
        Scenario("uncapped"),
        Scenario(
            f"cap {running} (= running concurrency)",
            env=(("FASTQ_QUEUE_LIMITS", f"{Q}={running}"),),
        ),
        Scenario(
            f"cap {2 * running} (= 2 x running concurrency)",
            env=(("FASTQ_QUEUE_LIMITS", f"{Q}={2 * running}"),),
        ),
        Scenario("cap 10", env=(("FASTQ_QUEUE_LIMITS", f"{Q}=10"),)),
        Scenario("queue rate limit 1,000,000/s", env=(("FASTQ_RATE_LIMITS", f"{Q}=1000000/s"),)),
        Scenario("type rate limit 1,000,000/s", task_type="noop_rated"),
        Scenario("per-key cap 1, a key per task", task_type="noop_keyed", keyed=True),
    ]


def start_workers(url: str, n: int, conc: int, s: Scenario) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update(
        FASTQ_REDIS_URL=url,
        FASTQ_MAINTENANCE="0",
        FASTQ_CONCURRENCY=str(conc),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
    )
    env.update(dict(s.env))
    return [
        subprocess.Popen(
            [sys.executable, "-m", "fastq.worker", "workerapps.flow_bench_app:app"],
            env=env,
            cwd=str(TESTS),
        )
        for _ in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def drain(url: str, r: redis.Redis, client: Client, s: Scenario, args: argparse.Namespace) -> float:
    r.flushall()
    r.set(keys.paused_key(Q), int(time.time()))
    tasks = [Task(s.task_type, f"k{i}".encode() if s.keyed else None) for i in range(args.n)]
    for i in range(0, args.n, 5000):
        client.enqueue_many(tasks[i : i + 5000], queue=Q)
    procs = start_workers(url, args.processes, args.concurrency, s)
    try:
        deadline = time.monotonic() + 30
        while r.zcard(keys.ALL_SERVERS) < args.processes:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.02)
        time.sleep(1.2)  # every worker has read the stored caps once
        start = time.perf_counter()
        r.delete(keys.paused_key(Q))
        r.lpush(keys.wake_key(Q), *(["1"] * 16))
        while int(r.get(keys.processed_total_key(Q)) or 0) < args.n:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
    finally:
        stop_workers(procs)
    return args.n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--only", default="", help="comma-separated name prefixes to run")
    args = ap.parse_args()
    server = RedisServer()
    server.start()
    try:
        r = redis.Redis.from_url(server.url)
        client = Client(server.url)
        todo = scenarios(args.processes * args.concurrency)
        if args.only:
            todo = [s for s in todo if s.name.startswith(tuple(args.only.split(",")))]
        rates: dict[str, list[float]] = {s.name: [] for s in todo}
        for _ in range(args.runs):
            for s in todo:
                rates[s.name].append(drain(server.url, r, client, s, args))
        base = statistics.median(rates[todo[0].name])
        print(
            f"{args.n:,} no-op tasks, {args.processes} process(es) x {args.concurrency}, "
            f"median of {args.runs} interleaved runs:"
        )
        for s in todo:
            med = statistics.median(rates[s.name])
            runs = ", ".join(f"{x:,.0f}" for x in rates[s.name])
            print(f"  {s.name:<36} {med:>9,.0f} tasks/s  {med / base:6.1%}  (runs: {runs})")
        client.close()
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
