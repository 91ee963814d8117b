"""What a worker keeps per task is bounded in bytes: the stored error text and the
memo of unknown task types (issue 11, item 9)."""

from __future__ import annotations

import asyncio

import redis
from test_worker_engine import _state, engine, until
from workerapps.helpers import enqueue, task_msg

from fastq._core import TaskMessage
from fastq.app import App, Context, IncomingTask
from fastq.worker.executor import (
    MAX_ERROR_BYTES,
    UNKNOWN_MEMO_BYTES,
    Executor,
    Running,
    clip,
    describe,
)


async def test_a_huge_error_is_stored_clipped(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("loud")
    async def loud(task: IncomingTask, ctx: Context) -> None:
        raise ValueError("é" * 500_000)  # 1 MB of error text

    async with engine(app, redis_url):
        tid = enqueue(r, "loud", retry=3)
        await until(lambda: _state(r, "default", tid)() == b"retry")
    error = task_msg(r, "default", tid).error_msg
    assert error.startswith("ValueError: éé") and error.endswith("[truncated]")
    assert len(error.encode()) <= MAX_ERROR_BYTES


def test_clip_cuts_whole_characters() -> None:
    assert clip("short", 10) == "short"
    assert describe(KeyError()) == "KeyError"
    cut = clip("€" * 100, 50)  # 3 bytes each
    assert len(cut.encode()) <= 50 and cut.endswith(" ... [truncated]")
    assert set(cut.removesuffix(" ... [truncated]")) == {"€"}


def test_the_unknown_type_memo_stays_within_its_bytes() -> None:
    loop = asyncio.new_event_loop()
    done: list[str] = []
    try:
        ex = Executor(App(), loop, 1, lambda r, exc: done.append(r.task_id))
        for i in range(2000):
            task_type = f"{i:06d}" + "t" * 100  # 2000 distinct unknown types
            ex.start(Running(TaskMessage(type=task_type, id=str(i), queue="q"), "q", 0.0, 1.0))
        assert len(done) == 2000  # every one failed at once, none was lost
        assert sum(len(t) for t in ex._unknown) <= UNKNOWN_MEMO_BYTES
        assert 0 < len(ex._unknown) < 2000
    finally:
        loop.close()
