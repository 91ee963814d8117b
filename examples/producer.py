"""Enqueue a few tasks: now, later, unique, in bulk, and from asyncio.

    FASTQ_REDIS_URL=redis://127.0.0.1:6379/0 python3 examples/producer.py

Without FASTQ_REDIS_URL (or ``--redis-url``) it starts a private redis-server of its
own, so it runs anywhere; point it at the Redis your workers use to see them run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import timedelta

import fastq
from fastq.devredis import RedisServer


def produce(url: str) -> None:
    with fastq.Client(url) as client:
        # Run as soon as a worker is free. Task.json encodes compact UTF-8 JSON.
        info = client.enqueue(fastq.Task.json("email:welcome", {"user_id": 42}))
        print(f"enqueued {info.type} {info.id} -> {info.queue} ({info.state})")

        # Options on the task are defaults; options given to enqueue override them.
        report = fastq.Task.json("report:build", {"day": "2024-05-01"}, queue="low")
        info = client.enqueue(report, queue="critical", max_retry=3, timeout=120)
        print(f"enqueued {info.type} into {info.queue} with max_retry={info.max_retry}")

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
        try:
            client.enqueue(sync)
        except fastq.DuplicateTaskError as exc:
            print(f"refused duplicate: {exc}")

        # Thousands of tasks in one round trip.
        batch = [fastq.Task.json("image:thumbnail", {"image": n}) for n in range(1000)]
        infos = client.enqueue_many(batch, queue="media")
        print(f"enqueued {len(infos)} thumbnails in one round trip")


async def produce_async(url: str) -> None:
    async with fastq.AsyncClient(url) as client:
        info = await client.enqueue(fastq.Task.json("email:welcome", {"user_id": 43}))
        print(f"enqueued from asyncio: {info.id}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Enqueue a few example tasks.")
    parser.add_argument("--redis-url", default=os.environ.get("FASTQ_REDIS_URL"))
    args = parser.parse_args()
    server = None
    if args.redis_url is None:
        server = RedisServer()
        server.start()
        args.redis_url = server.url
        print(f"started a private redis-server at {server.url}")
    try:
        produce(args.redis_url)
        asyncio.run(produce_async(args.redis_url))
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
