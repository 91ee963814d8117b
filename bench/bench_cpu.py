"""CPU per task of one fastq worker process: a measure the shared machine's load
does not skew the way wall-clock rates are skewed.

    python3 bench/bench_cpu.py [--n 5000] [--runs 3] [--kinds noop,rtt]
                               [--variants async-uvloop,async-asyncio,def-uvloop,def-asyncio]
                               [--concurrency 50] [--roots A_CHECKOUT,B_CHECKOUT]

Starts its own redis-server. For each run, and within it each variant in turn
(alternating A/B, so load drifts hit every variant alike): one standalone worker
(``python3 -m fastq.worker fastq_peer:app``, concurrency 50) starts and goes idle;
N tasks are bulk-enqueued; once every task has been recorded (bench/common.py
verifies each ran exactly once by sequence number) the worker's user+system CPU
since it went idle is divided by N. Prints the median microseconds of worker CPU
per task for each variant, and the drain rate beside it (noisy here). ``--roots``
runs the worker from each listed fastq checkout in turn within every run (an A/B
of two branches; default: this checkout). ``--py-spy
PREFIX`` also samples the worker during each drain (collapsed stacks, for
``bench/profile_top.py``). ``--redis-stats`` also logs every Redis command of the
drain (``SLOWLOG`` with a 0 us threshold, which adds a little Redis CPU of its own)
and prints, per script or command, calls per task and Redis microseconds per call
and per task (the worker's scripts by name; the bench's own writes are listed too),
plus redis-server CPU per task (user+system, including the bulk enqueue).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

from fastq.scripts import all_scripts

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
    concurrency: int = 50,
    root: Path = ROOT,
    stats: dict[str, list[float]] | None = None,
    server_pid: int = 0,
) -> tuple[float, float]:
    """(worker CPU microseconds per task, tasks/s) for one drain of ``n`` tasks."""
    handlers, loop = variant.split("-")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(BENCH / "peers"), str(BENCH), str(root)]),
        BENCH_REDIS_URL=url,
        BENCH_FASTQ_HANDLERS="sync" if handlers == "def" else "async",
        FASTQ_REDIS_URL=url,
        FASTQ_CONCURRENCY=str(concurrency),
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
        if stats is not None:
            r.config_set("slowlog-log-slower-than", 0)
            r.config_set("slowlog-max-len", 1_000_000)
            r.slowlog_reset()
            server_before = cpu(psutil.Process(server_pid))
        before = cpu(proc)
        t0 = time.perf_counter()
        fastq_peer.PEER.enqueue_bulk(numbered(n, kind=kind))
        wait_done(r, n, 120, None)
        elapsed = time.perf_counter() - t0
        used = cpu(proc) - before
        if stats is not None:
            server_used = cpu(psutil.Process(server_pid)) - server_before
            r.config_set("slowlog-log-slower-than", 10000)
            _tally_slowlog(r, n, stats)
            stats.setdefault("redis-server CPU", []).append(server_used / n * 1e6)
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


_NAMES = {s.sha.encode(): name for name, s in all_scripts().items()}


def _name_scripts(root: Path) -> None:
    """Name the scripts of another checkout (``--roots``) by their SHAs too."""
    include = re.compile(r"^--@include (\w+)[ \t]*$", re.MULTILINE)
    lua = root / "fastq" / "lua"
    for path in lua.glob("*.lua"):
        src = include.sub(
            lambda m: (lua / "lib" / f"{m.group(1)}.lua").read_text().rstrip("\n"),
            path.read_text(),
        )
        _NAMES.setdefault(hashlib.sha1(src.encode()).hexdigest().encode(), path.stem)


def _tally_slowlog(r: redis.Redis, n: int, stats: dict[str, list[float]]) -> None:
    """Add per-task calls and microseconds of each script/command in the slowlog."""
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for entry in r.execute_command("SLOWLOG", "GET", 1_000_000):
        args = entry[3]
        cmd = args[0].decode().lower()
        if cmd in ("slowlog", "config", "info", "ping", "client", "select", "hello"):
            continue
        name = _NAMES.get(args[1], "eval (bench)") if cmd == "evalsha" else cmd
        calls[name] = calls.get(name, 0) + 1
        usec[name] = usec.get(name, 0) + int(entry[2])
    r.slowlog_reset()
    for name in calls:
        stats.setdefault(f"{name} calls", []).append(calls[name] / n)
        stats.setdefault(f"{name} us", []).append(usec[name] / n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default="noop,rtt")
    ap.add_argument("--variants", default="async-uvloop,async-asyncio,def-uvloop,def-asyncio")
    ap.add_argument("--py-spy", default="", metavar="PREFIX", help="profile to PREFIX.*.txt")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--roots", default="", help="fastq checkouts to alternate (default: this)")
    ap.add_argument("--redis-stats", action="store_true", help="Redis calls and us per task")
    args = ap.parse_args()
    roots = [Path(p).resolve() for p in args.roots.split(",") if p] or [ROOT]
    for root in roots:
        _name_scripts(root)
    server = RedisServer()
    server.start()
    os.environ["BENCH_REDIS_URL"] = server.url
    try:
        r = redis.Redis.from_url(server.url)
        for kind in args.kinds.split(","):
            named = {
                (f"{v} {root}" if len(roots) > 1 else v): (v, root)
                for v in args.variants.split(",")
                for root in roots
            }
            got: dict[str, list[tuple[float, float]]] = {name: [] for name in named}
            rstats: dict[str, dict[str, list[float]]] = {name: {} for name in named}
            for i in range(args.runs):
                for name, (v, root) in named.items():
                    us, rate = one(
                        server.url,
                        r,
                        kind,
                        v,
                        args.n,
                        args.py_spy,
                        args.concurrency,
                        root,
                        rstats[name] if args.redis_stats else None,
                        server.proc.pid if server.proc else 0,
                    )
                    got[name].append((us, rate))
                    print(f"  {kind} {name} run {i + 1}: {us:.0f} us CPU/task, {rate:,.0f} tasks/s")
            for v, res in got.items():
                us = statistics.median(x for x, _ in res)
                rate = statistics.median(y for _, y in res)
                print(f"{kind:5} {v:14} median {us:6.0f} us worker CPU/task  {rate:8,.0f} tasks/s")
                st = rstats[v]
                for key in sorted(k for k in st if k.endswith(" calls")):
                    name = key[: -len(" calls")]
                    c = statistics.median(st[key]) if len(st[key]) == args.runs else 0.0
                    u = statistics.median(st[f"{name} us"]) if c else 0.0
                    per_call = u / c if c else 0.0
                    print(
                        f"      redis {name:22} {c:7.3f} calls/task {per_call:7.1f} us/call"
                        f" {u:6.2f} us/task"
                    )
                if st:
                    cpu_us = statistics.median(st["redis-server CPU"])
                    print(f"      redis-server CPU {cpu_us:6.1f} us/task (with the enqueue)")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
