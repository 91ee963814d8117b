"""Place orders at a steady rate and report the achieved rate and API latency.

    python -m examples.shop.load --rate 500 --duration 60 [--url http://127.0.0.1:8000]

Open loop: order i is sent at start + i/rate whatever earlier ones did (up to
``--max-in-flight`` outstanding), so a slow API shows as latency and a lower achieved
rate rather than being hidden by a client that waits. ``--duration 0`` runs until
Ctrl-C. The guide's "large load tests": start the API with
``FASTQ_RETENTION_MINUTES=0`` there, since retention keeps every finished task in
Redis (six per order: 500 orders/s for 30 minutes would hold 5.4 million tasks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from dataclasses import dataclass, field

import httpx

SKUS = [f"SKU-{n:03d}" for n in range(100)]


def random_order(rng: random.Random) -> dict[str, object]:
    return {
        "customer_id": f"c{rng.randrange(10_000)}",
        "email": f"buyer{rng.randrange(10_000)}@example.com",
        "items": [
            {
                "sku": rng.choice(SKUS),
                "quantity": rng.randint(1, 3),
                "price_cents": rng.randint(100, 9999),
            }
            for _ in range(rng.randint(1, 4))
        ],
    }


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, accepted orders only
    errors: dict[str, int] = field(default_factory=dict)
    order_ids: list[str] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def report(self, elapsed: float) -> dict[str, object]:
        ms = sorted(x * 1000 for x in self.latencies)
        return {
            "orders": len(self.latencies),
            "errors": dict(self.errors),
            "seconds": round(elapsed, 2),
            "rate": round(len(self.latencies) / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(percentile(ms, 50), 2),
            "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(ms[-1], 2) if ms else 0.0,
        }


async def place(client: httpx.AsyncClient, body: dict[str, object], stats: Stats) -> None:
    started = time.perf_counter()
    try:
        resp = await client.post("/orders", json=body)
    except httpx.HTTPError as exc:
        stats.error(type(exc).__name__)
        return
    if resp.status_code != 202:
        stats.error(f"HTTP {resp.status_code}")
        return
    stats.latencies.append(time.perf_counter() - started)
    stats.order_ids.append(resp.json()["order_id"])


async def run(
    url: str, rate: float, duration: float, max_in_flight: int, progress: float, stop: asyncio.Event
) -> tuple[Stats, float]:
    """Send orders at ``rate`` per second for ``duration`` seconds (0: until ``stop``)."""
    stats = Stats()
    rng = random.Random()
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    slots = asyncio.Semaphore(max_in_flight)
    pending: set[asyncio.Task[None]] = set()

    async def one(body: dict[str, object]) -> None:
        try:
            await place(client, body, stats)
        finally:
            slots.release()

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        start = time.perf_counter()
        next_progress = start + progress if progress else float("inf")
        i = 0
        total = round(rate * duration) if duration else None  # exactly rate x duration orders
        while not stop.is_set() and i != total:
            due = start + i / rate
            now = time.perf_counter()
            if now >= next_progress:
                print(json.dumps(stats.report(now - start)), flush=True)
                next_progress += progress
            if due > now:
                with_timeout = asyncio.wait_for(stop.wait(), due - now)
                try:
                    await with_timeout
                except asyncio.TimeoutError:
                    pass
                continue
            await slots.acquire()
            task = asyncio.create_task(one(random_order(rng)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        elapsed = time.perf_counter() - start
        if pending:
            await asyncio.wait(pending, timeout=15)
    return stats, elapsed


def _cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    import psutil  # fastq's own dependency; only needed for --api-pid

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the shop API")
    parser.add_argument("--rate", type=float, default=100, help="orders per second (default 100)")
    parser.add_argument("--duration", type=float, default=10, help="seconds; 0 runs until Ctrl-C")
    parser.add_argument(
        "--max-in-flight", type=int, default=128, help="outstanding requests at most"
    )
    parser.add_argument("--progress", type=float, default=0, help="print a report every N seconds")
    parser.add_argument("--ids", help="write the accepted order ids to this file, one a line")
    parser.add_argument(
        "--api-pid",
        type=int,
        help="also report the CPU time this API process spent per order (same host only)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration < 0 or args.max_in_flight < 1:
        parser.error("--rate must be > 0, --duration >= 0, --max-in-flight >= 1")

    async def go() -> tuple[Stats, float]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(
            args.url, args.rate, args.duration, args.max_in_flight, args.progress, stop
        )

    cpu_before = _cpu_seconds(args.api_pid)
    stats, elapsed = asyncio.run(go())
    report = stats.report(elapsed)
    if args.api_pid and stats.latencies:
        spent = _cpu_seconds(args.api_pid) - cpu_before
        report["api_cpu_ms_per_order"] = round(spent * 1000 / len(stats.latencies), 3)
    print(json.dumps(report), flush=True)
    print(
        f"placed {report['orders']} orders in {report['seconds']} s = {report['rate']} "
        f"orders/s (asked {args.rate:g}/s); API latency p50 {report['p50_ms']} ms, "
        f"p90 {report['p90_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms; "
        f"errors {report['errors'] or 'none'}"
        + (f"; API CPU {report.get('api_cpu_ms_per_order')} ms/order" if args.api_pid else ""),
        flush=True,
    )
    if args.ids:
        with open(args.ids, "w") as f:
            f.write("".join(f"{oid}\n" for oid in stats.order_ids))
    return 0 if not stats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
