"""Enqueue a few tasks: now, later, unique, in bulk, and from asyncio.

Every type it enqueues is handled by ``examples/producer_app.py``. Two ways to run it:

    python3 examples/producer.py

starts a private redis-server and a fastq-worker on ``examples.producer_app:app``,
enqueues, waits until every task due now has run, and stops both. Against your own
Redis, start the worker, then the producer (from the repository root):

    export FASTQ_REDIS_URL=redis://127.0.0.1:6379/0
    fastq-worker examples.producer_app:app --queues critical=6,default=3,low=1,media=1 &
    python3 examples/producer.py
    fastq stats
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastq  # noqa: E402
from fastq.devredis import RedisServer  # noqa: E402

QUEUES = "critical=6,default=3,low=1,media=1"


def produce(url: str) -> int:
    """Enqueue the examples; returns how many of them are due now (not scheduled)."""
    due = 0
    with fastq.Client(url) as client:
        # Run as soon as a worker is free. Task.json encodes compact UTF-8 JSON.
        info = client.enqueue(fastq.Task.json("email:welcome", {"user_id": 42}))
        print(f"enqueued {info.type} {info.id} -> {info.queue} ({info.state})")
        due += 1

        # Options on the task are defaults; options given to enqueue override them.
        report = fastq.Task.json("report:build", {"day": "2024-05-01"}, queue="low")
        info = client.enqueue(report, queue="critical", max_retry=3, timeout=120)
        print(f"enqueued {info.type} into {info.queue} with max_retry={info.max_retry}")
        due += 1

        # Run in ten minutes; keep the finished task for a day for inspection.
        info = client.enqueue(
            fastq.Task("cache:warm", b"homepage"),
            process_in=timedelta(minutes=10),
            retention=timedelta(days=1),
        )
        print(f"scheduled {info.type} for {info.next_process_at:%H:%M:%S} UTC ({info.state})")

        # At most one such task per hour: the duplicate is refused.
        sync = fastq.Task.json("crm:sync", {"account": 7}, unique=timedelta(hours=1))
        client.enqueue(sync)
        due += 1
        try:
            client.enqueue(sync)
        except fastq.DuplicateTaskError as exc:
            print(f"refused duplicate: {exc}")

        # Thousands of tasks in one round trip.
        batch = [fastq.Task.json("image:thumbnail", {"image": n}) for n in range(1000)]
        infos = client.enqueue_many(batch, queue="media")
        print(f"enqueued {len(infos)} thumbnails in one round trip")
        return due + len(infos)


async def produce_async(url: str) -> int:
    async with fastq.AsyncClient(url) as client:
        info = await client.enqueue(fastq.Task.json("email:welcome", {"user_id": 43}))
        print(f"enqueued from asyncio: {info.id}")
    return 1


def start_worker(url: str) -> subprocess.Popen[bytes]:
    """fastq-worker on the producer's app, in its own session (only we signal it)."""
    env = dict(os.environ, FASTQ_REDIS_URL=url, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "fastq.supervisor", "examples.producer_app:app"]
    argv += ["--processes", "1", "--queues", QUEUES]
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)


def wait_until_processed(url: str, due: int, timeout: float) -> tuple[int, int]:
    """Poll the queues' daily stats until ``due`` tasks ran; returns (processed, failed)."""
    with fastq.Inspector(url) as inspector:
        deadline = time.monotonic() + timeout
        processed = failed = 0
        while time.monotonic() < deadline:
            infos = inspector.all_queue_info()
            processed = sum(i.processed for i in infos)
            failed = sum(i.failed for i in infos)
            if processed >= due and not any(i.pending or i.active for i in infos):
                break
            time.sleep(0.2)
    return processed, failed


def main() -> int:
    parser = argparse.ArgumentParser(description="Enqueue a few example tasks.")
    parser.add_argument("--redis-url", default=os.environ.get("FASTQ_REDIS_URL"))
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the run")
    args = parser.parse_args()
    if args.redis_url is not None:  # your own Redis: your workers run the tasks
        produce(args.redis_url)
        asyncio.run(produce_async(args.redis_url))
        return 0
    server = RedisServer()
    server.start()
    print(f"started a private redis-server at {server.url}")
    worker = start_worker(server.url)
    try:
        due = produce(server.url) + asyncio.run(produce_async(server.url))
        processed, failed = wait_until_processed(server.url, due, args.timeout)
        print(
            f"processed {processed} of the {due} tasks due now, {failed} failed "
            "(cache:warm is scheduled for 10 minutes from now)"
        )
        return 0 if processed >= due and not failed else 1
    finally:
        worker.send_signal(signal.SIGTERM)  # graceful: drain, then exit
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
