"""The supervisor's Asynq-visible state in Redis: ServerInfo, WorkerInfo pruning, cleanup."""

from __future__ import annotations

import redis

from fastq import keys
from fastq._core import ServerInfo, WorkerInfo
from fastq.config import RedisConfig
from fastq.supervisor.serverstate import RedisServerState
from fastq.worker.settings import ServerIdentity, WorkerSettings


def settings(url: str) -> WorkerSettings:
    return WorkerSettings(
        redis=RedisConfig.from_url(url),
        queues={"critical": 3, "default": 1},
        concurrency=4,
        identity=ServerIdentity(host="h1", pid=4242, server_id="sid"),
    )


def test_beat_writes_total_concurrency_and_clear_removes_everything(
    redis_url: str, r: redis.Redis
) -> None:
    s = settings(redis_url)
    state = RedisServerState(s, started=1_700_000_000.5)
    state.beat(s, processes=3, status="active", active=5)
    skey = keys.server_info_key("h1", 4242, "sid")
    info = ServerInfo.decode(r.get(skey))
    assert (info.host, info.pid, info.server_id) == ("h1", 4242, "sid")
    assert info.concurrency == 12 and info.active_worker_count == 5
    assert info.queues == {"critical": 3, "default": 1} and info.status == "active"
    assert info.start_time == (1_700_000_000, 500_000_000)
    assert 0 < r.ttl(skey) <= 10
    assert r.zscore(keys.ALL_SERVERS, skey) is not None
    r.hset(keys.workers_key("h1", 4242, "sid"), "t1", b"x")
    state.clear()
    assert not r.exists(skey, keys.workers_key("h1", 4242, "sid"))
    assert r.zcard(keys.ALL_SERVERS) == 0 and r.zcard(keys.ALL_WORKERS) == 0


def test_prune_drops_entries_of_tasks_that_are_no_longer_active(
    redis_url: str, r: redis.Redis
) -> None:
    s = settings(redis_url)
    wkey = keys.workers_key("h1", 4242, "sid")

    def info(task_id: str) -> bytes:
        return WorkerInfo(
            host="h1", pid=4242, server_id="sid", task_id=task_id, task_type="t", queue="default"
        ).encode()

    r.hset(keys.task_key("default", "running"), "state", "active")
    r.hset(keys.task_key("default", "recovered"), "state", "retry")
    for task_id in ("running", "recovered", "gone"):
        r.hset(wkey, task_id, info(task_id))
    r.hset(wkey, "garbage", b"\xff\xff")
    RedisServerState(s).prune()
    assert sorted(k.decode() for k in r.hkeys(wkey)) == ["running"]


def test_forget_process_drops_only_the_dead_processes_entries(
    redis_url: str, r: redis.Redis
) -> None:
    from fastq.rdb.conn import SyncConn
    from fastq.worker.heartbeat import WorkerInfoSync

    s = settings(redis_url)
    conn = SyncConn(s.redis)

    class Run:
        def __init__(self, task_id: str) -> None:
            from fastq._core import TaskMessage

            self.msg = TaskMessage(type="t", id=task_id, queue="default")
            self.started = 1_700_000_000.0
            self.deadline = 1_700_000_060.0

    for pid, ids in ((101, ["a1", "a2"]), (202, ["b1"])):
        sync = WorkerInfoSync(s.identity, 10, pid=pid)
        for task_id in ids:
            sync.started(task_id, Run(task_id))
        conn.call(sync.call())
    wkey = keys.workers_key("h1", 4242, "sid")
    assert sorted(r.hkeys(wkey)) == [b"a1", b"a2", b"b1"]
    RedisServerState(s).forget_process(101)
    assert r.hkeys(wkey) == [b"b1"]
    assert r.hgetall(keys.worker_pids_key("h1", 4242, "sid")) == {b"b1": b"202"}
    conn.close()
