"""AsyncClient.enqueue coalesces concurrent callers into batch calls."""

from __future__ import annotations

import asyncio

import pytest
import redis

from fastq import keys
from fastq.client import AsyncClient
from fastq.errors import TaskIDConflictError
from fastq.task import Task, TaskInfo


def evalsha_calls(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


async def test_100_concurrent_enqueues_share_a_few_script_calls(
    redis_url: str, r: redis.Redis
) -> None:
    async with AsyncClient(redis_url) as client:
        await client.enqueue(Task("warm"))  # publishes the queue
        r.config_resetstat()
        infos = await asyncio.gather(*(client.enqueue(Task("t", b"%d" % i)) for i in range(100)))
        calls = evalsha_calls(r)
    assert calls < 10  # one call each would be 100
    assert len({i.id for i in infos}) == 100
    pending = {x.decode() for x in r.lrange(keys.pending_key("default"), 0, -1)}
    assert {i.id for i in infos} <= pending
    payloads = {r.hget(keys.task_key("default", i.id), "msg") is not None for i in infos}
    assert payloads == {True}


async def test_a_refused_task_in_a_batch_fails_only_its_own_caller(
    redis_url: str, r: redis.Redis
) -> None:
    async with AsyncClient(redis_url) as client:
        await client.enqueue(Task("warm"), task_id="taken")
        results = await asyncio.gather(
            client.enqueue(Task("a")),  # goes out alone; the rest queue behind it
            client.enqueue(Task("b")),
            client.enqueue(Task("c"), task_id="taken"),
            client.enqueue(Task("d")),
            return_exceptions=True,
        )
    assert [type(x) for x in results] == [TaskInfo, TaskInfo, TaskIDConflictError, TaskInfo]
    assert r.llen(keys.pending_key("default")) == 4  # warm, a, b, d


async def test_a_sequential_caller_gets_each_task_enqueued_in_order(
    redis_url: str, r: redis.Redis
) -> None:
    async with AsyncClient(redis_url) as client:
        ids = [(await client.enqueue(Task("t", b"%d" % i))).id for i in range(20)]
    assert [x.decode() for x in reversed(r.lrange(keys.pending_key("default"), 0, -1))] == ids


async def test_an_unreachable_redis_fails_every_caller_of_the_batch() -> None:
    from fastq.devredis import free_port
    from fastq.errors import BrokerError

    async with AsyncClient(f"redis://127.0.0.1:{free_port()}/0") as client:
        client._published.add("default")  # reach the coalescer without the publish call
        results = await asyncio.gather(
            *(client.enqueue(Task("t")) for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(x, BrokerError) for x in results), results


pytestmark = pytest.mark.timeout(60)
