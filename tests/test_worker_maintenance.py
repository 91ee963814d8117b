"""Maintenance: forwarder, recoverer (with the free-recovery cap), janitor."""

from __future__ import annotations

import time

import redis
from workerapps.helpers import task_msg

from fastq import keys
from fastq._core import TaskMessage
from fastq.config import RedisConfig
from fastq.worker.maintenance import LEASE_EXPIRED, Maintenance
from fastq.worker.settings import WorkerSettings

NOW = float(int(time.time()))


def _maint(redis_url: str, now: float, **kw: object) -> Maintenance:
    s = WorkerSettings(redis=RedisConfig.from_url(redis_url), queues={"q": 1}, **kw)  # type: ignore[arg-type]
    return Maintenance(s, clock=lambda: now)


def _active(r: redis.Redis, tid: str, lease: float, **fields: object) -> None:
    msg = TaskMessage(type="t", id=tid, queue="q", **fields)  # type: ignore[arg-type]
    r.hset(keys.task_key("q", tid), mapping={"msg": msg.encode(), "state": "active"})
    r.lpush(keys.active_key("q"), tid)
    r.zadd(keys.lease_key("q"), {tid: int(lease)})


def test_forwarder_moves_due_tasks_and_wakes(redis_url: str, r: redis.Redis) -> None:
    for i in range(150):
        tid = f"s{i}"
        r.hset(keys.task_key("q", tid), mapping={"msg": b"x", "state": "scheduled"})
        r.zadd(keys.scheduled_key("q"), {tid: NOW - 1})
    r.hset(keys.task_key("q", "later"), mapping={"msg": b"x", "state": "retry"})
    r.zadd(keys.retry_key("q"), {"later": NOW + 60})
    report = _maint(redis_url, NOW).run_once()
    assert report.forwarded == 150
    assert r.llen(keys.pending_key("q")) == 150 and r.zcard(keys.scheduled_key("q")) == 0
    assert r.llen(keys.wake_key("q")) == 16
    assert r.hget(keys.task_key("q", "later"), "state") == b"retry"
    assert _maint(redis_url, NOW + 61).run_once().forwarded == 1


def test_recovery_is_free_until_the_cap(redis_url: str, r: redis.Redis) -> None:
    _active(r, "t1", NOW - 5, retry=5, retried=1)
    m = _maint(redis_url, NOW, recover_cap=2)
    assert m.run_once().recovered == 1
    msg = task_msg(r, "q", "t1")
    assert (msg.retried, msg.error_msg) == (1, LEASE_EXPIRED)  # no retry burned
    assert r.zscore(keys.retry_key("q"), "t1") == int(NOW)
    assert r.hget(keys.recovered_count_key("q"), "t1") == b"1"
    assert r.get(keys.failed_total_key("q")) is None
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0
    # Recovered twice already: now it costs a retry and counts as a failure.
    r.zrem(keys.retry_key("q"), "t1")
    r.hset(keys.recovered_count_key("q"), "t1", 2)
    r.lpush(keys.active_key("q"), "t1")
    r.zadd(keys.lease_key("q"), {"t1": int(NOW - 5)})
    m.run_once()
    assert task_msg(r, "q", "t1").retried == 2
    # Asynq backoff from the retried count before this failure: 1**4 + 15 + rand(0..29) * 2
    assert int(NOW) + 16 <= (r.zscore(keys.retry_key("q"), "t1") or 0) <= int(NOW) + 16 + 58
    assert r.get(keys.failed_total_key("q")) == b"1"


def test_recovery_archives_when_capped_and_exhausted(redis_url: str, r: redis.Redis) -> None:
    _active(r, "t1", NOW - 5, retry=1, retried=1)
    r.hset(keys.recovered_count_key("q"), "t1", 3)
    _active(r, "fresh", NOW + 30)
    report = _maint(redis_url, NOW).run_once()
    assert (report.archived, report.dropped) == (1, 0)
    assert r.hget(keys.task_key("q", "t1"), "state") == b"archived"
    assert not r.hexists(keys.recovered_count_key("q"), "t1")
    assert r.hget(keys.task_key("q", "fresh"), "state") == b"active"


def test_janitor_deletes_expired_completed_and_trims_archive(
    redis_url: str, r: redis.Redis
) -> None:
    for i in range(5):
        r.zadd(keys.completed_key("q"), {f"c{i}": NOW - 10 + i * 5})
        r.hset(keys.task_key("q", f"c{i}"), "msg", b"x")
        r.zadd(keys.archived_key("q"), {f"a{i}": NOW - 1000 + i})
        r.hset(keys.task_key("q", f"a{i}"), "msg", b"x")
    r.zadd(keys.archived_key("q"), {"ancient": NOW - 10**7})
    r.hset(keys.task_key("q", "ancient"), "msg", b"x")
    report = _maint(redis_url, NOW, archive_max_size=3, archive_max_age=86400).run_once()
    assert report.deleted == 3 and report.trimmed == 3
    assert r.zrange(keys.completed_key("q"), 0, -1) == [b"c3", b"c4"]
    assert not r.exists(keys.task_key("q", "c0"))
    assert r.zrange(keys.archived_key("q"), 0, -1) == [b"a2", b"a3", b"a4"]
    assert not r.exists(keys.task_key("q", "ancient"))


def test_recovery_counts_drops_apart_from_archives(redis_url: str, r: redis.Redis) -> None:
    _active(r, "gone", NOW - 5)
    r.delete(keys.task_key("q", "gone"))  # its hash was deleted: nothing to archive
    report = _maint(redis_url, NOW).run_once()
    assert (report.recovered, report.archived, report.dropped) == (0, 0, 1)
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0
