"""Scheduler and aggregation cost at scale, on a private redis-server.

- Ticks: N periodic entries (default 10,000) that all fall due on the same tick
  (``* * * * *``, the worst case), fired by one scheduler and then attempted by a
  second one (which finds every tick claimed). Per tick: the scheduler's CPU time
  (process time), its round trips, and the Redis commands it caused (INFO
  commandstats, commands run inside scripts included).
- Heartbeat: writing the N entries to ``asynq:schedulers:{id}`` (every 2 s).
- Idle: a loop turn when nothing is due.
- Aggregation: G groups of M tasks each, enqueued with ``group=``, aggregated by
  one pass of the Aggregator; tasks aggregated per second (wall clock).

Run: python3 bench/bench_scheduler.py [N] [G] [M]   (defaults 10000 1000 10)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from fastq import Client, IncomingTask, Task
from fastq.config import RedisConfig
from fastq.devredis import RedisServer
from fastq.rdb.conn import SyncConn
from fastq.scheduler.aggregator import Aggregator
from fastq.scheduler.entry import make_entry
from fastq.scheduler.runner import Scheduler, StaticEntries

MINUTE = 1_800_000_000 - 1_800_000_000 % 60  # a whole minute


def commands(r: redis.Redis) -> int:
    """Commands Redis has run, EVALSHA and the calls scripts made included."""
    stats: dict[str, Any] = r.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info",))


class Counted(SyncConn):
    """A SyncConn that counts its round trips."""

    round_trips = 0

    def call_many(self, calls: Any, overlap: Any = None) -> list[Any]:
        Counted.round_trips += 1
        return super().call_many(calls, overlap)


def measure(r: redis.Redis, fn: Any) -> tuple[float, int, int]:
    before_cmds, before_rt = commands(r), Counted.round_trips
    t0 = time.process_time()
    fn()
    cpu = time.process_time() - t0
    return cpu, Counted.round_trips - before_rt, commands(r) - before_cmds


def bench_ticks(url: str, n: int) -> None:
    r = redis.Redis.from_url(url)
    entries = [make_entry("* * * * *", Task(f"job:{i}", b"{}")) for i in range(n)]
    fleet = []
    for _ in range(2):
        s = Scheduler(RedisConfig.from_url(url), StaticEntries(entries))
        s._conn = Counted(s.redis)
        s.load(MINUTE - 30)
        fleet.append(s)
    print(f"scheduler, {n} entries due on one tick:")
    for label, s in (("firing scheduler", fleet[0]), ("second scheduler", fleet[1])):
        cpu, rts, cmds = measure(r, lambda s=s: s.step(MINUTE + 0.01))
        print(
            f"  {label:17s} CPU {cpu * 1000:8.1f} ms/tick ({cpu / n * 1e6:5.1f} us/entry), "
            f"{rts} round trips, {cmds} Redis commands ({cmds / n:.2f}/entry)"
        )
    enqueued = r.llen("asynq:{default}:pending")
    print(f"  tasks enqueued: {enqueued} (expected {n})")
    cpu, rts, cmds = measure(r, lambda: fleet[0].step(MINUTE + 1))
    print(f"  idle turn (nothing due): CPU {cpu * 1e6:.0f} us, {rts} round trips, {cmds} cmds")
    cpu, rts, cmds = measure(r, lambda: fleet[0].beat(time.time()))
    print(f"  heartbeat (entries to asynq:schedulers): CPU {cpu * 1000:.1f} ms, {cmds} cmds")
    r.close()


def bench_aggregation(url: str, groups: int, per_group: int) -> None:
    r = redis.Redis.from_url(url)
    r.flushall()
    with Client(url) as c:
        for g in range(groups):
            c.enqueue_many([Task("item", str(i).encode()) for i in range(per_group)], group=f"g{g}")

    def merge(group: str, tasks: list[IncomingTask]) -> Task:
        return Task("batch", b"|".join(t.payload for t in tasks))

    agg = Aggregator(SyncConn(RedisConfig.from_url(url)), ["default"], merge, grace_period=1)
    t0 = time.perf_counter()
    made = agg.run_once(time.time() + 2)
    wall = time.perf_counter() - t0
    total = groups * per_group
    left = r.zcard("asynq:{default}:aggregation_sets")
    print(f"aggregation, {groups} groups x {per_group} tasks:")
    print(
        f"  {made} aggregated tasks in {wall:.2f} s: {total / wall:,.0f} tasks/s, "
        f"{made / wall:,.0f} groups/s (sets left: {left})"
    )
    r.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    groups = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    per_group = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    server = RedisServer()
    server.start()
    try:
        bench_ticks(server.url, n)
        bench_aggregation(server.url, groups, per_group)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
