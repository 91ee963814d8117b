"""Inspector at scale: find a dozen failures among N archived tasks, then delete them all.

Starts a private redis-server, writes N archived tasks in Asynq's layout (12 of them
with a distinctive error), and measures:
- one unfiltered page, queue_info (memory sampled), a filtered search over all N;
- delete_all in chunks, and the longest single script call (what blocks Redis).

Run: python3 bench/bench_inspector.py [N]   (default 200000)
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import redis
from asynq_pb import TaskMessage

from fastq.devredis import RedisServer
from fastq.inspect.inspector import Inspector
from fastq.rdb import plan as rdb_plan

CALLS: list[float] = []  # seconds per round trip, measured at the client
_exec = rdb_plan._exec_sync


def _timed(conn, batch):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    try:
        return _exec(conn, batch)
    finally:
        CALLS.append(time.perf_counter() - t0)


rdb_plan._exec_sync = _timed


def trips(label: str) -> None:
    print(
        f"  {label}: {len(CALLS)} round trips, longest {max(CALLS) * 1000:.1f} ms, "
        f"median {sorted(CALLS)[len(CALLS) // 2] * 1000:.1f} ms"
    )
    CALLS.clear()


def populate(r: redis.Redis, n: int, needles: set[int]) -> None:
    pipe = r.pipeline(transaction=False)
    now = int(time.time())
    r.sadd("asynq:queues", "default")
    for i in range(n):
        tid = str(uuid.uuid4())
        err = "smtp: 550 mailbox unavailable" if i in needles else "context deadline exceeded"
        msg = TaskMessage(
            type="email:send",
            payload=b'{"to":"user@example.com"}',
            id=tid,
            queue="default",
            retry=25,
            retried=25,
            error_msg=err,
            timeout=1800,
            last_failed_at=now,
        )
        pipe.hset(
            f"asynq:{{default}}:t:{tid}",
            mapping={"msg": msg.SerializeToString(), "state": "archived"},
        )
        pipe.zadd("asynq:{default}:archived", {tid: now - n + i})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    server = RedisServer()
    server.start()
    try:
        r = redis.Redis.from_url(server.url)
        needles = {int(n * k / 12) for k in range(12)}
        t0 = time.perf_counter()
        populate(r, n, needles)
        print(f"populated {n} archived tasks in {time.perf_counter() - t0:.1f}s")
        with Inspector(server.url) as insp:
            for label, fn in [
                ("list page 1 (30)", lambda: insp.list_tasks("default", "archived")),
                ("queue_info", lambda: insp.queue_info("default")),
                (
                    "search error 'mailbox unavailable'",
                    lambda: insp.list_tasks(
                        "default", "archived", error_contains="mailbox unavailable"
                    ),
                ),
                (
                    "count error 'mailbox unavailable'",
                    lambda: [
                        insp.count_tasks(
                            "default", "archived", error_contains="mailbox unavailable"
                        )
                    ],
                ),
            ]:
                t0 = time.perf_counter()
                out = fn()
                ms = (time.perf_counter() - t0) * 1000
                found = len(out) if isinstance(out, list) else ""
                print(f"{label:<40} {ms:8.1f} ms  {found}")
                trips(label)
            t0 = time.perf_counter()
            deleted = insp.delete_all("default", "archived")
            ms = (time.perf_counter() - t0) * 1000
            print(f"{'delete_all archived':<40} {ms:8.1f} ms  {deleted} deleted")
            trips("delete_all")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
