"""taskiq with taskiq-redis's RedisStreamBroker (the acknowledging broker its README shows)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from taskiq_redis import RedisStreamBroker

from common import IO_CONCURRENCY, PROCESSES, Job, Peer, WorkerSpec, redis_url, run_async, venv_bin

broker = RedisStreamBroker(url=redis_url())


@broker.task(task_name="noop")
async def noop(sent_at: float | None = None) -> None:
    await run_async("noop", sent_at)


@broker.task(task_name="sleep")
async def sleep(sent_at: float | None = None) -> None:
    await run_async("sleep", sent_at)


TASKS = {"noop": noop, "sleep": sleep}


class TaskiqPeer(Peer):
    name = "taskiq"
    packages = ("taskiq", "taskiq-redis")
    setup_note = "`taskiq worker --workers 2` (max-async-tasks 100 default; 50 for I/O)"

    def open(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        # startup() declares the consumer group, so tasks sent before a worker starts count.
        self.loop.run_until_complete(broker.startup())

    def close(self) -> None:
        self.loop.run_until_complete(broker.shutdown())
        self.loop.close()

    def enqueue(self, jobs: Sequence[Job]) -> None:
        async def go() -> None:
            for j in jobs:
                await TASKS[j.kind].kiq(time.time() if j.stamp else None)

        self.loop.run_until_complete(go())

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
            cmd += ["--max-async-tasks", str(IO_CONCURRENCY)]
        return [cmd]


PEER = TaskiqPeer()
