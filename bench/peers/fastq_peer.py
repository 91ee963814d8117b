"""fastq through its public API: `fastq-worker module:app --processes 2 --concurrency N`.

Handlers are ``async def`` (set BENCH_FASTQ_HANDLERS=sync for ``def`` handlers in
the worker's thread pool).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis

import fastq
from fastq import keys
from fastq._core import TaskMessage

from common import (
    FASTQ_WORKER,
    IO_CONCURRENCY,
    PROCESSES,
    QUEUES,
    Job,
    Peer,
    WorkerSpec,
    python,
    run_async,
    run_sync,
)
from floor import GO_ENQUEUE  # no fastq wake token announces such a task

CONCURRENCY = 50  # async no-op handlers: enough free slots for batch fetches to pay off
app = fastq.App()


def _args(task: Any) -> tuple[int, float | None]:
    # payload: b"<seq>" or b"<seq> <enqueue time>"
    seq, _, sent_at = task.payload.partition(b" ")
    return int(seq), float(sent_at) if sent_at else None


if os.environ.get("BENCH_FASTQ_HANDLERS", "async") == "sync":

    @app.task("noop")
    def noop(task: Any, ctx: Any) -> None:
        run_sync("noop", *_args(task))

    @app.task("sleep")
    def sleep(task: Any, ctx: Any) -> None:
        run_sync("sleep", *_args(task))

    @app.task("rtt")
    def rtt(task: Any, ctx: Any) -> None:
        run_sync("rtt", *_args(task))

else:

    @app.task("noop")
    async def anoop(task: Any, ctx: Any) -> None:
        await run_async("noop", *_args(task))

    @app.task("sleep")
    async def asleep(task: Any, ctx: Any) -> None:
        await run_async("sleep", *_args(task))

    @app.task("rtt")
    async def artt(task: Any, ctx: Any) -> None:
        await run_async("rtt", *_args(task))


def _payload(j: Job) -> bytes:
    sent_at = j.sent_at()
    return b"%d" % j.seq if sent_at is None else b"%d %r" % (j.seq, sent_at)


def _task(j: Job) -> fastq.Task:
    return fastq.Task(j.kind, _payload(j), queue=j.queue)


class FastqPeer(Peer):
    name = "fastq"
    packages = ("fastq",)
    has_bulk = True
    has_async = True
    has_unannounced = True
    has_queues = True
    queue_note = "weighted 6/4/2/1"
    setup_note = "`fastq-worker --processes 2` with `--concurrency 50` (async handlers; default 10), 50 for I/O"

    def open(self, url: str) -> None:
        self.url = url
        self.client = fastq.Client(url)
        self.raw = redis.Redis.from_url(url)
        self.raw.sadd(keys.ALL_QUEUES, *QUEUES)  # Go registers a queue on its first enqueue

    def close(self) -> None:
        self.client.close()
        self.raw.close()

    def run_async(self, coro: Any) -> None:
        async def with_client() -> None:
            async with fastq.AsyncClient(self.url) as self.aclient:
                await coro

        asyncio.run(with_client())

    async def aenqueue(self, job: Job) -> None:
        await self.aclient.enqueue(_task(job))

    def enqueue_unannounced(self, job: Job) -> None:
        tid = str(uuid.uuid4())
        msg = TaskMessage(
            type=job.kind, payload=_payload(job), id=tid, queue=job.queue, retry=25, timeout=1800
        )
        task_key, pending = keys.task_key(job.queue, tid), keys.pending_key(job.queue)
        self.raw.eval(GO_ENQUEUE, 2, task_key, pending, msg.encode(), tid, time.time_ns())

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for j in jobs:
            self.client.enqueue(_task(j))

    def enqueue_bulk(self, jobs: Sequence[Job]) -> None:
        # One pipelined round trip per few thousand tasks keeps the reply buffers modest.
        for i in range(0, len(jobs), 5000):
            self.client.enqueue_many([_task(j) for j in jobs[i : i + 5000]])

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        concurrency = spec.io_concurrency if spec.io else CONCURRENCY
        queues = ",".join(f"{q}={w}" for q, w in QUEUES.items() if q in spec.queues)
        self._env = {}
        if importlib.util.find_spec("fastq.supervisor.cli") is not None:
            return [
                [
                    python(),
                    "-c",
                    FASTQ_WORKER,
                    "fastq_peer:app",
                    "--processes",
                    str(PROCESSES),
                    "--concurrency",
                    str(concurrency),
                    "--queues",
                    queues,
                    "--redis-url",
                    url,
                ]
            ]
        # Before the supervisor exists: one standalone worker process per core.
        self._env = {
            "FASTQ_REDIS_URL": url,
            "FASTQ_QUEUES": queues,
            "FASTQ_CONCURRENCY": str(concurrency),
        }
        return [[python(), "-m", "fastq.worker", "fastq_peer:app"]] * PROCESSES

    def worker_env(self) -> dict[str, str]:
        return getattr(self, "_env", {})


PEER = FastqPeer()
