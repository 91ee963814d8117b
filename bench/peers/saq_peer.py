"""SAQ: asyncio, `saq module.settings --workers 2`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from saq import Queue

from common import IO_CONCURRENCY, IO_WIDE, PROCESSES, Job, Peer, WorkerSpec, redis_url, run_async, venv_bin


async def noop(ctx: dict[str, Any], *, seq: int, sent_at: float | None = None) -> None:
    await run_async("noop", seq, sent_at)


async def sleep(ctx: dict[str, Any], *, seq: int, sent_at: float | None = None) -> None:
    await run_async("sleep", seq, sent_at)


async def rtt(ctx: dict[str, Any], *, seq: int, sent_at: float | None = None) -> None:
    await run_async("rtt", seq, sent_at)


settings = {
    "queue": Queue.from_url(redis_url()),
    "functions": [noop, sleep, rtt],
    "concurrency": 10,  # SAQ's default
}
settings_io = {**settings, "concurrency": IO_CONCURRENCY}
settings_wide = {**settings, "concurrency": IO_WIDE}


class SaqPeer(Peer):
    name = "saq"
    packages = ("saq",)
    has_async = True
    setup_note = "`saq --workers 2` (concurrency 10 default; 50 for I/O)"

    def open(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue = Queue.from_url(url)
        self.loop.run_until_complete(self.queue.connect())

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.disconnect())
        self.loop.close()

    def enqueue(self, jobs: Sequence[Job]) -> None:
        async def go() -> None:
            for j in jobs:
                await self.queue.enqueue(j.kind, seq=j.seq, sent_at=j.sent_at())

        self.loop.run_until_complete(go())

    async def aenqueue(self, job: Job) -> None:
        await self.queue.enqueue(job.kind, seq=job.seq, sent_at=job.sent_at())

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        target = "saq_peer.settings_io" if spec.io else "saq_peer.settings"
        target = "saq_peer.settings_wide" if spec.wide else target
        return [[venv_bin("saq"), target, "--workers", str(PROCESSES), "--quiet"]]


PEER = SaqPeer()
