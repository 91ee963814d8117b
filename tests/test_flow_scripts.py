"""Flow-control scripts run directly against a real Redis with an injected clock:
queue caps and GCRA rate limits in dequeue, key slots (flow_acquire/flow_release)."""

from __future__ import annotations

import time

import redis

from fastq import keys
from fastq.config import RedisConfig
from fastq.flow.limits import parse_rate
from fastq.rdb import flow as f
from fastq.rdb import worker as w
from fastq.rdb.conn import SyncConn
from fastq.rdb.plan import run_sync

NOW = int(time.time())


def _conn(url: str) -> SyncConn:
    return SyncConn(RedisConfig.from_url(url))


def _pending(r: redis.Redis, q: str, n: int, prefix: str = "t") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(n)]
    for task_id in ids:
        r.hset(keys.task_key(q, task_id), mapping={"msg": b"m", "state": "pending"})
        r.lpush(keys.pending_key(q), task_id)
    return ids


def _fetch(
    c: SyncConn, q: str, n: int, flow: w.QueueFlow, now: float, lease: int = NOW + 30
) -> tuple[list[str], float | None]:
    reply = c.call(w.dequeue_call([q], n, lease, flow={q: flow}, now=now))
    return [x.task_id for x in w.parse_dequeue([q], reply)], w.rate_due(reply)


def test_a_capped_queue_gives_only_its_free_slots(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 10)
    got, _ = _fetch(c, "q", 8, w.QueueFlow(cap=3), NOW)
    assert len(got) == 3
    assert _fetch(c, "q", 8, w.QueueFlow(cap=3), NOW)[0] == []
    r.zrem(keys.lease_key("q"), got[0])  # one acknowledged
    assert len(_fetch(c, "q", 8, w.QueueFlow(cap=3), NOW)[0]) == 1


def test_an_expired_lease_frees_its_slot(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 10)
    assert len(_fetch(c, "q", 8, w.QueueFlow(cap=2), NOW, lease=NOW + 5)[0]) == 2
    assert _fetch(c, "q", 8, w.QueueFlow(cap=2), NOW + 4)[0] == []
    # the holders' leases ended at NOW + 5 (a dead worker): their slots serve again
    assert len(_fetch(c, "q", 8, w.QueueFlow(cap=2), NOW + 5)[0]) == 2


def test_gcra_allows_the_burst_then_one_per_interval(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 100)
    rate = parse_rate("10/s burst 3")  # one token per 100 ms
    flow = w.QueueFlow(0, rate.interval_ms, rate.burst)
    got, due = _fetch(c, "q", 50, flow, NOW)
    assert len(got) == 3 and due == 0.1  # burst spent: the next token is 100 ms out
    assert _fetch(c, "q", 50, flow, NOW + 0.05) == ([], 0.05)
    got, due = _fetch(c, "q", 50, flow, NOW + 0.1)
    assert len(got) == 1 and due == 0.1
    assert len(_fetch(c, "q", 50, flow, NOW + 1.5)[0]) == 3  # back to the burst, not 14


def test_gcra_rate_over_time_matches_the_limit(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 1000)
    rate = parse_rate("200/s")
    flow = w.QueueFlow(0, rate.interval_ms, rate.burst)
    taken = sum(len(_fetch(c, "q", 50, flow, NOW + step * 0.01)[0]) for step in range(1, 301))
    # the burst at 0.01 s, then one token per 5 ms over the 2.99 s up to 3.00 s
    assert taken == rate.burst + 598


def test_parse_rate() -> None:
    assert parse_rate("100/s").interval_ms == 10 and parse_rate("100/s").burst == 10
    r = parse_rate("1000/min burst 50")
    assert (r.count, r.period, r.burst) == (1000, 60, 50)
    assert parse_rate("5/h@2").burst == 2


