"""AsyncClient: the same paths and errors as Client, over asyncio."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from fastq import keys
from fastq.client import AsyncClient
from fastq.devredis import RedisServer, free_port
from fastq.errors import (
    BrokerConnectionError,
    DuplicateTaskError,
    EnqueueManyError,
    InvalidOptionError,
    PayloadTooLargeError,
    TaskIDConflictError,
)
from fastq.task import Task, TaskState


async def test_enqueue_paths(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url) as c:
        p = await c.enqueue(Task.json("x", {"a": 1}))
        s = await c.enqueue(Task("x"), process_in=120, queue="later")
        g = await c.enqueue(Task("x", group="grp"))
    assert (p.state, s.state, g.state) == (
        TaskState.PENDING,
        TaskState.SCHEDULED,
        TaskState.AGGREGATING,
    )
    assert p.json() == {"a": 1}
    assert r.hget(keys.task_key("default", p.id), "state") == b"pending"
    assert r.lrange(keys.pending_key("default"), 0, -1) == [p.id.encode()]
    assert r.zscore(keys.scheduled_key("later"), s.id) == int(s.next_process_at.timestamp())  # type: ignore[union-attr]
    assert r.zscore(keys.group_key("default", "grp"), g.id) is not None
    assert r.smembers(keys.ALL_QUEUES) == {b"default", b"later"}
    assert r.lrange(keys.wake_key("default"), 0, -1) == [b"1"]


async def test_unique_and_conflict(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url) as c:
        info = await c.enqueue(Task("u", b"k"), unique=60, task_id="id1")
        with pytest.raises(DuplicateTaskError):
            await c.enqueue(Task("u", b"k"), unique=60)
        with pytest.raises(TaskIDConflictError):
            await c.enqueue(Task("other"), task_id="id1")
    assert r.get(keys.unique_key("default", "u", b"k")) == info.id.encode()
    assert r.llen(keys.pending_key("default")) == 1


async def test_enqueue_many_and_partial_failure(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url) as c:
        infos = await c.enqueue_many([Task("x", b"%d" % i) for i in range(50)], queue="b")
        assert [i.payload for i in infos] == [b"%d" % i for i in range(50)]
        with pytest.raises(EnqueueManyError) as exc:
            await c.enqueue_many([Task("x", task_id=infos[0].id, queue="b"), Task("y", queue="b")])
        assert list(exc.value.errors) == [0]
        assert await c.enqueue_many([]) == []
    assert r.llen(keys.pending_key("b")) == 51


async def test_validation_and_limits_before_redis(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url, max_payload_bytes=64) as c:
        with pytest.raises(InvalidOptionError):
            await c.enqueue(Task("x"), queue=" ")
        with pytest.raises(PayloadTooLargeError):
            await c.enqueue(Task("x", b"z" * 64))
        with pytest.raises(InvalidOptionError):
            await c.enqueue_many([Task("x")], bogus=1)
    assert r.dbsize() == 0


async def test_redis_down() -> None:
    c = AsyncClient(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    start = time.monotonic()
    with pytest.raises(BrokerConnectionError) as exc:
        await c.enqueue(Task("x"))
    with pytest.raises(ConnectionError):
        await c.enqueue_many([Task("x")])
    await c.close()
    assert "hunter2" not in str(exc.value)
    assert time.monotonic() - start < 30


async def test_queue_cache(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url) as c:
        await c.enqueue(Task("x"))
        r.delete(keys.ALL_QUEUES)
        await c.enqueue(Task("x"))
        assert not r.exists(keys.ALL_QUEUES)
        await c.enqueue_many([Task("x", queue="new")])
    assert r.smembers(keys.ALL_QUEUES) == {b"new"}


async def test_concurrent_enqueues(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url) as c:
        infos = await asyncio.gather(*(c.enqueue(Task("x", b"%d" % i)) for i in range(50)))
    assert len({i.id for i in infos}) == 50
    assert r.llen(keys.pending_key("default")) == 50
    assert r.smembers(keys.ALL_QUEUES) == {b"default"}


async def test_async_killed_connection_is_replaced_and_nothing_is_lost(
    redis_url: str, r: redis.Redis
) -> None:
    """Redis dropping the producer's kept connection costs nothing: the next enqueue,
    alone or in a coalesced batch, dials again."""
    async with AsyncClient(redis_url) as c:
        first = await c.enqueue(Task("x"))
        for i in range(2):
            r.client_kill_filter(_type="normal", skipme=True)
            await c.enqueue(Task("x"))
            await c.enqueue(Task("u", b"%d" % i), unique=60)
            r.client_kill_filter(_type="normal", skipme=True)
            await asyncio.gather(*(c.enqueue(Task("x")) for _ in range(20)))
        with pytest.raises(TaskIDConflictError):  # a conflict is still told apart
            await c.enqueue(Task("x"), task_id=first.id)
    assert r.llen(keys.pending_key("default")) == 1 + 2 * (1 + 1 + 20)


async def test_redis_restart_gives_every_caller_a_clear_error_then_works(
    redis_server: RedisServer,
) -> None:
    redis_server.flush()
    async with AsyncClient(redis_server.url) as c:
        await c.enqueue(Task("x"))
        redis_server.stop()
        try:
            results = await asyncio.gather(
                *(c.enqueue(Task("x")) for _ in range(10)), return_exceptions=True
            )
        finally:
            redis_server.start()
        assert all(isinstance(x, BrokerConnectionError) for x in results), results
        infos = await asyncio.gather(*(c.enqueue(Task("x")) for _ in range(10)))
    raw = redis.Redis(port=redis_server.port)
    try:
        pending = {x.decode() for x in raw.lrange(keys.pending_key("default"), 0, -1)}
        assert pending == {i.id for i in infos}
    finally:
        raw.flushall()
        raw.close()


async def test_a_stalled_redis_fails_the_async_caller_with_a_clear_error(
    redis_url: str, r: redis.Redis
) -> None:
    """A Redis that accepts the request but never answers (here: paused by
    CLIENT PAUSE) fails the callers after the socket timeout, not never."""
    from fastq.config import RedisConfig

    cfg = RedisConfig(url=redis_url, socket_timeout=0.3)
    async with AsyncClient(cfg) as c:
        await c.enqueue(Task("x"))
        r.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
        try:
            with pytest.raises(BrokerConnectionError):
                await c.enqueue(Task("x"))
        finally:
            r.execute_command("CLIENT", "UNPAUSE")
        await c.enqueue(Task("x"))  # a fresh connection
    assert r.llen(keys.pending_key("default")) in (2, 3)  # the timed-out call: at most once


async def test_an_idle_async_connection_is_checked_before_use(
    redis_url: str, r: redis.Redis
) -> None:
    from fastq.config import RedisConfig

    cfg = RedisConfig(url=redis_url, extra={"health_check_interval": 0.05})
    async with AsyncClient(cfg) as c:
        await c.enqueue(Task("x"))
        await asyncio.sleep(0.1)
        r.config_resetstat()
        await c.enqueue(Task("x"))  # alive: PING, then the enqueue
        assert int(r.info("commandstats")["cmdstat_ping"]["calls"]) == 1
        r.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.1)
        await c.enqueue(Task("x"))  # dead: the PING fails, a new connection takes it
    assert r.llen(keys.pending_key("default")) == 3
