"""The worker engine in-process against a real Redis: every task transition."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from workerapps.helpers import engine, enqueue, task_msg, until

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.config import RedisConfig
from fastq.errors import RevokeTask, SkipRetry
from fastq.worker.process import Engine
from fastq.worker.settings import WorkerSettings


def _gone(r: redis.Redis, q: str, tid: str) -> Callable[[], bool]:
    return lambda: not r.exists(keys.task_key(q, tid))


def _state(r: redis.Redis, q: str, tid: str) -> Callable[[], bytes | None]:
    return lambda: r.hget(keys.task_key(q, tid), "state")


async def test_success_deletes_and_counts_for_both_kinds(redis_url: str, r: redis.Redis) -> None:
    app = App()
    ran: list[str] = []

    @app.task("a")
    async def a(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.type)

    @app.task("s")
    def s(task: IncomingTask, ctx: Context) -> None:
        ran.append(task.type)

    async with engine(app, redis_url):
        uk = keys.unique_key("default", "a", b"p")
        t1 = enqueue(r, "a", b"p", unique_key=uk)
        r.set(uk, t1)
        t2 = enqueue(r, "s")
        await until(lambda: _gone(r, "default", t1)() and _gone(r, "default", t2)())
    assert sorted(ran) == ["a", "s"]
    assert not r.exists(uk)
    assert r.llen(keys.active_key("default")) == 0 and r.zcard(keys.lease_key("default")) == 0
    assert r.get(keys.processed_total_key("default")) == b"2"
    assert r.get(keys.processed_key("default", time.time())) == b"2"
    assert r.get(keys.failed_total_key("default")) is None


async def test_retention_keeps_completed_with_result(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("r")
    def handler(task: IncomingTask, ctx: Context) -> None:
        ctx.write_result(b"the answer")

    fake = time.time() + 500
    async with engine(app, redis_url, clock=lambda: fake):
        tid = enqueue(r, "r", retention=3600)
        await until(lambda: _state(r, "default", tid)() == b"completed")
    h = r.hgetall(keys.task_key("default", tid))
    assert h[b"result"] == b"the answer"
    assert task_msg(r, "default", tid).completed_at == int(fake)
    assert r.zscore(keys.completed_key("default"), tid) == int(fake) + 3600


async def test_failure_retries_with_fake_clock(redis_url: str, r: redis.Redis) -> None:
    seen: list[tuple[int, str]] = []
    app = App(
        retry_delay_func=lambda n, exc, task: 10 * (n + 1),
        error_handler=lambda task, exc: seen.append((task.retry_count, str(exc))),
    )

    @app.task("f")
    async def fail(task: IncomingTask, ctx: Context) -> None:
        raise ValueError("bad input")

    fake = time.time() + 1000
    async with engine(app, redis_url, clock=lambda: fake):
        tid = enqueue(r, "f", retry=3, retried=1)
        await until(lambda: _state(r, "default", tid)() == b"retry")
    msg = task_msg(r, "default", tid)
    assert (msg.retried, msg.error_msg, msg.last_failed_at) == (
        2,
        "ValueError: bad input",
        int(fake),
    )
    assert r.zscore(keys.retry_key("default"), tid) == int(fake + 20)
    assert r.get(keys.failed_total_key("default")) == b"1"
    assert seen == [(1, "bad input")]


async def test_non_failure_does_not_burn_a_retry(redis_url: str, r: redis.Redis) -> None:
    app = App(is_failure=lambda exc: not isinstance(exc, KeyError))

    @app.task("k")
    async def k(task: IncomingTask, ctx: Context) -> None:
        raise KeyError("busy")

    async with engine(app, redis_url):
        tid = enqueue(r, "k", retry=3)
        await until(lambda: _state(r, "default", tid)() == b"retry")
    assert task_msg(r, "default", tid).retried == 0
    assert r.get(keys.failed_total_key("default")) is None


async def test_archive_skipretry_revoke_unknown(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("boom")
    def boom(task: IncomingTask, ctx: Context) -> None:
        raise RuntimeError("always")

    @app.task("skip")
    async def skip(task: IncomingTask, ctx: Context) -> None:
        raise SkipRetry("give up")

    @app.task("revoke")
    async def revoke(task: IncomingTask, ctx: Context) -> None:
        raise RevokeTask("drop")

    async with engine(app, redis_url):
        exhausted = enqueue(r, "boom", retry=2, retried=2)
        skipped = enqueue(r, "skip", retry=5)
        revoked = enqueue(r, "revoke", retry=5)
        unknown = enqueue(r, "no:such:type", retry=5)
        await until(lambda: _state(r, "default", exhausted)() == b"archived")
        await until(lambda: _state(r, "default", skipped)() == b"archived")
        await until(_gone(r, "default", revoked))
        await until(lambda: _state(r, "default", unknown)() == b"retry")
    assert task_msg(r, "default", exhausted).error_msg == "RuntimeError: always"
    assert task_msg(r, "default", skipped).retried == 0
    assert (
        "no handler registered for task type 'no:such:type'"
        in task_msg(r, "default", unknown).error_msg
    )
    assert r.zcard(keys.archived_key("default")) == 2


async def test_undecodable_message_is_archived(redis_url: str, r: redis.Redis) -> None:
    tid = enqueue(r, "x")
    r.hset(keys.task_key("default", tid), "msg", b"\xff\xff\xff garbage")
    r.lpush(keys.pending_key("default"), "ghost-without-hash")
    async with engine(App(), redis_url):
        await until(lambda: _state(r, "default", tid)() == b"archived")
        await until(lambda: r.llen(keys.active_key("default")) == 0)
    assert r.hget(keys.task_key("default", tid), "msg") == b"\xff\xff\xff garbage"


async def test_paused_queue_is_skipped(redis_url: str, r: redis.Redis) -> None:
    app = App()
    done = asyncio.Event()

    @app.task("t")
    async def t(task: IncomingTask, ctx: Context) -> None:
        done.set()

    r.set(keys.paused_key("low"), int(time.time()))
    async with engine(app, redis_url, queues={"low": 1, "high": 1}):
        paused = enqueue(r, "t", queue="low")
        other = enqueue(r, "t", queue="high")
        await until(_gone(r, "high", other))
        await asyncio.sleep(0.2)
        assert _state(r, "low", paused)() == b"pending"
        r.delete(keys.paused_key("low"))
        await until(_gone(r, "low", paused))


async def test_timeouts_for_both_kinds(redis_url: str, r: redis.Redis) -> None:
    app = App()
    sync_saw_done = threading.Event()

    @app.task("slow_async")
    async def slow_async(task: IncomingTask, ctx: Context) -> None:
        await asyncio.sleep(30)

    @app.task("slow_sync")
    def slow_sync(task: IncomingTask, ctx: Context) -> None:
        while not ctx.cancelled:  # a cooperative def handler polls its context
            time.sleep(0.01)
        if ctx.done and ctx.expired:
            sync_saw_done.set()

    async with engine(app, redis_url):
        a = enqueue(r, "slow_async", retry=3, timeout=1)
        s = enqueue(r, "slow_sync", retry=3, timeout=1)
        await until(lambda: _state(r, "default", a)() == b"retry", timeout=4)
        await until(lambda: _state(r, "default", s)() == b"retry", timeout=4)
        await until(sync_saw_done.is_set)
    assert task_msg(r, "default", a).error_msg.startswith("TaskTimeoutError")
    assert task_msg(r, "default", s).error_msg.startswith("TaskTimeoutError")


async def test_def_handler_overrunning_deadline_requests_recycle(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    release = threading.Event()

    @app.task("stuck")
    def stuck(task: IncomingTask, ctx: Context) -> None:
        release.wait(10)  # ignores ctx on purpose

    asks: list[str] = []

    class Control:
        def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
            pass

        def request_recycle(self, reason: str) -> None:
            asks.append(reason)

        def parent_alive(self) -> bool:
            return True

        def hosting_maintenance(self) -> None:
            pass

    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url),
        sync_grace=0.2,
        poll_interval=0.05,
        shutdown_timeout=0.5,
    )
    e = Engine(app, settings, control=Control())
    run = asyncio.create_task(e.run())
    tid = enqueue(r, "stuck", retry=1, timeout=1)
    assert await asyncio.wait_for(run, 10) == 0
    release.set()
    assert asks and "ignored its deadline" in asks[0]
    assert _state(r, "default", tid)() == b"retry"


async def test_cancel_running_task(redis_url: str, r: redis.Redis) -> None:
    app = App()
    started = asyncio.Event()

    @app.task("long")
    async def long(task: IncomingTask, ctx: Context) -> None:
        started.set()
        await asyncio.sleep(30)

    async with engine(app, redis_url):
        tid = enqueue(r, "long", retry=3)
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.1)  # the subscription is up well before this
        r.publish(keys.CANCEL_CHANNEL, tid)
        await until(lambda: _state(r, "default", tid)() == b"retry")
    assert task_msg(r, "default", tid).error_msg.startswith("TaskCanceledError")


async def test_lost_lease_is_not_acknowledged(redis_url: str, r: redis.Redis) -> None:
    app = App()
    started = asyncio.Event()
    release = asyncio.Event()

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        started.set()
        await release.wait()

    async with engine(app, redis_url) as e:
        tid = enqueue(r, "hold")
        await asyncio.wait_for(started.wait(), 5)
        # Another worker took it over (recoverer + re-dequeue): a different lease score.
        r.zadd(keys.lease_key("default"), {tid: 1})
        release.set()
        await until(lambda: tid not in e.running)
        await asyncio.sleep(0.2)
    assert _state(r, "default", tid)() == b"active"
    assert r.lrange(keys.active_key("default"), 0, -1) == [tid.encode()]
    assert r.get(keys.processed_total_key("default")) is None


async def test_leases_are_extended(redis_url: str, r: redis.Redis) -> None:
    app = App()
    release = asyncio.Event()

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        await release.wait()

    async with engine(app, redis_url, lease_duration=3):
        tid = enqueue(r, "hold")
        await until(lambda: r.zscore(keys.lease_key("default"), tid) is not None)
        first = r.zscore(keys.lease_key("default"), tid)
        assert first is not None
        await until(lambda: (r.zscore(keys.lease_key("default"), tid) or 0) > first, timeout=6)
        release.set()
        await until(_gone(r, "default", tid))


async def test_weighted_fairness_under_saturation(redis_url: str, r: redis.Redis) -> None:
    app = App()
    order: list[str] = []

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        order.append(task.queue)

    weights = {"critical": 6, "high": 4, "default": 2, "low": 1}
    pipe = r.pipeline(transaction=False)
    from fastq._core import TaskMessage

    for q in weights:
        for i in range(1500):
            tid = f"{q}-{i}"
            pipe.hset(
                keys.task_key(q, tid),
                mapping={
                    "msg": TaskMessage(type="n", id=tid, queue=q).encode(),
                    "state": "pending",
                },
            )
            pipe.lpush(keys.pending_key(q), tid)
    pipe.execute()
    async with engine(app, redis_url, queues=weights, concurrency=1):
        await until(lambda: len(order) >= 3000, timeout=60)
    sample = order[:3000]
    share = {q: sample.count(q) / len(sample) for q in weights}
    for q, expected in zip(weights, (0.46, 0.31, 0.15, 0.08), strict=True):
        assert abs(share[q] - expected) <= 0.03, share


class _Control:
    def __init__(self) -> None:
        self.alive = True
        self.beats = 0
        self.recycle: list[str] = []

    def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
        self.beats += 1

    def request_recycle(self, reason: str) -> None:
        self.recycle.append(reason)

    def parent_alive(self) -> bool:
        return self.alive

    def hosting_maintenance(self) -> None:
        pass


async def test_max_tasks_per_child_recycles(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    control = _Control()
    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url),
        max_tasks_per_child=3,
        poll_interval=0.05,
        concurrency=1,
    )
    e = Engine(app, settings, control=control)
    run = asyncio.create_task(e.run())
    for _ in range(5):
        enqueue(r, "n")
    assert await asyncio.wait_for(run, 10) == 0
    assert control.recycle and "max_tasks_per_child" in control.recycle[0]
    assert control.beats > 0
    assert r.llen(keys.pending_key("default")) == 2


async def test_parent_death_and_quiet_stop_fetching(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    control = _Control()
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url), poll_interval=0.05)
    e = Engine(app, settings, control=control)
    run = asyncio.create_task(e.run())
    first = enqueue(r, "n")
    await until(_gone(r, "default", first))
    e.quiet()
    await asyncio.sleep(0.2)
    later = enqueue(r, "n")
    await asyncio.sleep(0.3)
    assert _state(r, "default", later)() == b"pending"
    control.alive = False
    assert await asyncio.wait_for(run, 10) == 0


async def test_worker_info_is_written_for_running_tasks(redis_url: str, r: redis.Redis) -> None:
    from fastq._core import WorkerInfo
    from fastq.worker.settings import ServerIdentity

    app = App()
    release = asyncio.Event()

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        await release.wait()

    ident = ServerIdentity(host="h", pid=42, server_id="sid")
    wk = keys.workers_key("h", 42, "sid")
    async with engine(app, redis_url, identity=ident, heartbeat_interval=0.1):
        tid = enqueue(r, "hold", b"pp")
        await until(lambda: r.hexists(wk, tid))
        info = WorkerInfo.decode(r.hget(wk, tid) or b"")
        assert (
            info.host,
            info.pid,
            info.server_id,
            info.task_type,
            info.task_payload,
            info.queue,
        ) == ("h", 42, "sid", "hold", b"pp", "default")
        assert info.start_time is not None and info.deadline is not None
        assert r.zscore(keys.ALL_SERVERS, keys.server_info_key("h", 42, "sid")) is not None
        release.set()
        await until(lambda: not r.hexists(wk, tid))
    assert not r.exists(keys.server_info_key("h", 42, "sid"))  # cleared on exit


async def test_real_client_unique_retention_and_scheduled(redis_url: str, r: redis.Redis) -> None:
    from fastq.client import AsyncClient
    from fastq.task import Task
    from fastq.worker.maintenance import Maintenance

    app = App()
    got: list[Any] = []

    @app.task("email:")
    async def email(task: IncomingTask, ctx: Context) -> None:
        got.append(task.json() if task.payload else task.type)
        ctx.write_result(b"sent")

    client = AsyncClient(redis_url)
    try:
        async with engine(app, redis_url) as e:
            info = await client.enqueue(
                Task.json("email:welcome", {"to": "a@b"}), unique=60, retention=60
            )
            uk = keys.unique_key("default", "email:welcome", b'{"to": "a@b"}')
            await until(lambda: _state(r, "default", info.id)() == b"completed")
            assert got == [{"to": "a@b"}]
            assert r.hget(keys.task_key("default", info.id), "result") == b"sent"
            assert not r.exists(uk) and r.get(keys.unique_key("default", "x", b"")) is None
            later = await client.enqueue(Task("email:later"), process_in=1)
            assert _state(r, "default", later.id)() == b"scheduled"
            m = Maintenance(e.settings, clock=lambda: time.time() + 5)
            await asyncio.to_thread(m.run_once)
            await until(_gone(r, "default", later.id))
            assert got[-1] == "email:later"
    finally:
        await client.close()


async def test_survives_a_redis_restart(redis_server: Any, redis_url: str) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    async with engine(app, redis_url):
        await asyncio.sleep(0.2)
        redis_server.stop()
        await asyncio.sleep(1.0)  # fetch, wake-up wait and cancel loops all see errors
        redis_server.start()
        r = redis.Redis.from_url(redis_url)
        try:
            tid = enqueue(r, "n")
            await until(_gone(r, "default", tid), timeout=10)
        finally:
            r.close()


async def test_wrong_type_queue_does_not_block_others(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    r.set(keys.pending_key("broken"), "not a list")
    async with engine(app, redis_url, queues={"broken": 5, "ok": 1}):
        tid = enqueue(r, "n", queue="ok")
        await until(_gone(r, "ok", tid))
        calls = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        await asyncio.sleep(0.5)
        later = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        assert later - calls < 100  # idle polling, not a busy loop
    assert r.get(keys.pending_key("broken")) == b"not a list"


async def test_def_handlers_run_concurrently_up_to_concurrency(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    barrier = threading.Barrier(3, timeout=5)

    @app.task("b")
    def b(task: IncomingTask, ctx: Context) -> None:
        barrier.wait()  # only passes if all three run at once

    from fastq._core import TaskMessage

    pipe = r.pipeline(transaction=False)
    for i in range(3):  # enqueued before start: one fetch takes all three at once
        tid = f"b{i}"
        pipe.hset(
            keys.task_key("default", tid),
            mapping={
                "msg": TaskMessage(type="b", id=tid, queue="default").encode(),
                "state": "pending",
            },
        )
        pipe.lpush(keys.pending_key("default"), tid)
    pipe.execute()
    async with engine(app, redis_url, concurrency=3):
        await until(lambda: r.get(keys.processed_total_key("default")) == b"3", timeout=8)
    assert r.get(keys.failed_total_key("default")) is None  # nobody hit the barrier timeout


async def test_never_fetches_more_than_free_slots(redis_url: str, r: redis.Redis) -> None:
    app = App()
    release = asyncio.Event()

    @app.task("hold")
    async def hold(task: IncomingTask, ctx: Context) -> None:
        await release.wait()

    for _ in range(6):
        enqueue(r, "hold")
    async with engine(app, redis_url, concurrency=2):
        await until(lambda: r.llen(keys.active_key("default")) == 2)
        await asyncio.sleep(0.3)
        assert r.llen(keys.active_key("default")) == 2
        assert r.llen(keys.pending_key("default")) == 4
        release.set()
        await until(lambda: r.get(keys.processed_total_key("default")) == b"6")


def test_outage_log_is_rate_limited() -> None:
    from fastq.worker import outage

    lines: list[str] = []

    class _Log:  # records what would be logged, whatever structlog's configuration
        def warning(self, event: str, **kw: Any) -> None:
            lines.append(f"warning {event} {kw.get('where')}")

        def info(self, event: str, **kw: Any) -> None:
            lines.append(f"info {event}")

    saved = outage.log
    outage.log = _Log()  # type: ignore[assignment]
    try:
        now = [0.0]
        o = outage.OutageLog(interval=5.0, clock=lambda: now[0])
        for _ in range(20):  # 20 retries in 2 s: one line
            o.failed("fetch", ConnectionError("down"))
            now[0] += 0.1
        now[0] = 6.0
        o.failed("fetch", ConnectionError("down"))
        o.ok()
        o.ok()
    finally:
        outage.log = saved
    assert lines == [
        "warning cannot reach Redis; retrying fetch",
        "warning cannot reach Redis; retrying fetch",
        "info back to normal",
    ]


async def test_graceful_stop_with_redis_down_still_exits(redis_server: Any, redis_url: str) -> None:
    import fastq.worker.process as process_mod

    app = App()
    started = asyncio.Event()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        started.set()
        await asyncio.sleep(0.3)

    r = redis.Redis.from_url(redis_url)
    settings = WorkerSettings(
        redis=RedisConfig.from_url(redis_url, connect_timeout=0.2, socket_timeout=0.5),
        poll_interval=0.05,
        shutdown_timeout=2,
    )
    e = Engine(app, settings)
    run = asyncio.create_task(e.run())
    saved = process_mod.FINAL_FLUSH_TIMEOUT
    process_mod.FINAL_FLUSH_TIMEOUT = 1.0
    try:
        enqueue(r, "n")
        await asyncio.wait_for(started.wait(), 5)
        redis_server.stop()  # the ack of the running task cannot be written
        e.stop(graceful=True)
        assert await asyncio.wait_for(run, 15) == 0
    finally:
        process_mod.FINAL_FLUSH_TIMEOUT = saved
        r.close()
        redis_server.start()


async def test_task_without_wake_token_is_found_by_the_poll(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    async with engine(app, redis_url, poll_interval=0.2):
        await asyncio.sleep(0.3)  # idle: blocked on the wake key
        tid = enqueue(r, "n", wake=False)  # as a Go producer enqueues
        await until(_gone(r, "default", tid), timeout=2)


async def test_wrong_type_wake_key_does_not_spin(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.task("n")
    async def n(task: IncomingTask, ctx: Context) -> None:
        return None

    r.set(keys.wake_key("default"), "not a list")
    async with engine(app, redis_url, poll_interval=0.1):
        tid = enqueue(r, "n", wake=False)
        await until(_gone(r, "default", tid))
        calls = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        await asyncio.sleep(0.5)
        later = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        assert later - calls < 20
