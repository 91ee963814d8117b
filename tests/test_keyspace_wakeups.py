"""Keyspace wake-ups: a task pushed the way Go Asynq pushes it (no wake token) ends
an idle worker's wait through a keyspace notification, not through the poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
from asynq_writer import put_task

from fastq.config import RedisConfig
from fastq.rdb.conn import AsyncConn
from fastq.rdb.notify import enable_keyspace_events, merged_flags
from fastq.worker.fetcher import Fetcher
from fastq.worker.settings import WorkerSettings

pytestmark = pytest.mark.timeout(60)
LONG_WAIT = 20.0  # the idle wait's timeout: far longer than the test could pass by polling


@pytest.fixture
def flags(r: redis.Redis) -> Iterator[None]:
    before = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
    yield
    r.config_set("notify-keyspace-events", before)


def test_merged_flags_add_keyspace_and_list_events_and_keep_the_others() -> None:
    assert merged_flags("") == "Kl"
    assert merged_flags("Ex") == "ExKl"
    assert merged_flags("KA") is None
    assert merged_flags("Kl") is None
    assert merged_flags("Ez") == "EzKl"


def test_enable_turns_list_keyspace_events_on_keeping_existing_flags(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    r.config_set("notify-keyspace-events", "Ex")
    on, what = enable_keyspace_events(RedisConfig.from_url(redis_url))
    assert on, what
    assert set(r.config_get("notify-keyspace-events")["notify-keyspace-events"]) == set("xEKl")
    on_again, what_again = enable_keyspace_events(RedisConfig.from_url(redis_url))
    assert on_again and what_again.startswith("already on")


async def _idle_wait_then_go_push(redis_url: str, r: redis.Redis) -> tuple[Fetcher, list[str], str]:
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"kq": 1})
    conn = AsyncConn(settings.redis)
    fetcher = Fetcher(settings, conn, time.time)
    try:
        first, _ = await fetcher.wait_then_fetch(LONG_WAIT, 1)  # arms; empty queue
        assert first == []
        waiting = asyncio.create_task(fetcher.wait_then_fetch(LONG_WAIT, 1))
        notices = fetcher.notices
        assert notices is not None
        while not notices.waiting:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # the BLPOP is on the server
        tid = put_task(r, "kq", "pending", type="go:task")  # LPUSH only, as Go does
        fetched, _ = await asyncio.wait_for(waiting, LONG_WAIT + 5)
        return fetcher, [f.task_id for f in fetched], tid
    finally:
        await fetcher.close()
        await conn.close()


async def test_a_go_layout_push_wakes_the_idle_worker_through_a_notification(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    fetcher, ids, tid = await _idle_wait_then_go_push(redis_url, r)
    assert ids == [tid]
    assert fetcher.notices is not None and fetcher.notices.woken == 1


async def test_without_keyspace_events_the_poll_finds_the_task_and_nothing_wakes(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    r.config_set("notify-keyspace-events", "")
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"kq": 1})
    conn = AsyncConn(settings.redis)
    fetcher = Fetcher(settings, conn, time.time)
    try:
        await fetcher.wait_then_fetch(0.5, 1)  # arms (nothing will be published)
        tid = put_task(r, "kq", "pending", type="go:task")
        fetched, _ = await fetcher.wait_then_fetch(0.5, 1)  # the fetch after the poll's wait
        assert [f.task_id for f in fetched] == [tid]
        assert fetcher.notices is not None and fetcher.notices.woken == 0
    finally:
        await fetcher.close()
        await conn.close()


async def test_a_busy_fetch_unsubscribes(redis_url: str, r: redis.Redis, flags: None) -> None:
    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"kq": 1})
    conn = AsyncConn(settings.redis)
    fetcher = Fetcher(settings, conn, time.time)
    try:
        await fetcher.wait_then_fetch(0.1, 1)
        assert fetcher.notices is not None and fetcher.notices.armed
        put_task(r, "kq", "pending", type="go:task")
        fetched, _ = await fetcher.fetch(1)
        assert len(fetched) == 1
        assert not fetcher.notices.armed
        channel = "__keyspace@0__:asynq:{kq}:pending"
        for _ in range(100):  # the UNSUBSCRIBE reaches the server shortly
            if r.pubsub_numsub(channel)[0][1] == 0:
                break
            await asyncio.sleep(0.01)
        assert r.pubsub_numsub(channel)[0][1] == 0
    finally:
        await fetcher.close()
        await conn.close()


def test_a_redis_that_refuses_config_reports_it_and_the_fetcher_still_polls() -> None:
    from fastq.devredis import RedisServer

    server = RedisServer(extra=["--rename-command", "CONFIG", ""])  # as managed services do
    server.start()
    try:
        config = RedisConfig.from_url(server.url)
        on, why = enable_keyspace_events(config)
        assert not on
        assert "unknown command" in why.lower()

        async def go_task_found_by_the_poll() -> tuple[list[str], str, int]:
            r = redis.Redis.from_url(server.url)
            settings = WorkerSettings(redis=config, queues={"kq": 1})
            conn = AsyncConn(settings.redis)
            fetcher = Fetcher(settings, conn, time.time)
            try:
                await fetcher.wait_then_fetch(0.2, 1)  # subscribing works; nothing is published
                tid = put_task(r, "kq", "pending", type="go:task")
                fetched, _ = await fetcher.wait_then_fetch(0.2, 1)
                assert fetcher.notices is not None
                return [f.task_id for f in fetched], tid, fetcher.notices.woken
            finally:
                await fetcher.close()
                await conn.close()
                r.close()

        ids, tid, woken = asyncio.run(go_task_found_by_the_poll())
        assert ids == [tid]
        assert woken == 0
    finally:
        server.cleanup()


async def test_the_notification_ends_the_workers_own_blpop_and_leaves_no_token(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    fetcher, ids, tid = await _idle_wait_then_go_push(redis_url, r)
    assert ids == [tid]
    assert fetcher.notices is not None and fetcher.notices.unblocked == 1
    # No token was pushed: none is left over for another worker's next wait.
    assert r.llen("asynq:{kq}:wake") == 0


async def test_where_client_unblock_is_refused_a_wake_token_ends_the_wait(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    r.execute_command("ACL", "SETUSER", "default", "-client", "+client|id")
    try:
        fetcher, ids, tid = await _idle_wait_then_go_push(redis_url, r)
    finally:
        r.execute_command("ACL", "SETUSER", "default", "+@all")
    assert ids == [tid]
    assert fetcher.notices is not None
    assert fetcher.notices.woken == 1 and fetcher.notices.unblocked == 0


async def test_a_push_heard_between_waits_makes_the_next_wait_fetch_at_once(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"kq": 1})
    conn = AsyncConn(settings.redis)
    fetcher = Fetcher(settings, conn, time.time)
    notices = fetcher.notices
    assert notices is not None
    try:
        await fetcher.wait_then_fetch(0.01, 1)  # arms
        tid = put_task(r, "kq", "pending", type="go:task")  # heard while not waiting
        while not notices.noticed:
            await asyncio.sleep(0.005)
        waits = r.info("stats")["total_commands_processed"]
        blpops = r.info("commandstats").get("cmdstat_blpop", {}).get("calls", 0)
        fetched, _ = await fetcher.wait_then_fetch(LONG_WAIT, 1)
        assert [f.task_id for f in fetched] == [tid]
        # Fetched without a blocking pop (which would block for at least 10 ms).
        assert r.info("commandstats").get("cmdstat_blpop", {}).get("calls", 0) == blpops
        assert r.info("stats")["total_commands_processed"] > waits
    finally:
        await fetcher.close()
        await conn.close()


async def test_a_push_that_came_with_a_wake_token_ends_no_other_wait(
    redis_url: str, r: redis.Redis, flags: None
) -> None:
    from fastq.client import Client
    from fastq.task import Task

    assert enable_keyspace_events(RedisConfig.from_url(redis_url))[0]
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"kq": 1})
    conn = AsyncConn(settings.redis)
    fetcher = Fetcher(settings, conn, time.time)
    notices = fetcher.notices
    assert notices is not None
    client = Client(redis_url)
    try:
        await fetcher.wait_then_fetch(0.01, 1)  # arms
        await fetcher.wait_then_fetch(0.01, 1)  # a plain wait
        woken_by_token = asyncio.create_task(fetcher.wait_then_fetch(LONG_WAIT, 1))
        while fetcher.waiter.blocked_id is None:
            await asyncio.sleep(0.005)
        info = client.enqueue(Task("fq:task", b""), queue="kq")  # pending push + wake token
        fetched, _ = await asyncio.wait_for(woken_by_token, LONG_WAIT)
        assert [f.task_id for f in fetched] == [info.id]
        # The next wait blocks: the fastq push's events neither ended it nor left a
        # "noticed" behind; only the Go-layout push below ends it.
        waiting = asyncio.create_task(fetcher.wait_then_fetch(LONG_WAIT, 1))
        while fetcher.waiter.blocked_id is None:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # the fastq push's events have been read by now
        tid = put_task(r, "kq", "pending", type="go:task")
        fetched, _ = await asyncio.wait_for(waiting, LONG_WAIT)
        assert [f.task_id for f in fetched] == [tid]
        assert notices.unblocked == 1
    finally:
        client.close()
        await fetcher.close()
        await conn.close()
