"""Enqueue throughput: one by one (sync and async) and enqueue_many at several batch sizes.

Starts its own private redis-server (the test harness's launcher), so it never
touches a Redis someone else runs. Prints the median of several runs: the wall-clock
rate, a CPU rate (tasks / (this process's CPU time + redis-server's CPU time)) and
the client's own CPU per task (user + system, then user mode alone), which stay
meaningful on a machine shared with other work. The system part is mostly the
loopback send/receive and moves with the machine's load; the user part is fastq.

    python3 bench/bench_enqueue.py [--runs 5] [--one-by-one 5000] [--total 100000]
                                   [--concurrent 50000] [--only-async | --alternatives]
                                   [--sentinel | --tls]

``--sentinel`` runs it all behind Sentinel (a private master, 2 replicas and 3
sentinels): the clients find the master through the sentinels; the floor is
measured on the master. ``--tls`` runs it over TLS (a private TLS-only server
with a throwaway CA and client certificate, tests/tls_support.py; it needs
``openssl`` and a redis-server built with TLS); no floor then.

The sequential floor (bench/floor.py) is the same Redis answering PING and Go
Asynq's enqueue script on a raw socket, one request per reply: the most any
one-by-one producer can reach here.

"enqueue x100 coroutines" is 100 coroutines sharing one AsyncClient, each
awaiting ``enqueue`` one task at a time. ``--alternatives`` compares the sync
one-by-one loop with the same enqueue through plain redis-py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from floor import sequential_floor  # noqa: E402
from targets import start_target  # noqa: E402

from fastq import scripts  # noqa: E402
from fastq.client import AsyncClient, Client  # noqa: E402
from fastq.config import DEFAULT_MAX_PAYLOAD_BYTES  # noqa: E402
from fastq.rdb.enqueue import enqueue_call, finish_one  # noqa: E402
from fastq.task import Task, prepare  # noqa: E402

PAYLOAD = b'{"user_id":12345,"template":"welcome","locale":"en"}'


# (wall seconds, this process's CPU seconds, of which user-mode seconds) of the timed part
Timing = tuple[float, float, float]


def _user() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def clocks() -> Timing:
    return time.perf_counter(), time.process_time(), _user()


def since(start: Timing) -> Timing:
    return time.perf_counter() - start[0], time.process_time() - start[1], _user() - start[2]


class Meter:
    """Wall and CPU time of a run: this process plus the private redis-server."""

    def __init__(self, raw: redis.Redis) -> None:
        self.raw = raw

    def server_cpu(self) -> float:
        info = self.raw.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def rates(
        self, runs: int, n: int, once: Callable[[], Timing], reset: Callable[[], None]
    ) -> tuple[float, float, float, float]:
        """Median tasks/s (wall, CPU) and client CPU us/task (all, user mode) over
        ``runs`` runs of ``once``."""
        wall, cpu, client, user = [], [], [], []
        for _ in range(runs):
            reset()
            s0 = self.server_cpu()
            elapsed, client_cpu, client_user = once()
            wall.append(n / elapsed)
            cpu.append(n / (client_cpu + self.server_cpu() - s0))
            client.append(client_cpu / n * 1e6)
            user.append(client_user / n * 1e6)
        med = statistics.median
        return med(wall), med(cpu), med(client), med(user)


def show(label: str, rates: tuple[float, float, float, float]) -> None:
    print(
        f"{label:<30} {rates[0]:>10,.0f} tasks/s   (CPU rate {rates[1]:>10,.0f} tasks/s,"
        f" client CPU {rates[2]:>5.1f} us/task, user {rates[3]:>5.1f})"
    )


def bench_sync_one_by_one(client: Client, n: int) -> Timing:
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]
    start = clocks()
    for t in tasks:
        client.enqueue(t)
    return since(start)


def bench_async_one_by_one(url: str, n: int) -> Timing:
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]

    async def run() -> Timing:
        async with AsyncClient(url) as client:
            await client.enqueue(Task("warmup"))  # connect and load scripts untimed
            start = clocks()
            for t in tasks:
                await client.enqueue(t)
            return since(start)

    return asyncio.run(run())


def bench_async_concurrent(url: str, n: int, callers: int = 100) -> Timing:
    """``callers`` coroutines, each awaiting ``enqueue`` one task at a time."""
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]

    async def run() -> Timing:
        async with AsyncClient(url) as client:
            await client.enqueue(Task("warmup"))  # connect and load scripts untimed

            async def caller(mine: list[Task]) -> None:
                for t in mine:
                    await client.enqueue(t)

            start = clocks()
            await asyncio.gather(*(caller(tasks[i::callers]) for i in range(callers)))
            return since(start)

    return asyncio.run(run())


def bench_many(client: Client, total: int, batch: int) -> Timing:
    tasks = [Task("email:send", PAYLOAD) for _ in range(total)]
    start = clocks()
    for i in range(0, total, batch):
        client.enqueue_many(tasks[i : i + batch])
    return since(start)


def bench_redispy_one_by_one(r: redis.Redis, n: int, pipeline: bool) -> Timing:
    """fastq's prepare and reply handling around plain redis-py (hiredis parser):
    ``evalsha`` per task, or a one-call pipeline per task."""
    tasks = [Task("email:send", PAYLOAD) for _ in range(n)]
    sha = scripts.get("enqueue").sha
    start = clocks()
    for t in tasks:
        p = prepare(t, {}, time.time_ns(), DEFAULT_MAX_PAYLOAD_BYTES)
        c = enqueue_call(p)
        if pipeline:
            pipe = r.pipeline(transaction=False)
            pipe.evalsha(sha, len(c.keys), *c.keys, *c.args)
            reply = pipe.execute()[0]
        else:
            reply = r.evalsha(sha, len(c.keys), *c.keys, *c.args)
        finish_one(p, reply)
    return since(start)


def alternatives(url: str, raw: redis.Redis, runs: int, n: int) -> None:
    """Sync one-by-one enqueue via fastq's Client and via plain redis-py, the variants
    alternated within each run; medians of ``runs``."""
    r = redis.Redis.from_url(url)
    client = Client(url)
    client.enqueue(Task("warmup"))  # load scripts, publish the queue
    variants: list[tuple[str, Callable[[], Timing]]] = [
        ("redis-py evalsha (hiredis):", lambda: bench_redispy_one_by_one(r, n, False)),
        ("redis-py pipeline of one:", lambda: bench_redispy_one_by_one(r, n, True)),
        ("fastq Client.enqueue:", lambda: bench_sync_one_by_one(client, n)),
    ]
    got: dict[str, list[Timing]] = {label: [] for label, _ in variants}
    try:
        for _ in range(runs):
            for label, once in variants:
                raw.flushall()
                got[label].append(once())
    finally:
        client.close()
        r.close()
    for label, timings in got.items():
        med = statistics.median
        print(
            f"{label:<30} {med(n / t[0] for t in timings):>10,.0f} tasks/s   (client CPU"
            f" {med(t[1] for t in timings) / n * 1e6:>5.1f} us/task,"
            f" user {med(t[2] for t in timings) / n * 1e6:>5.1f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--one-by-one", type=int, default=5000, help="tasks per one-by-one run")
    ap.add_argument("--total", type=int, default=100_000, help="tasks per enqueue_many run")
    ap.add_argument("--concurrent", type=int, default=50_000, help="tasks per x100 run")
    ap.add_argument("--only-async", action="store_true", help="skip the enqueue_many rows")
    ap.add_argument(
        "--alternatives",
        action="store_true",
        help="only sync one by one: fastq's Client against plain redis-py",
    )
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        "--sentinel",
        action="store_true",
        help="behind Sentinel (fastq.devcluster.LocalSentinel: 1 master, 2 replicas)",
    )
    where.add_argument(
        "--tls",
        action="store_true",
        help="over TLS (rediss://, a client certificate; tests/tls_support.py)",
    )
    args = ap.parse_args()

    stack = contextlib.ExitStack()
    kind = "tls" if args.tls else "sentinel" if args.sentinel else "plain"
    url, plain_url = start_target(stack, kind)
    floor_url = None if args.tls else plain_url  # the floor is a plain socket's
    raw = redis.Redis.from_url(plain_url)
    try:

        def reset() -> None:
            raw.flushall()

        if args.alternatives:
            alternatives(url, raw, args.runs, args.one_by_one)
            return
        meter = Meter(raw)
        with Client(url) as client:
            client.enqueue(Task("warmup"))  # load scripts, publish the queue
            show(
                "enqueue one by one (sync):",
                meter.rates(
                    args.runs,
                    args.one_by_one,
                    lambda: bench_sync_one_by_one(client, args.one_by_one),
                    reset,
                ),
            )
        if floor_url is not None:
            floors = [sequential_floor(floor_url) for _ in range(args.runs)]
            print(
                f"{'sequential floor (raw socket):':<30} PING"
                f" {statistics.median(f[0] for f in floors):,.0f}/s, Go's enqueue script"
                f" {statistics.median(f[1] for f in floors):,.0f}/s"
            )
        show(
            "enqueue one by one (async):",
            meter.rates(
                args.runs,
                args.one_by_one,
                lambda: bench_async_one_by_one(url, args.one_by_one),
                reset,
            ),
        )
        show(
            "enqueue x100 coroutines (async):",
            meter.rates(
                args.runs,
                args.concurrent,
                lambda: bench_async_concurrent(url, args.concurrent),
                reset,
            ),
        )
        if args.only_async:
            return
        with Client(url) as client:
            for batch in (100, 1000, 10_000):
                show(
                    f"enqueue_many batch {batch}:",
                    meter.rates(
                        args.runs,
                        args.total,
                        lambda b=batch: bench_many(client, args.total, b),
                        reset,  # type: ignore[misc]
                    ),
                )
    finally:
        raw.close()
        stack.close()


if __name__ == "__main__":
    main()
