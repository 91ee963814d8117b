"""Group aggregation against a real Redis: each trigger, crash recovery of a half-made
aggregation set, tasks written by Go-layout writers, and the maintenance hook."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis
from asynq_writer import put_task

from fastq import App, Client, IncomingTask, Task
from fastq._core import TaskMessage
from fastq.config import RedisConfig
from fastq.rdb import groups as rdb
from fastq.rdb.conn import SyncConn
from fastq.scheduler.aggregator import Aggregator, aggregation_hook
from fastq.task import prepare
from fastq.worker.maintenance import Maintenance
from fastq.worker.settings import WorkerSettings


def join(group: str, tasks: list[IncomingTask]) -> Task:
    return Task("batch", b"|".join(t.payload for t in tasks), headers={"group": group})


def agg(url: str, fn: Any = join, **kw: Any) -> Aggregator:
    return Aggregator(SyncConn(RedisConfig.from_url(url)), ["default"], fn, **kw)


def add(url: str, n: int, group: str = "g", start: int = 0) -> None:
    with Client(url) as c:
        for i in range(start, start + n):
            c.enqueue(Task("item", str(i).encode()), group=group)


def aggregated(r: redis.Redis, q: str = "default") -> list[TaskMessage]:
    ids = [x.decode() for x in r.lrange(f"asynq:{{{q}}}:pending", 0, -1)]
    return [TaskMessage.decode(r.hget(f"asynq:{{{q}}}:t:{i}", "msg")) for i in ids]


def items(payload: bytes) -> list[bytes]:
    # Tasks added in the same second tie on score (whole unix seconds, as Asynq
    # writes them), so Redis orders them by id: compare the members, not the order.
    return sorted(payload.split(b"|"), key=int)


def left_over(r: redis.Redis) -> dict[str, Any]:
    return {
        "group": r.zcard("asynq:{default}:g:g"),
        "groups": r.smembers("asynq:{default}:groups"),
        "sets": r.zcard("asynq:{default}:aggregation_sets"),
        "hashes": len([k for k in r.scan_iter("asynq:{default}:t:*")]),
    }


def test_grace_period_trigger(redis_url: str, r: redis.Redis) -> None:
    add(redis_url, 3)
    now = time.time()
    a = agg(redis_url, grace_period=10)
    assert a.run_once(now + 5) == 0  # the newest task joined 5 s ago
    assert a.run_once(now + 11) == 1
    (msg,) = aggregated(r)
    assert (msg.type, items(msg.payload), msg.queue) == ("batch", [b"0", b"1", b"2"], "default")
    assert dict(msg.headers) == {"group": "g"}
    assert left_over(r) == {"group": 0, "groups": set(), "sets": 0, "hashes": 1}


def test_max_delay_trigger(redis_url: str, r: redis.Redis) -> None:
    add(redis_url, 2)
    now = time.time()
    a = agg(redis_url, grace_period=60, max_delay=30)
    assert a.run_once(now + 20) == 0
    add(redis_url, 1, start=2)  # keeps the grace period from ever passing
    assert a.run_once(now + 31) == 1
    assert [items(m.payload) for m in aggregated(r)] == [[b"0", b"1", b"2"]]


def test_max_size_trigger_takes_max_size_tasks_and_keeps_the_rest(
    redis_url: str, r: redis.Redis
) -> None:
    add(redis_url, 5)
    a = agg(redis_url, grace_period=60, max_size=3)
    assert a.run_once(time.time()) == 1  # no time passed: size alone triggers
    (msg,) = aggregated(r)
    assert len(items(msg.payload)) == 3
    assert r.zcard("asynq:{default}:g:g") == 2
    assert r.smembers("asynq:{default}:groups") == {b"g"}  # the group still has tasks


def test_groups_are_aggregated_separately(redis_url: str, r: redis.Redis) -> None:
    add(redis_url, 2, group="a")
    add(redis_url, 3, group="b", start=10)
    assert agg(redis_url, grace_period=1).run_once(time.time() + 2) == 2
    got = {dict(m.headers)["group"]: items(m.payload) for m in aggregated(r)}
    assert got == {"a": [b"0", b"1"], "b": [b"10", b"11", b"12"]}


def test_a_half_made_set_of_a_dead_process_is_reclaimed_and_aggregated_once(
    redis_url: str, r: redis.Redis
) -> None:
    add(redis_url, 4)
    now = int(time.time())
    conn = SyncConn(RedisConfig.from_url(redis_url))
    dead_set = str(uuid.uuid4())
    # A process runs the check (the tasks move into its set), then dies.
    check = rdb.check_call(
        "default", "g", dead_set, now=now + 2, grace_period=1, max_delay=0, max_size=0
    )
    assert conn.call(check) == 1
    assert r.zcard(f"asynq:{{default}}:g:g:{dead_set}") == 4
    a = agg(redis_url, grace_period=1)
    assert a.run_once(now + 60) == 0  # before the set's deadline nobody touches it
    assert a.run_once(now + 2 + 121) == 1  # reclaimed, then aggregated
    assert [items(m.payload) for m in aggregated(r)] == [[b"0", b"1", b"2", b"3"]]
    # The dead process wakes up and tries to commit its set: refused, nothing doubles.
    late = prepare(Task("batch", b"late"), {"queue": "default"}, time.time_ns(), 1 << 20)
    assert conn.call(rdb.commit_call(late, "g", dead_set, 16)) == rdb.SET_GONE
    assert len(aggregated(r)) == 1
    assert left_over(r) == {"group": 0, "groups": set(), "sets": 0, "hashes": 1}


def test_reclaim_puts_tasks_back_with_their_scores(redis_url: str, r: redis.Redis) -> None:
    add(redis_url, 2)
    before = r.zrange("asynq:{default}:g:g", 0, -1, withscores=True)
    now = int(time.time())
    conn = SyncConn(RedisConfig.from_url(redis_url))
    set_id = str(uuid.uuid4())
    conn.call(
        rdb.check_call("default", "g", set_id, now=now + 5, grace_period=1, max_delay=0, max_size=0)
    )
    assert conn.call(rdb.reclaim_call("default", "g", set_id, now)) == -1  # not stale yet
    assert agg(redis_url, grace_period=60).reclaim(now + 5 + 120) == 2
    assert r.zrange("asynq:{default}:g:g", 0, -1, withscores=True) == before
    assert r.smembers("asynq:{default}:groups") == {b"g"}


def test_a_failing_aggregator_loses_nothing(redis_url: str, r: redis.Redis) -> None:
    add(redis_url, 3)
    now = time.time()

    def broken(group: str, tasks: list[IncomingTask]) -> Task:
        raise RuntimeError("bug")

    assert agg(redis_url, broken, grace_period=1).run_once(now + 2) == 0
    assert r.zcard("asynq:{default}:aggregation_sets") == 1  # held until its deadline
    assert agg(redis_url, grace_period=1).run_once(now + 2 + 121) == 1
    assert [items(m.payload) for m in aggregated(r)] == [[b"0", b"1", b"2"]]


def test_tasks_added_by_go_layout_writers(redis_url: str, r: redis.Redis) -> None:
    for p in (b"a", b"b", b"c"):
        put_task(r, "default", "aggregating", type="item", payload=p, group="g")
    assert agg(redis_url, grace_period=1).run_once(time.time() + 2) == 1
    assert [sorted(m.payload.split(b"|")) for m in aggregated(r)] == [[b"a", b"b", b"c"]]
    assert left_over(r)["hashes"] == 1


def test_maintenance_runs_the_app_s_aggregator(redis_url: str, r: redis.Redis) -> None:
    app = App()

    @app.aggregate(grace_period=1)
    def merge(group: str, tasks: list[IncomingTask]) -> Task:
        return Task("merged", str(len(tasks)).encode())

    add(redis_url, 3)
    hook = aggregation_hook(app, ["default"])
    assert hook is not None and aggregation_hook(App(), ["default"]) is None
    m = Maintenance(
        WorkerSettings(redis=RedisConfig.from_url(redis_url)),
        clock=lambda: time.time() + 2,
        extras=[hook],
    )
    m.run_once()
    assert [(x.type, x.payload) for x in aggregated(r)] == [("merged", b"3")]
