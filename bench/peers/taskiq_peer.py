"""taskiq with taskiq-redis's RedisStreamBroker (the acknowledging broker its README shows).

Pinned to taskiq 0.11 / taskiq-redis 1.1 (bench/requirements-peers.txt): with
taskiq 0.13 / taskiq-redis 1.2 every few runs left one or two of ~2,000 tasks
never run (with either broker), so their drains could not be verified. On
redis-py 8 a worker blocked on an idle list also died of its 5 s default socket
timeout, hence ``socket_timeout=None``. BENCH_TASKIQ_BROKER=list picks
ListQueueBroker.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from taskiq_redis import ListQueueBroker, RedisStreamBroker

from common import IO_CONCURRENCY, PROCESSES, Job, Peer, WorkerSpec, redis_url, run_async, venv_bin

STREAM = os.environ.get("BENCH_TASKIQ_BROKER", "stream") == "stream"
_BROKER = RedisStreamBroker if STREAM else ListQueueBroker
broker = _BROKER(url=redis_url(), socket_timeout=None)


@broker.task(task_name="noop")
async def noop(seq: int, sent_at: float | None = None) -> None:
    await run_async("noop", seq, sent_at)


@broker.task(task_name="sleep")
async def sleep(seq: int, sent_at: float | None = None) -> None:
    await run_async("sleep", seq, sent_at)


@broker.task(task_name="rtt")
async def rtt(seq: int, sent_at: float | None = None) -> None:
    await run_async("rtt", seq, sent_at)


TASKS = {"noop": noop, "sleep": sleep, "rtt": rtt}


class TaskiqPeer(Peer):
    name = "taskiq"
    packages = ("taskiq", "taskiq-redis")
    has_async = True
    setup_note = (
        "`taskiq worker --workers 2`, RedisStreamBroker with socket_timeout=None"
        " (max-async-tasks 100 default; 50 for I/O)"
    )

    def open(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        # For the stream broker, startup() declares the consumer group, so tasks sent
        # before a worker starts count.
        self.loop.run_until_complete(broker.startup())

    def close(self) -> None:
        self.loop.run_until_complete(broker.shutdown())
        self.loop.close()

    def enqueue(self, jobs: Sequence[Job]) -> None:
        async def go() -> None:
            for j in jobs:
                await TASKS[j.kind].kiq(j.seq, j.sent_at())

        self.loop.run_until_complete(go())

    async def aenqueue(self, job: Job) -> None:
        await TASKS[job.kind].kiq(job.seq, job.sent_at())

    def diagnose(self, r: Any) -> str:
        if not STREAM:
            return f"{r.llen('taskiq')} left in the list"
        consumers = [
            f"{c['name'].decode()[:8]}: pending {c['pending']}, idle {c['idle']} ms"
            for c in r.xinfo_consumers("taskiq", "taskiq")
        ]
        return f"stream length {r.xlen('taskiq')}, consumers: {'; '.join(consumers)}"

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        cmd = [
            venv_bin("taskiq"),
            "worker",
            "taskiq_peer:broker",
            "--workers",
            str(PROCESSES),
            "--log-level",
            "WARNING",
        ]
        if spec.io:
            cmd += ["--max-async-tasks", str(spec.io_concurrency)]
        return [cmd]


PEER = TaskiqPeer()
