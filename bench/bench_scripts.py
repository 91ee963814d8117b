"""Redis CPU per task of the worker's dequeue and ack_success scripts, alone.

    python3 bench/bench_scripts.py [--n 60000] [--batch 62] [--runs 5]
                                   [--queues 1,4] [--roots A_CHECKOUT,B_CHECKOUT]

Starts its own redis-server. For each checkout (its ``fastq/lua`` sources, loaded
with SCRIPT LOAD; the calls are built by this checkout's ``fastq.rdb.worker``, the
scripts' argument contract being the same), enqueues N tasks (one by one queue,
round robin over 1 or 4 weighted queues), then, as two workers would, fetches
``--batch`` tasks per call and acknowledges each fetched batch in one call per
queue. Redis's own CPU (``INFO cpu``, user + system) over the fetches and over the
acks is divided by N: microseconds of redis-server CPU per task for each script,
medians of ``--runs`` alternated runs. Client time is not counted. ``--held K`` keeps
K more leases (another worker's) in each queue's lease set, at the same score.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from common import QUEUES  # noqa: E402

import fastq  # noqa: E402
from fastq import keys  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402
from fastq.rdb import worker as rdb  # noqa: E402
from fastq.rdb.conn import _evalsha_args  # noqa: E402
from fastq.worker.fetcher import split_batch  # noqa: E402

_INCLUDE = re.compile(r"^--@include (\w+)[ \t]*$", re.MULTILINE)


def sources(root: Path) -> dict[str, str]:
    lua = root / "fastq" / "lua"
    return {
        name: _INCLUDE.sub(
            lambda m: (lua / "lib" / f"{m.group(1)}.lua").read_text().rstrip("\n"),
            (lua / f"{name}.lua").read_text(),
        )
        for name in ("dequeue", "ack_success")
    }


def cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def one(
    r: redis.Redis, url: str, root: Path, queues: list[str], n: int, batch: int, held: int = 0
) -> tuple[float, float]:
    r.flushdb()
    shas = {name: r.script_load(src) for name, src in sources(root).items()}
    with fastq.Client(url) as c:
        tasks = [fastq.Task("noop", b"%d" % i, queue=queues[i % len(queues)]) for i in range(n)]
        for i in range(0, n, 5000):
            c.enqueue_many(tasks[i : i + 5000])
    for q in queues:
        for i in range(held):
            r.zadd(keys.lease_key(q), {f"other-{i}": int(time.time() + 30)})
    weights = [QUEUES[q] for q in queues] if len(queues) > 1 else [1]

    def ev(call: rdb.Call) -> object:
        args = list(_evalsha_args(call))
        args[1] = shas[call.script]
        return r.execute_command(*args)

    fetch_us = ack_us = 0.0
    done = 0
    import random

    while done < n:
        expiry = int(time.time() + 30)
        quotas = split_batch(batch, weights, random.randrange) if len(queues) > 1 else ()
        call = rdb.dequeue_call(queues, batch, expiry, quotas, 16 * 1024 * 1024)
        c0 = cpu(r)
        reply = ev(call)
        c1 = cpu(r)
        got = rdb.parse_dequeue(queues, reply)  # type: ignore[arg-type]
        by_q: dict[str, list[rdb.Success]] = {}
        for f in got:
            by_q.setdefault(f.queue, []).append(rdb.Success(f.task_id, expiry))
        c2 = cpu(r)
        for q, items in by_q.items():
            ev(rdb.ack_success_call(q, items, time.time()))
        c3 = cpu(r)
        fetch_us += c1 - c0
        ack_us += c3 - c2
        done += len(got)
    return fetch_us / n * 1e6, ack_us / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--batch", type=int, default=62)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--queues", default="1,4")
    ap.add_argument("--roots", default="")
    ap.add_argument("--held", type=int, default=0)
    args = ap.parse_args()
    roots = [Path(p).resolve() for p in args.roots.split(",") if p] or [ROOT]
    sets = {"1": ["default"], "4": list(QUEUES)}
    server = RedisServer()
    server.start()
    try:
        r = redis.Redis.from_url(server.url)
        names = [(qs, root) for qs in args.queues.split(",") for root in roots]
        got: dict[tuple[str, Path], list[tuple[float, float]]] = {k: [] for k in names}
        for _ in range(args.runs):
            for qs, root in names:
                got[(qs, root)].append(
                    one(r, server.url, root, sets[qs], args.n, args.batch, args.held)
                )
        for (qs, root), res in got.items():
            f = statistics.median(x[0] for x in res)
            a = statistics.median(x[1] for x in res)
            print(
                f"{qs} queue(s) batch {args.batch} {root}: dequeue {f:.2f} + ack_success {a:.2f}"
                f" = {f + a:.2f} us of Redis CPU per task"
            )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
