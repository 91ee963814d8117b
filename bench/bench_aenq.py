"""bench/run.py's ``aenq`` workload alone, in-process: 100 coroutines share one
AsyncClient, each building a ``fastq.Task`` per call as the peers build their jobs.

Starts its own private redis-server (unless ``--url``) and calls the same code as
run.py (``FastqPeer.enqueue_concurrent``: asyncio.run, the AsyncClient opened and
closed inside the timed region), then checks that every task reached the pending
list. Prints medians of the wall-clock rate, of this process's CPU per task (all,
then user mode) and of redis-server's CPU per task; the CPU figures stay
meaningful on a machine shared with other work.

    python3 bench/bench_aenq.py [--runs 5] [--n 50000] [--uvloop] [--profile]

``--uvloop`` installs uvloop's event loop policy first (fastq itself never does so
for a producer). ``--profile`` prints cProfile's top functions of one run. For an
instruction count that ignores the machine's load, run it under callgrind with two
sizes N over 5,000 (the warm-up run is 5,000 tasks) and subtract: the
start-up cost cancels, ``(Ir(N2) - Ir(N1)) / (N2 - N1)`` is per task:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python3 bench/bench_aenq.py --runs 1 --n N
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "peers"), str(BENCH.parent / "tests")]

import redis  # noqa: E402
from common import numbered  # noqa: E402
from fastq_peer import FastqPeer  # noqa: E402
from redis_harness import RedisServer  # noqa: E402

CALLERS = 100  # bench/run.py's default --callers


def redis_cpu(r: redis.Redis) -> float:
    """redis-server's CPU seconds so far (user + system)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def once(url: str, n: int) -> tuple[float, float, float, float]:
    """One timed run: (wall seconds, CPU seconds, user-mode seconds, Redis CPU seconds)."""
    r = redis.Redis.from_url(url)
    r.flushdb()
    server0 = redis_cpu(r)
    peer = FastqPeer()
    jobs = numbered(n)
    peer.open(url)
    try:
        user0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        wall0, cpu0 = time.perf_counter(), time.process_time()
        peer.enqueue_concurrent(jobs, callers=CALLERS)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        user = resource.getrusage(resource.RUSAGE_SELF).ru_utime - user0
    finally:
        peer.close()
    server = redis_cpu(r) - server0
    got = r.llen("asynq:{default}:pending")
    r.close()
    if got != n:
        raise SystemExit(f"{got} tasks pending, expected {n}")
    return wall, cpu, user, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=50_000, help="tasks per run (run.py: 50,000)")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    ap.add_argument("--profile", action="store_true", help="cProfile one run instead")
    ap.add_argument("--url", help="an existing Redis (flushed!) instead of a private one")
    args = ap.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    server = None
    if args.url is None:
        server = RedisServer()
        server.start()
    url = args.url or server.url  # type: ignore[union-attr]
    try:
        once(url, min(args.n, 5000))  # scripts loaded, code warm
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            once(url, args.n)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            return
        runs = [once(url, args.n) for _ in range(args.runs)]
    finally:
        if server is not None:
            server.stop()
    med, n = statistics.median, args.n
    print(
        f"aenq x{CALLERS} ({'uvloop' if args.uvloop else 'asyncio'}): "
        f"{med(n / run[0] for run in runs):,.0f} tasks/s, client CPU "
        f"{med(run[1] for run in runs) / n * 1e6:.2f} us/task (user "
        f"{med(run[2] for run in runs) / n * 1e6:.2f}), redis-server CPU "
        f"{med(run[3] for run in runs) / n * 1e6:.2f} us/task"
    )


if __name__ == "__main__":
    main()
