"""arq: asyncio; one `arq` process per worker, so two of them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from common import IO_CONCURRENCY, IO_WIDE, PROCESSES, Job, Peer, WorkerSpec, redis_url, run_async, venv_bin


async def noop(ctx: dict[str, Any], seq: int, sent_at: float | None = None) -> None:
    await run_async("noop", seq, sent_at)


async def sleep(ctx: dict[str, Any], seq: int, sent_at: float | None = None) -> None:
    await run_async("sleep", seq, sent_at)


async def rtt(ctx: dict[str, Any], seq: int, sent_at: float | None = None) -> None:
    await run_async("rtt", seq, sent_at)


class WorkerSettings:
    functions = [noop, sleep, rtt]
    redis_settings = RedisSettings.from_dsn(redis_url())
    max_jobs = 10  # arq's default


class WorkerSettingsIO:  # arq reads the class __dict__, so no inheritance
    functions = [noop, sleep, rtt]
    redis_settings = RedisSettings.from_dsn(redis_url())
    max_jobs = IO_CONCURRENCY


class WorkerSettingsWide:
    functions = [noop, sleep, rtt]
    redis_settings = RedisSettings.from_dsn(redis_url())
    max_jobs = IO_WIDE


class ArqPeer(Peer):
    name = "arq"
    packages = ("arq",)
    has_async = True
    setup_note = "2 x `arq` (max_jobs 10 default; 50 for I/O); polls every 0.5 s when idle"

    def open(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()

    def enqueue(self, jobs: Sequence[Job]) -> None:
        async def go() -> None:
            for j in jobs:
                await self.pool.enqueue_job(j.kind, j.seq, j.sent_at())

        self.loop.run_until_complete(go())

    async def aenqueue(self, job: Job) -> None:
        await self.pool.enqueue_job(job.kind, job.seq, job.sent_at())

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        settings = "arq_peer.WorkerSettingsIO" if spec.io else "arq_peer.WorkerSettings"
        settings = "arq_peer.WorkerSettingsWide" if spec.wide else settings
        return [[venv_bin("arq"), settings]] * PROCESSES


PEER = ArqPeer()
