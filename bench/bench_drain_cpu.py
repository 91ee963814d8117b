"""CPU per task of the whole no-op drain: both worker processes and redis-server.

    python3 bench/bench_drain_cpu.py [--n 60000] [--runs 3] [--queues 1,4]
                                     [--roots A_CHECKOUT,B_CHECKOUT] [--redis-stats]
                                     [--concurrency 50] [--sentinel | --tls]

On 2 cores the drain rate is capped by the CPU each task costs everywhere, not only
in the worker: this prints, per checkout and queue set, the median of worker CPU,
redis-server CPU and their sum per task, the share of the 2 cores that sum used
during the drain (below 2.0: the processes waited on each other or the machine was
busy), and the drain rate (noisy here). The tasks are enqueued while their queues
are paused (``asynq:{q}:paused``); ``fastq-worker --processes 2 --concurrency 50``
(``--concurrency`` sets it) starts and goes idle; the queues are unpaused and
woken, and the CPU of the worker tree and of redis-server is counted from there
until every task is recorded.
``--redis-arg=--name=value`` starts redis-server with that setting.
``--sentinel`` puts the worker behind Sentinel (a private master, 2 replicas and
3 sentinels; Redis CPU is the master's, and the replicas share the cores too).
``--tls`` has the worker connect over TLS with a client certificate
(tests/tls_support.py); the bench's handlers record on the same server over TCP.
``--redis-stats`` also prints Redis calls and microseconds per task of each script
(``SLOWLOG`` at 0 us, which costs Redis some CPU of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import psutil
import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH / "peers"), str(BENCH), str(ROOT)]

from bench_cpu import _name_scripts, _tally_slowlog  # noqa: E402
from common import QUEUES, Job, start_fastq_worker, verify_runs, wait_done  # noqa: E402
from targets import start_target  # noqa: E402

from fastq import keys  # noqa: E402


def tree_cpu(p: psutil.Process) -> float:
    total = 0.0
    for q in [p, *p.children(recursive=True)]:
        try:
            t = q.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def one(
    url: str,
    r: redis.Redis,
    server: psutil.Process,
    root: Path,
    queues: list[str],
    n: int,
    stats: dict[str, list[float]] | None,
    concurrency: int = 50,
    worker_url: str = "",
) -> tuple[float, float, float, float]:
    """(worker us/task, redis us/task, cores used, tasks/s) of one drain; the worker
    connects to ``worker_url`` (default ``url``, the server's own)."""
    import fastq_peer

    r.flushdb()
    for q in queues:
        r.set(keys.paused_key(q), "1")
    peer = fastq_peer.PEER
    peer.open(url)
    peer.enqueue_bulk([Job(seq=i, queue=queues[i % len(queues)]) for i in range(n)])
    peer.close()
    spec = ",".join(f"{q}={QUEUES[q]}" for q in queues)
    sup = start_fastq_worker(
        url,
        root,
        *("--processes", "2", "--concurrency", str(concurrency), "--queues", spec),
        *("--redis-url", worker_url or url),
    )
    try:
        proc = psutil.Process(sup.pid)
        time.sleep(2.5)  # start-up, the maintenance process, idle waits
        if stats is not None:
            r.config_set("slowlog-log-slower-than", 0)
            r.config_set("slowlog-max-len", 1_000_000)
            r.slowlog_reset()
        w0, s0 = tree_cpu(proc), tree_cpu(server)
        t0 = time.perf_counter()
        pipe = r.pipeline(transaction=False)
        for q in queues:
            pipe.delete(keys.paused_key(q))
            pipe.lpush(keys.wake_key(q), "1")
        pipe.execute()
        wait_done(r, n, 120, None)
        elapsed = time.perf_counter() - t0
        w, s = tree_cpu(proc) - w0, tree_cpu(server) - s0
        if stats is not None:
            r.config_set("slowlog-log-slower-than", 10000)
            _tally_slowlog(r, n, stats)
        time.sleep(0.2)
        verify_runs(r, n)
        return w / n * 1e6, s / n * 1e6, (w + s) / elapsed, n / elapsed
    finally:
        sup.terminate()
        sup.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queues", default="1,4", help="queue sets: 1 (default) and/or 4 (weighted)")
    ap.add_argument("--roots", default="", help="fastq checkouts to alternate (default: this)")
    ap.add_argument("--redis-stats", action="store_true")
    ap.add_argument("--concurrency", type=int, default=50, help="per worker process (run.py: 50)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        "--sentinel",
        action="store_true",
        help="the worker behind Sentinel (LocalSentinel: 1 master, 2 replicas); Redis CPU"
        " is the master's",
    )
    where.add_argument(
        "--tls",
        action="store_true",
        help="the worker over TLS (tests/tls_support.py; the handlers record over TCP)",
    )
    ap.add_argument(
        "--redis-arg",
        action="append",
        default=[],
        help="extra redis-server argument, e.g. --redis-arg=--zset-max-ziplist-entries=16",
    )
    args = ap.parse_args()
    roots = [Path(p).resolve() for p in args.roots.split(",") if p] or [ROOT]
    for root in roots:
        _name_scripts(root)
    sets = {"1": ["default"], "4": list(QUEUES)}
    extra = [w for a in args.redis_arg for w in a.split("=", 1)]
    stack = contextlib.ExitStack()
    kind = "tls" if args.tls else "sentinel" if args.sentinel else "plain"
    worker_url, url = start_target(stack, kind, extra)
    os.environ["BENCH_REDIS_URL"] = url  # the handlers' own records: plain TCP
    try:
        r = redis.Redis.from_url(url)
        sp = psutil.Process(int(r.info("server")["process_id"]))
        names = [(qs, root) for qs in args.queues.split(",") for root in roots]
        got: dict[tuple[str, Path], list[tuple[float, float, float, float]]] = {
            k: [] for k in names
        }
        rstats: dict[tuple[str, Path], dict[str, list[float]]] = {k: {} for k in names}
        for i in range(args.runs):
            for qs, root in names:
                res = one(
                    url,
                    r,
                    sp,
                    root,
                    sets[qs],
                    args.n,
                    rstats[(qs, root)] if args.redis_stats else None,
                    args.concurrency,
                    worker_url,
                )
                got[(qs, root)].append(res)
                w, s, cores, rate = res
                print(
                    f"  {qs} queue(s) {root} run {i + 1}: worker {w:.1f} + redis {s:.1f}"
                    f" = {w + s:.1f} us/task, {cores:.2f} cores, {rate:,.0f} tasks/s",
                    flush=True,
                )
        for (qs, root), res in got.items():
            w, s, c, rate = (statistics.median(x[k] for x in res) for k in range(4))
            tot = statistics.median(x[0] + x[1] for x in res)
            print(
                f"{qs} queue(s) {root}: median worker {w:.1f} + redis {s:.1f} = {tot:.1f} us/task,"
                f" {c:.2f} cores, {rate:,.0f} tasks/s"
            )
            st = rstats[(qs, root)]
            for key in sorted(k for k in st if k.endswith(" calls")):
                name = key[: -len(" calls")]
                calls = statistics.median(st[key])
                if calls < 0.001:
                    continue
                u = statistics.median(st[f"{name} us"])
                print(
                    f"      redis {name:22} {calls:7.3f} calls/task {u / calls:7.1f} us/call"
                    f" {u:6.2f} us/task"
                )
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
