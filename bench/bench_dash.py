"""Dashboard at scale: page latency with N archived tasks, Redis load per live client.

Starts a private redis-server and measures:
1. server-side time of the overview, queue (first and a deep page) and task pages with
   N tasks in one queue's archive (requests go straight into the ASGI app, so the
   times are the server's, without a network), as p50/p95 over repeated requests;
2. a filtered search (error text) over all N, followed step by step as the page offers
   it ("continue search", 50,000 tasks a step): time per step, total time, and the
   Redis commands it ran that took over 2 ms and over 10 ms (SLOWLOG);
3. Redis commands per second caused by the dashboard with 1 and with 100 open
   Server-Sent-Event streams (INFO commandstats deltas over a window; the bench's
   own INFO calls are left out).

Run: python3 bench/bench_dash.py [N] [--repeat R] [--window SECONDS]   (default N 1000000)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
import uvicorn  # noqa: E402

from fastq import keys  # noqa: E402
from fastq._core import TaskMessage  # noqa: E402
from fastq.dash import create_app  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402

QUEUE = "big"


def populate(r: redis.Redis, n: int) -> str:
    """N archived tasks in Asynq's layout, written by a plain pipeline.

    Asynq's archive scripts (and so the Inspector's archive_all) trim an archive to
    its newest 10,000 tasks, so a million-task archive can only be written directly.
    Twelve tasks carry a distinctive error for the filtered search to find.
    """
    t0 = time.perf_counter()
    now = int(time.time())
    needles = {n * k // 12 for k in range(12)}
    r.sadd(keys.ALL_QUEUES, QUEUE)
    pipe = r.pipeline(transaction=False)
    first = ""
    for i in range(n):
        tid = f"{i:08d}-0000-4000-8000-000000000000"
        first = first or tid
        err = "smtp: 550 mailbox unavailable" if i in needles else "context deadline exceeded"
        msg = TaskMessage(
            type="email:send",
            payload=b'{"to":"user@example.com"}',
            id=tid,
            queue=QUEUE,
            retry=25,
            retried=25,
            error_msg=err,
            timeout=1800,
            last_failed_at=now,
        )
        pipe.hset(keys.task_key(QUEUE, tid), mapping={"msg": msg.encode(), "state": "archived"})
        pipe.zadd(keys.archived_key(QUEUE), {tid: now - n + i})
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    print(f"populate: {n} archived tasks written in {time.perf_counter() - t0:.1f} s")
    return first


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def page_times(app: Any, paths: dict[str, str], repeat: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
        await client.get("/")  # warm up: templates compiled, sampler started
        for label, path in paths.items():
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                resp = await client.get(path)
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200, (path, resp.status_code)
            print(
                f"  {label:<28} p50 {statistics.median(times) * 1000:7.1f} ms   "
                f"p95 {pct(times, 0.95) * 1000:7.1f} ms   ({repeat} requests)"
            )


async def filtered_search(app: Any, r: redis.Redis) -> None:
    r.config_set("slowlog-log-slower-than", 2_000)  # microseconds
    r.config_set("slowlog-max-len", 100_000)  # the default 128 would cap the count
    r.slowlog_reset()
    evalsha0 = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    transport = httpx.ASGITransport(app=app)
    steps: list[float] = []
    found = 0
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dash", timeout=600
    ) as client:
        path: str | None = f"/queue?q={QUEUE}&state=archived&error=mailbox+unavailable"
        t0 = time.perf_counter()
        while path:  # follow "continue search" to the end, as a user would
            s0 = time.perf_counter()
            resp = await client.get(path)
            steps.append(time.perf_counter() - s0)
            assert resp.status_code == 200
            found += resp.text.count("550 mailbox unavailable")
            more = re.search(r'href="([^"]+)" rel="next" id="search-more"', resp.text)
            path = more.group(1).replace("&amp;", "&") if more else None
        took = time.perf_counter() - t0
    logged = r.slowlog_get(100_000)
    slow = [e for e in logged if e["duration"] > 10_000]
    longest = max((e["duration"] for e in logged), default=0) / 1000
    for e in slow:  # which commands: the search's script calls, or something else?
        print(f"    > 10 ms: {e['duration'] / 1000:.1f} ms {e['command'][:70]!r}")
    calls = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) - evalsha0
    print(
        f"  search step (50,000 tasks)   p50 {statistics.median(steps) * 1000:7.1f} ms   "
        f"p95 {pct(steps, 0.95) * 1000:7.1f} ms   ({len(steps)} steps)"
    )
    print(
        f"  whole search, all steps      {took * 1000:7.0f} ms total, {found} of 12 found; "
        f"{calls} script calls; Redis commands > 2 ms: {len(logged)}, > 10 ms: {len(slow)} "
        f"(longest {longest:.1f} ms)"
    )


async def pages_phase(app: Any, r: redis.Redis, paths: dict[str, str], repeat: int) -> None:
    await page_times(app, paths, repeat)
    await filtered_search(app, r)
    await app.state.dash.close()


def command_calls(r: redis.Redis) -> int:
    stats = r.info("commandstats")
    return sum(
        v["calls"]
        for k, v in stats.items()
        if k not in ("cmdstat_info", "cmdstat_slowlog", "cmdstat_config")
    )


def serve(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


async def sse_load(base: str, r: redis.Redis, clients: int, window: float) -> float:
    async def reader(
        client: httpx.AsyncClient, ready: asyncio.Event, stop: asyncio.Event, counts: list[int]
    ) -> None:
        async with client.stream("GET", f"{base}/events") as resp:
            ready.set()
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    counts[0] += 1
                if stop.is_set():
                    return

    stop = asyncio.Event()
    counts = [0]
    limits = httpx.Limits(max_connections=clients + 5)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        readies = [asyncio.Event() for _ in range(clients)]
        tasks = [asyncio.create_task(reader(client, e, stop, counts)) for e in readies]
        await asyncio.gather(*(e.wait() for e in readies))
        await asyncio.sleep(1.0)  # every stream settled
        before, t0 = command_calls(r), time.perf_counter()
        await asyncio.sleep(window)
        after, t1 = command_calls(r), time.perf_counter()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rate = (after - before) / (t1 - t0)
    print(
        f"  {clients:>3} SSE client(s): {rate:7.1f} Redis commands/s; {counts[0]} events delivered"
    )
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", type=int, nargs="?", default=1_000_000)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--window", type=float, default=10.0)
    args = ap.parse_args()
    server = RedisServer()
    server.start()
    try:
        url = server.url
        r = redis.Redis.from_url(url)
        task_id = populate(r, args.n)
        mid = max(1, args.n // 40)  # 20 rows a page: the middle of the archive
        print(f"pages with {args.n} archived tasks (server-side, in-process ASGI):")
        app = create_app(redis_url=url, interval=1.0, users={})
        asyncio.run(
            pages_phase(
                app,
                r,
                {
                    "overview /": "/",
                    "queue, archived tab p1": f"/queue?q={QUEUE}&state=archived",
                    "queue, archived, middle page": f"/queue?q={QUEUE}&state=archived&page={mid}",
                    "queue, pending tab": f"/queue?q={QUEUE}&state=pending",
                    "task page": f"/task?q={QUEUE}&id={task_id}",
                },
                args.repeat,
            )
        )
        print(f"live load (sampler interval 1 s, {args.window:.0f} s window):")
        live_app = create_app(redis_url=url, interval=1.0, users={})
        port = 18000 + (server.port % 1000)
        web = serve(live_app, port)
        one = asyncio.run(sse_load(f"http://127.0.0.1:{port}", r, 1, args.window))
        hundred = asyncio.run(sse_load(f"http://127.0.0.1:{port}", r, 100, args.window))
        print(f"  ratio 100 clients / 1 client: {hundred / max(one, 1e-9):.2f}x")
        web.should_exit = True
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
