"""fastq-worker start-up and memory at rest.

    python3 bench/bench_start.py [--runs 5] [--processes 2]

Starts its own redis-server. Each run enqueues one task, then starts
``fastq-worker fastq_peer:app --processes N`` (the supervisor, N workers and the
maintenance child) and reports:

- start to first task: from just before the command is started to the moment
  the handler of that task records its completion (handler clock);
- memory at rest, 2 s later: RSS and PSS of every process in the tree (psutil
  ``memory_full_info``) and their sums. PSS splits pages shared after the fork
  among their sharers, so the sum of PSS is the tree's real footprint.

Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import os
import signal
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

from common import BOUNDS, numbered, wait_done  # noqa: E402

from fastq.devredis import RedisServer  # noqa: E402

LAUNCHER = "import sys; from fastq.supervisor.cli import main; sys.exit(main())"


def one(url: str, r: redis.Redis, processes: int) -> tuple[float, list[tuple[str, int, int]]]:
    """(seconds to the first task, [(process title, RSS, PSS)]) for one start."""
    import fastq_peer

    r.flushdb()
    fastq_peer.PEER.open(url)
    fastq_peer.PEER.enqueue(numbered(1))
    fastq_peer.PEER.close()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(BENCH / "peers"), str(BENCH), str(ROOT)]),
        BENCH_REDIS_URL=url,
    )
    t0 = time.time()
    sup = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            "fastq_peer:app",
            "--processes",
            str(processes),
            "--redis-url",
            url,
        ],
        env=env,
        cwd=str(BENCH / "peers"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_done(r, 1, 30, None)
        first = float(r.zscore(BOUNDS, "first") or 0) - t0
        time.sleep(2.0)
        root = psutil.Process(sup.pid)
        mem = []
        for p in [root, *root.children(recursive=True)]:
            info = p.memory_full_info()
            mem.append((" ".join(p.cmdline())[:60], info.rss, info.pss))
        return first, mem
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    mb = 2**20
    try:
        r = redis.Redis.from_url(server.url)
        starts, rss_sums, pss_sums, worst = [], [], [], []
        for i in range(args.runs):
            first, mem = one(server.url, r, args.processes)
            starts.append(first)
            rss_sums.append(sum(m[1] for m in mem) / mb)
            pss_sums.append(sum(m[2] for m in mem) / mb)
            worst.append(max(m[1] for m in mem[1:]) / mb if len(mem) > 1 else 0.0)
            procs = ", ".join(f"{m[1] / mb:.1f}/{m[2] / mb:.1f}" for m in mem)
            print(
                f"run {i + 1}: first task {first:.3f} s; RSS {rss_sums[-1]:.0f} MB,"
                f" PSS {pss_sums[-1]:.0f} MB over {len(mem)} processes (RSS/PSS MB: {procs})"
            )
        rss, pss = statistics.median(rss_sums), statistics.median(pss_sums)
        print(
            f"median: start to first task {statistics.median(starts):.3f} s;"
            f" tree RSS {rss:.0f} MB, PSS {pss:.0f} MB;"
            f" largest child RSS {statistics.median(worst):.1f} MB"
        )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
