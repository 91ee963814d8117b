"""CPU per start of an ``async def`` coroutine: ``loop.create_task`` against the
worker's eager start (3.11's ``EagerStarter``), for a coroutine that returns at
once and for one that awaits a future once.

    python3 bench/bench_eager.py [--n 200000] [--runs 3]

No Redis: this is the cost of starting and finishing the coroutine alone, in
batches of 50 as a worker dispatches a fetched batch. Prints the median
microseconds of process CPU per coroutine for each variant (alternated in each run).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 50


def measure(
    new_loop: Callable[[], asyncio.AbstractEventLoop], eager: bool, suspend: bool, n: int
) -> float:
    from fastq.worker import executor

    done = 0

    async def handler() -> None:
        nonlocal done
        if suspend:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            loop.call_soon(fut.set_result, None)
            await fut
        done += 1

    async def main() -> float:
        loop = asyncio.get_running_loop()
        starter: Any = executor.EagerStarter(loop) if eager else None  # type: ignore[attr-defined]
        t0 = time.process_time()
        held: list[Any] = []  # as the worker holds each run's task
        for i in range(n // BATCH):
            held.clear()
            for _ in range(BATCH):
                if starter is not None:
                    held.append(starter.start(handler()))
                else:
                    held.append(loop.create_task(handler()))
            while done < (i + 1) * BATCH:
                await asyncio.sleep(0)
        return (time.process_time() - t0) / n * 1e6

    loop = new_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if sys.version_info[:2] != (3, 11):
        print("EagerStarter is the 3.11 path; this Python has none to compare")
        return 0
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop

        loops["uvloop"] = uvloop.new_event_loop
    except ImportError:
        pass
    got: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.runs):
        for loop_name, new_loop in loops.items():
            for kind in ("returns", "awaits once"):
                for start in ("create_task", "eager"):
                    us = measure(new_loop, start == "eager", kind == "awaits once", args.n)
                    got.setdefault((loop_name, kind, start), []).append(us)
    for (loop_name, kind, start), runs in got.items():
        print(
            f"{loop_name:8} {kind:12} {start:12} median {statistics.median(runs):5.2f} us/coroutine"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
