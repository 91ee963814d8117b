"""Inspector operations that change Redis: run/archive/delete, bulk, queues, cancel,
payload updates, and the server/scheduler views, on Asynq-layout data."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from asynq_pb import SchedulerEnqueueEvent, SchedulerEntry, ServerInfo, Timestamp, WorkerInfo
from asynq_writer import put_task

from fastq.errors import (
    InvalidOptionError,
    InvalidStateError,
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from fastq.inspect.inspector import Inspector
from fastq.rdb import inspect as rdb
from fastq.task import TaskState


@pytest.fixture
def insp(redis_url: str) -> Iterator[Inspector]:
    with Inspector(redis_url) as i:
        yield i


def _state(r: redis.Redis, q: str, tid: str) -> str | None:
    v = r.hget(f"asynq:{{{q}}}:t:{tid}", "state")
    return v.decode() if v else None


def test_run_task_moves_to_pending_like_asynq(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "archived", task_id="a")
    put_task(r, "q", "aggregating", task_id="g", group="grp")
    insp.run_task("q", "a")
    insp.run_task("q", "g")
    assert r.lrange("asynq:{q}:pending", 0, -1) == [b"g", b"a"]
    assert r.llen("asynq:{q}:x:wake") == 2  # idle fastq workers wake at once
    assert _state(r, "q", "a") == "pending" and r.hget("asynq:{q}:t:a", "pending_since")
    assert r.zcard("asynq:{q}:archived") == 0
    assert not r.exists("asynq:{q}:g:grp") and r.scard("asynq:{q}:groups") == 0
    with pytest.raises(InvalidStateError) as e:
        insp.run_task("q", "a")
    assert e.value.state == "pending"
    with pytest.raises(TaskNotFoundError):
        insp.run_task("q", "zzz")


def test_archive_task(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "pending", task_id="p")
    put_task(r, "q", "active", task_id="act")
    insp.archive_task("q", "p")
    assert _state(r, "q", "p") == "archived"
    assert r.llen("asynq:{q}:pending") == 0
    assert r.zscore("asynq:{q}:archived", "p") == pytest.approx(time.time(), abs=5)
    assert r.hget("asynq:{q}:t:p", "pending_since") is None
    for tid in ("p", "act"):
        with pytest.raises(InvalidStateError):
            insp.archive_task("q", tid)


def test_archive_trims_to_limits_and_deletes_hashes(
    insp: Inspector, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdb, "DEFAULT_ARCHIVE_MAX_SIZE", 3)
    put_task(r, "q", "archived", task_id="ancient", score=time.time() - 100 * 86400)
    for i in range(3):
        put_task(r, "q", "archived", task_id=f"old{i}", score=time.time() - 100 + i)
    put_task(r, "q", "pending", task_id="new")
    insp.archive_task("q", "new")
    assert [m.decode() for m in r.zrange("asynq:{q}:archived", 0, -1)] == ["old1", "old2", "new"]
    assert not r.exists("asynq:{q}:t:ancient") and not r.exists("asynq:{q}:t:old0")


def test_delete_task_releases_unique_lock_and_group(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "scheduled", task_id="u", unique_ttl=300, payload=b"same")
    ukey = r.hget("asynq:{q}:t:u", "unique_key")
    assert r.get(ukey) == b"u"
    put_task(r, "q", "aggregating", task_id="g", group="grp")
    put_task(r, "q", "active", task_id="act")
    insp.delete_task("q", "u")
    insp.delete_task("q", "g")
    assert not r.exists(ukey) and not r.exists("asynq:{q}:t:u")
    assert r.zcard("asynq:{q}:scheduled") == 0 and r.scard("asynq:{q}:groups") == 0
    with pytest.raises(InvalidStateError):
        insp.delete_task("q", "act")
    with pytest.raises(TaskNotFoundError):
        insp.delete_task("q", "u")


def test_delete_keeps_a_lock_held_by_another_task(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "retry", task_id="old", unique_ttl=300, payload=b"p")
    ukey = r.hget("asynq:{q}:t:old", "unique_key")
    r.set(ukey, "newer")
    insp.delete_task("q", "old")
    assert r.get(ukey) == b"newer"


def test_selection_operations(insp: Inspector, r: redis.Redis) -> None:
    for i in range(3):
        put_task(r, "q", "retry", task_id=f"r{i}")
    put_task(r, "q", "active", task_id="act")
    res = insp.run_tasks("q", ["r0", "r1", "missing", "act", "r0"])
    assert res.done == ["r0", "r1"] and res.not_found == ["missing"]
    assert res.refused == {"act": "active"}
    assert insp.archive_tasks("q", ["r2"]).done == ["r2"]
    assert insp.delete_tasks("q", ["r0", "r2"]).done == ["r0", "r2"]
    with pytest.raises(InvalidOptionError):
        insp.delete_tasks("q", "r1")


def test_bulk_operations_in_chunks_with_progress(
    insp: Inspector, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdb, "BULK_CHUNK", 10)
    pipe = r.pipeline()
    for i in range(45):
        put_task(
            pipe,
            "q",
            "scheduled",
            task_id=f"s{i}",
            score=time.time() + 60 + i,  # type: ignore[arg-type]
            unique_ttl=600 if i == 0 else None,
            payload=f"p{i}".encode(),
        )
    pipe.execute()
    r.zadd("asynq:{q}:scheduled", {"dangling": 1})  # no hash: dropped, not counted
    seen: list[tuple[int, int]] = []
    assert insp.archive_all("q", "scheduled", progress=lambda d, t: seen.append((d, t))) == 45
    assert seen[-1] == (45, 46) and len(seen) == 5
    assert r.zcard("asynq:{q}:archived") == 45 and r.zcard("asynq:{q}:scheduled") == 0
    assert insp.run_all("q", "archived") == 45
    assert 0 < r.llen("asynq:{q}:x:wake") <= 16
    assert r.llen("asynq:{q}:pending") == 45
    assert _state(r, "q", "s7") == "pending"
    ukey = r.hget("asynq:{q}:t:s0", "unique_key")
    assert r.exists(ukey)
    assert insp.delete_all("q", TaskState.PENDING) == 45
    assert not r.exists(ukey) and not r.keys("asynq:{q}:t:*")
    with pytest.raises(InvalidOptionError):
        insp.run_all("q", "pending")
    with pytest.raises(InvalidOptionError):
        insp.delete_all("q", "active")
    with pytest.raises(QueueNotFoundError):
        insp.delete_all("nope", "pending")


def test_bulk_on_aggregating_groups(insp: Inspector, r: redis.Redis) -> None:
    for g in ("a", "b"):
        for i in range(3):
            put_task(r, "q", "aggregating", task_id=f"{g}{i}", group=g)
    assert insp.archive_all("q", "aggregating", group="a") == 3
    assert r.smembers("asynq:{q}:groups") == {b"b"}
    assert insp.run_all("q", "aggregating") == 3
    assert not r.exists("asynq:{q}:groups") and r.llen("asynq:{q}:pending") == 3


def test_delete_queue(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "empty", "pending", task_id="x")
    insp.delete_task("empty", "x")
    insp.delete_queue("empty")
    assert insp.queues() == []

    put_task(r, "q", "pending", task_id="p", unique_ttl=60)
    put_task(r, "q", "archived", task_id="a")
    put_task(r, "q", "aggregating", task_id="g", group="grp")
    r.set("asynq:{q}:processed", 5)
    insp.pause("q")
    with pytest.raises(QueueNotEmptyError):
        insp.delete_queue("q")
    seen: list[tuple[int, int]] = []
    insp.delete_queue("q", force=True, progress=lambda d, t: seen.append((d, t)))
    assert r.keys("asynq:{q}:*") == [] and insp.queues() == []
    assert seen[-1] == (3, 3)

    put_task(r, "busy", "active")
    put_task(r, "busy", "pending", task_id="keep")
    with pytest.raises(QueueBusyError):
        insp.delete_queue("busy", force=True)
    assert r.exists("asynq:{busy}:t:keep")  # refused before deleting anything
    with pytest.raises(QueueNotFoundError):
        insp.delete_queue("nope")


def test_cancel_publishes_task_id(insp: Inspector, r: redis.Redis) -> None:
    sub = r.pubsub()
    sub.subscribe("asynq:cancel")
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    assert insp.cancel("task-123") == 1
    msg = sub.get_message(timeout=2)
    assert msg is not None and msg["data"] == b"task-123"
    sub.close()


def test_cancel_tasks_publishes_every_id_in_order(insp: Inspector, r: redis.Redis) -> None:
    sub = r.pubsub()
    sub.subscribe("asynq:cancel")
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    assert insp.cancel_tasks(["a", "b", "c"]) == [1, 1, 1]
    assert insp.cancel_tasks([]) == []
    got = [sub.get_message(timeout=2) for _ in range(3)]
    assert [m["data"] for m in got if m is not None] == [b"a", b"b", b"c"]
    assert sub.get_message(timeout=0.2) is None  # the empty call published nothing
    sub.close()


def test_update_payload(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "scheduled", task_id="s", payload=b"old", retry=7, score=time.time() + 60)
    put_task(r, "q", "active", task_id="act")
    put_task(r, "q", "pending", task_id="bad", msg=b"\xff\xff")
    info = insp.update_task_payload("q", "s", b'{"new":1}')
    assert info.payload == b'{"new":1}' and info.max_retry == 7
    assert info.state is TaskState.SCHEDULED
    with pytest.raises(InvalidStateError):
        insp.update_task_payload("q", "act", b"x")
    with pytest.raises(InvalidStateError):
        insp.update_task_payload("q", "bad", b"x")
    with pytest.raises(TaskNotFoundError):
        insp.update_task_payload("q", "nope", b"x")
    with pytest.raises(InvalidOptionError):
        insp.update_task_payload("q", "s", "text")  # type: ignore[arg-type]


def _ts(t: float) -> Timestamp:
    return Timestamp(seconds=int(t), nanos=0)


def test_servers_and_workers_as_asynq_writes_them(insp: Inspector, r: redis.Redis) -> None:
    now = time.time()
    for sid, expiry in (("live", now + 10), ("gone", now - 10)):
        info = ServerInfo(
            host="h1",
            pid=42,
            server_id=sid,
            concurrency=10,
            queues={"default": 3, "low": 1},
            status="active",
            start_time=_ts(now - 60),
            active_worker_count=1,
        )
        skey = f"asynq:servers:{{h1:42:{sid}}}"
        wkey = f"asynq:workers:{{h1:42:{sid}}}"
        r.set(skey, info.SerializeToString())
        r.zadd("asynq:servers", {skey: expiry})
        w = WorkerInfo(
            host="h1",
            pid=42,
            server_id=sid,
            task_id=f"t-{sid}",
            task_type="email",
            task_payload=b"{}",
            queue="default",
            start_time=_ts(now - 5),
            deadline=_ts(now + 60),
        )
        r.hset(wkey, f"t-{sid}", w.SerializeToString())
        r.hset(wkey, "junk", b"\xff\xff")
        r.zadd("asynq:workers", {wkey: expiry})
    servers = insp.servers()
    assert [s.server_id for s in servers] == ["live"]
    # As Asynq's ListServers/ListWorkers: the dead members are gone from the sets.
    assert r.zrange("asynq:servers", 0, -1) == [b"asynq:servers:{h1:42:live}"]
    assert r.zrange("asynq:workers", 0, -1) == [b"asynq:workers:{h1:42:live}"]
    s = servers[0]
    assert s.queues == {"default": 3, "low": 1} and s.concurrency == 10
    assert [w.task_id for w in s.active_workers] == ["t-live"]
    assert s.active_workers[0].deadline is not None


def test_scheduler_entries_and_history(insp: Inspector, r: redis.Redis) -> None:
    now = time.time()
    e = SchedulerEntry(
        id="e1",
        spec="@every 30s",
        task_type="ping",
        task_payload=b"",
        enqueue_options=['Queue("critical")', "MaxRetry(5)"],
        next_enqueue_time=_ts(now + 30),
        prev_enqueue_time=_ts(now),
    )
    r.rpush("asynq:schedulers:{sch1}", e.SerializeToString(), b"garbage\xff")
    r.zadd("asynq:schedulers", {"asynq:schedulers:{sch1}": now + 10})
    r.rpush("asynq:schedulers:{old}", e.SerializeToString())
    r.zadd("asynq:schedulers", {"asynq:schedulers:{old}": now - 10})
    entries = insp.scheduler_entries()
    assert len(entries) == 1 and entries[0].options == ['Queue("critical")', "MaxRetry(5)"]
    for i in range(5):
        ev = SchedulerEnqueueEvent(task_id=f"t{i}", enqueue_time=_ts(now - 100 + i))
        r.zadd("asynq:scheduler_history:e1", {ev.SerializeToString(): now - 100 + i})
    hist = insp.scheduler_history("e1", size=2)
    assert [h.task_id for h in hist] == ["t4", "t3"]
    assert [h.task_id for h in insp.scheduler_history("e1", page=3, size=2)] == ["t0"]


def test_redis_info_has_no_secrets(insp: Inspector) -> None:
    info = insp.redis_info()
    assert info["redis_version"] and "used_memory" in info
    assert not any("pass" in k for k in info)


def test_run_and_delete_clear_the_recovered_count(insp: Inspector, r: redis.Redis) -> None:
    from fastq import keys

    rec = keys.recovered_count_key("q")
    for tid in ("r1", "r2", "keep", *(f"b{i}" for i in range(5)), *(f"s{i}" for i in range(3))):
        state = "scheduled" if tid.startswith("s") else "retry"
        put_task(r, "q", state, task_id=tid, score=time.time() + 60)
        r.hset(rec, tid, 2)
    insp.run_task("q", "r1")
    insp.delete_task("q", "r2")
    assert not r.hexists(rec, "r1") and not r.hexists(rec, "r2")
    assert r.hget(rec, "keep") == b"2"
    r.zrem("asynq:{q}:retry", "keep")
    assert insp.run_all("q", "retry") == 5  # b0..b4
    assert sorted(r.hkeys(rec)) == [b"keep", b"s0", b"s1", b"s2"]
    assert insp.delete_all("q", "scheduled") == 3
    assert r.hkeys(rec) == [b"keep"]
