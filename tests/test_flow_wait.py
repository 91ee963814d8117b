"""``Client.wait`` / ``AsyncClient.wait`` against a real worker engine and Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis
from test_cli import run_json
from test_worker_engine import engine, until

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.client import AsyncClient, Client
from fastq.errors import SkipRetry, WaitError, WaitTimeoutError
from fastq.inspect.inspector import Inspector
from fastq.task import Task, TaskState
from fastq.waiting import DEFAULT_RESULT_RETENTION


def _app(release: asyncio.Event, started: list[str]) -> App:
    app = App()

    @app.task("answer")
    async def answer(task: IncomingTask, ctx: Context) -> None:
        started.append(task.id)
        await release.wait()
        await ctx.write_result_async(b"42")

    @app.task("doomed")
    async def doomed(task: IncomingTask, ctx: Context) -> None:
        await ctx.write_result_async(b"partial")
        raise SkipRetry("no way")

    return app


async def test_wait_returns_the_result_once_the_task_completes(
    redis_url: str, r: redis.Redis
) -> None:
    release = asyncio.Event()
    started: list[str] = []
    async with engine(_app(release, started), redis_url), AsyncClient(redis_url) as client:
        info = await client.enqueue(Task("answer"), result=True)
        assert info.retention == DEFAULT_RESULT_RETENTION
        waiters = [asyncio.create_task(client.wait(info, timeout=10)) for _ in range(2)]
        await until(lambda: started == [info.id])
        await asyncio.sleep(0.1)
        assert not any(w.done() for w in waiters)  # blocked while the task runs
        release.set()
        done = await asyncio.gather(*waiters)
    assert [(d.state, d.result) for d in done] == [(TaskState.COMPLETED, b"42")] * 2


async def test_blocking_client_wait_sees_a_task_archived(redis_url: str, r: redis.Redis) -> None:
    app = _app(asyncio.Event(), [])
    with Client(redis_url) as client:
        info = client.enqueue(Task("doomed"), result=True)
        async with engine(app, redis_url):
            got = await asyncio.to_thread(client.wait, info.id, timeout=10)
    assert got.state == TaskState.ARCHIVED and got.result == b"partial"
    assert "no way" in got.last_err


def test_wait_for_a_missing_or_deleted_task_is_a_clear_error(
    redis_url: str, r: redis.Redis
) -> None:
    with Client(redis_url) as client:
        with pytest.raises(WaitError, match="no such task"):
            client.wait("nope", timeout=1)
        info = client.enqueue(Task("answer"), result=True)
        r.delete(keys.task_key("default", info.id))  # deleted, or its retention expired
        with pytest.raises(WaitError, match="no such task"):
            client.wait(info, timeout=1)


def test_wait_for_a_task_that_keeps_no_result_is_refused(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        info = client.enqueue(Task("answer"))
        with pytest.raises(WaitError, match="keeps no result"):
            client.wait(info, timeout=1)


def test_wait_times_out_with_its_own_error(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        info = client.enqueue(Task("answer"), result=True)
        with pytest.raises(WaitTimeoutError, match=r"not finished after 0\.2 s"):
            client.wait(info, timeout=0.2)


def test_result_true_keeps_a_retention_that_was_set(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        assert client.enqueue(Task("answer", retention=60), result=True).retention == 60
        assert client.enqueue(Task("answer"), result=True, retention=7).retention == 7
        infos = client.enqueue_many([Task("answer"), Task("answer")], result=True)
    assert [i.retention for i in infos] == [DEFAULT_RESULT_RETENTION] * 2


async def test_the_waited_result_shows_in_the_inspector_and_the_cli(
    redis_url: str, r: redis.Redis
) -> None:
    release = asyncio.Event()
    release.set()
    async with engine(_app(release, []), redis_url), AsyncClient(redis_url) as client:
        info = await client.enqueue(Task("answer"), result=True)
        done = await client.wait(info, timeout=10)
    assert done.result == b"42"
    with Inspector(redis_url) as insp:
        assert insp.task_info("default", info.id).result == b"42"
    args = ("task", "inspect", "-q", "default", "-i", info.id)
    shown = await asyncio.to_thread(run_json, redis_url, *args)
    assert shown["result"] == "42"