def test_key_slot_is_taken_then_the_task_parks_and_is_woken(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 3)
    got, _ = _fetch(c, "q", 3, w.QueueFlow(), NOW)
    items = [f.Admit(t, "k", NOW + 30, "user1", 1) for t in got]
    codes = c.call(f.flow_acquire_call("q", items, NOW, 30))
    assert codes == [1, 2, 2]
    assert r.zrange(keys.key_slots_key("q", "user1"), 0, -1) == [got[0].encode()]
    assert r.zrange(keys.key_waiters_key("q", "user1"), 0, -1) == [x.encode() for x in got[1:]]
    assert r.zscore(keys.scheduled_key("q"), got[1]) == NOW + 30
    assert r.hget(keys.task_key("q", got[1]), "state") == b"scheduled"
    assert r.hget(keys.task_key("q", got[1]), "msg") == b"m"  # no retry used
    assert r.lrange(keys.active_key("q"), 0, -1) == [got[0].encode()]
    # the holder finishes: its slot frees and the oldest waiter is next out of pending
    r.zrem(keys.lease_key("q"), got[0])
    assert c.call(f.flow_release_call("q", [(got[0], "user1")], 0, NOW)) == 1
    assert r.lrange(keys.pending_key("q"), -1, -1) == [got[1].encode()]
    assert r.hget(keys.task_key("q", got[1]), "state") == b"pending"
    assert r.zscore(keys.scheduled_key("q"), got[1]) is None
    assert r.llen(keys.wake_key("q")) == 1


def test_a_dead_holders_key_slot_comes_back_when_its_lease_expires(
    redis_url: str, r: redis.Redis
) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 2)
    a, b = (
        _fetch(c, "q", 1, w.QueueFlow(), NOW, lease=NOW + 5)[0]
        + _fetch(c, "q", 1, w.QueueFlow(), NOW, lease=NOW + 60)[0]
    )
    assert c.call(f.flow_acquire_call("q", [f.Admit(a, "t", NOW + 5, "k", 1)], NOW, 30)) == [1]
    # a's worker dies: nothing releases its slot, but its lease ends at NOW + 5
    item = f.Admit(b, "t", NOW + 60, "k", 1)
    assert c.call(f.flow_acquire_call("q", [item], NOW + 5, 30)) == [1]
    assert r.zrange(keys.key_slots_key("q", "k"), 0, -1) == [b.encode()]


def test_a_type_over_its_rate_limit_parks_until_its_token_is_due(
    redis_url: str, r: redis.Redis
) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 4)
    got, _ = _fetch(c, "q", 4, w.QueueFlow(), NOW)
    rate = parse_rate("1/s burst 2")
    items = [f.Admit(t, "mail", NOW + 30, "", 0, rate.interval_ms, rate.burst) for t in got]
    assert c.call(f.flow_acquire_call("q", items, NOW, 30)) == [1, 1, 3, 3]
    # the burst of two ran; the next token is due in one second, and parking spent none
    assert r.zrange(keys.scheduled_key("q"), 0, -1, withscores=True) == [
        (got[2].encode(), NOW + 1),
        (got[3].encode(), NOW + 1),
    ]
    assert r.hget(keys.task_key("q", got[2]), "msg") == b"m"
    assert r.get(keys.rate_key("q", "mail")) == str(NOW * 1000 + 2000).encode()
    assert r.get(keys.rate_key("q", "other")) is None


def test_garbage_in_flow_keys_neither_blocks_nor_breaks_a_fetch(
    redis_url: str, r: redis.Redis
) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 5)
    r.sadd(keys.rate_key("q"), "x")  # a rate key of the wrong type
    rate = parse_rate("100/s burst 2")
    got, _ = _fetch(c, "q", 5, w.QueueFlow(0, rate.interval_ms, rate.burst), NOW)
    assert len(got) == 2  # read as a fresh limit, then replaced by a valid state
    assert r.type(keys.rate_key("q")) == b"string"
    r.hset(keys.QUEUE_LIMITS, mapping={"a": "-3", "b": "zz", "c": "4"})
    assert run_sync(c, f.queue_limits()) == {"c": 4}


def test_dequeue_says_when_a_cap_held_tasks_back(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", 3)
    reply = c.call(w.dequeue_call(["q"], 2, NOW + 30, flow={"q": w.QueueFlow(cap=5)}, now=NOW))
    assert not w.cap_bound(reply)  # the cap left room for all that was asked
    reply = c.call(w.dequeue_call(["q"], 2, NOW + 30, flow={"q": w.QueueFlow(cap=3)}, now=NOW))
    assert w.cap_bound(reply) and len(w.parse_dequeue(["q"], reply)) == 1
