"""CPU per task of the ``def``-handler thread pool alone: no fetch, no ack, no worker.

    python3 bench/bench_defpool.py [--n 20000] [--runs 5] [--kinds noop,sleep0,rtt]
                                   [--trees /path/a,/path/b] [--concurrency 50]

Runs ``fastq.worker.executor.ThreadPool`` on a uvloop event loop the way a worker
does: up to ``--concurrency`` tasks in flight, topped up in batches once a quarter
of the slots is free (as the fetch loop does). Handlers: ``noop`` returns,
``sleep0`` calls ``time.sleep(0)`` (a system call that releases the GIL), ``rtt``
makes one redis-py INCR against a redis-server this script starts. Prints the
process CPU (user + system) per task, context switches per task (all threads)
and the number of threads the pool started. ``--trees`` alternates checkouts
(each run in a fresh subprocess with that tree first on sys.path): A/B of two
versions of the pool in one run, medians of ``--runs``. The tree ``direct`` is
no pool: the handler called in a loop on one thread, its own CPU per task.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ctx_switches() -> int:
    total = 0
    for status in Path(f"/proc/{os.getpid()}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if "ctxt_switches" in line:
                    total += int(line.split()[1])
        except OSError:
            pass  # a thread that just ended
    return total


def child(kind: str, n: int, concurrency: int, url: str, direct: bool) -> dict[str, float]:
    """One measurement in this process (the tree under test is first on sys.path)."""
    import asyncio
    import threading
    import time
    import uuid

    import uvloop

    from fastq._core import TaskMessage
    from fastq.app import App, IncomingTask, run_sync
    from fastq.worker.executor import Running, ThreadPool

    app = App()
    if kind == "rtt":
        import redis

        pool = redis.BlockingConnectionPool.from_url(url, max_connections=concurrency + 4)
        client = redis.Redis(connection_pool=pool)

        @app.task("t")
        def rtt(task: object, ctx: object) -> None:
            client.incr("bench:defpool")

    elif kind == "sleep0":

        @app.task("t")
        def sleep0(task: object, ctx: object) -> None:
            time.sleep(0)

    else:

        @app.task("t")
        def noop(task: object, ctx: object) -> None:
            pass

    route = app.route("t")
    if direct:  # the handler alone, called in a loop on this thread
        msg = TaskMessage(type="t", payload=b"", id=str(uuid.uuid4()), queue="q")
        run = Running(msg, "q", 0.0, 1e12)
        cpu0 = time.process_time()
        cs0 = ctx_switches()
        t0 = time.perf_counter()
        for _ in range(n):
            run_sync(route, IncomingTask(run.msg), run.ctx)
        cpu = time.process_time() - cpu0
        cs = ctx_switches() - cs0
        return {
            "us": cpu / n * 1e6,
            "rate": n / (time.perf_counter() - t0),
            "cs": cs / n,
            "threads": 0,
        }
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    msgs = [TaskMessage(type="t", payload=b"", id=str(uuid.uuid4()), queue="q") for _ in range(256)]

    async def main() -> dict[str, float]:
        done = loop.create_future()
        state = {"submitted": 0, "finished": 0, "inflight": 0}
        topup = max(1, concurrency // 4)

        def submit(k: int) -> None:
            for _ in range(k):
                i = state["submitted"]
                state["submitted"] += 1
                state["inflight"] += 1
                msg = msgs[i % len(msgs)]
                tp.submit(route, Running(msg, "q", 0.0, 1e12))

        def deliver(running: Running, exc: BaseException | None) -> None:
            if exc is not None:
                raise exc
            state["finished"] += 1
            state["inflight"] -= 1
            free = concurrency - state["inflight"]
            left = n - state["submitted"]
            if left and free >= min(topup, left):
                loop.call_soon(submit, min(free, left))
            if state["finished"] == n and not done.done():
                done.set_result(None)

        tp = ThreadPool(concurrency, loop, deliver)
        submit(min(concurrency, 1000))  # warm-up round is the first batch: threads start
        cpu0 = time.process_time()
        cs0 = ctx_switches()
        t0 = time.perf_counter()
        await done
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        cs = ctx_switches() - cs0
        threads = threading.active_count() - 1
        tp.stop()
        return {
            "us": cpu / n * 1e6,
            "rate": n / elapsed,
            "cs": cs / n,
            "threads": threads,
        }

    return loop.run_until_complete(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kinds", default="noop,sleep0,rtt")
    ap.add_argument(
        "--trees", default=f"direct,{ROOT}", help="comma list of checkouts to alternate"
    )
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        direct = args.concurrency == 0
        print(json.dumps(child(args.child, args.n, args.concurrency, args.url, direct)))
        return 0
    sys.path.insert(0, str(ROOT))
    from fastq.devredis import RedisServer

    server = RedisServer()
    server.start()
    try:
        trees = args.trees.split(",")
        for kind in args.kinds.split(","):
            got: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
            for i in range(args.runs):
                for tree in trees:
                    direct = tree == "direct"
                    env = dict(os.environ, PYTHONPATH=str(ROOT) if direct else tree)
                    cmd = [sys.executable, __file__, "--child", kind, "--n", str(args.n)]
                    cmd += ["--concurrency", "0" if direct else str(args.concurrency)]
                    cmd += ["--url", server.url]
                    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    got[tree].append(res)
                    print(
                        f"  {kind} {tree} run {i + 1}: {res['us']:.1f} us CPU/task, "
                        f"{res['cs']:.2f} switches/task, {res['threads']:.0f} threads, "
                        f"{res['rate']:,.0f} tasks/s",
                        flush=True,
                    )
            for tree, res in got.items():
                med = {k: statistics.median(r[k] for r in res) for k in res[0]}
                print(
                    f"{kind:6} {tree}: median {med['us']:.1f} us CPU/task, "
                    f"{med['cs']:.2f} switches/task, {med['threads']:.0f} threads, "
                    f"{med['rate']:,.0f} tasks/s"
                )
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
