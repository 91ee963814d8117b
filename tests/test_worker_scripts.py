"""The worker's Lua scripts, run directly against a real Redis; layout asserted raw."""

from __future__ import annotations

import time

import redis

from fastq import keys
from fastq.config import RedisConfig
from fastq.rdb import worker as w
from fastq.rdb.conn import SyncConn

NOW = int(time.time())


def _conn(url: str) -> SyncConn:
    return SyncConn(RedisConfig.from_url(url))


def _pending(r: redis.Redis, q: str, task_id: str, msg: bytes = b"m", **fields: str) -> None:
    r.hset(
        keys.task_key(q, task_id),
        mapping={"msg": msg, "state": "pending", "pending_since": "1", **fields},
    )
    r.lpush(keys.pending_key(q), task_id)
    r.sadd(keys.ALL_QUEUES, q)


def _dequeue(c: SyncConn, queues: list[str], n: int, lease: int = NOW + 30) -> list[w.Fetched]:
    return w.parse_dequeue(queues, c.call(w.dequeue_call(queues, n, lease)))


def test_dequeue_moves_fifo_with_lease(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    for i in range(3):
        _pending(r, "default", f"t{i}", msg=f"m{i}".encode())
    got = _dequeue(c, ["default"], 2)
    assert [(f.task_id, f.msg) for f in got] == [("t0", b"m0"), ("t1", b"m1")]
    assert r.lrange(keys.active_key("default"), 0, -1) == [b"t1", b"t0"]
    assert r.zrange(keys.lease_key("default"), 0, -1, withscores=True) == [
        (b"t0", NOW + 30.0),
        (b"t1", NOW + 30.0),
    ]
    h = r.hgetall(keys.task_key("default", "t0"))
    assert h == {b"msg": b"m0", b"state": b"active"}
    assert r.lrange(keys.pending_key("default"), 0, -1) == [b"t2"]


def test_dequeue_order_paused_and_bad_entries(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "a", "a1")
    _pending(r, "b", "b1")
    _pending(r, "b", "b2")
    r.set(keys.paused_key("a"), NOW)
    r.lpush(keys.pending_key("b"), "ghost")  # no task hash
    r.set(keys.pending_key("c"), "oops")  # wrong type
    got = _dequeue(c, ["c", "a", "b"], 5)
    assert got[0].queue == "c" and got[0].msg is None and "WRONGTYPE" in got[0].problem
    assert [(f.queue, f.task_id, f.msg is None) for f in got[1:]] == [
        ("b", "b1", False),
        ("b", "b2", False),
        ("b", "ghost", True),
    ]
    assert r.llen(keys.active_key("b")) == 2
    assert r.zscore(keys.lease_key("b"), "ghost") is None
    assert r.llen(keys.pending_key("a")) == 1  # paused: untouched


def _ack(c: SyncConn, q: str, items: list[w.Success]) -> list[int]:
    return list(c.call(w.ack_success_call(q, items, NOW)))


def test_ack_success_done_and_completed(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    for t in ("t1", "t2", "t3"):
        _pending(r, "q", t)
    _dequeue(c, ["q"], 3)
    uk = keys.unique_key("q", "email", b"x")
    r.set(uk, "t1")
    r.hset(keys.recovered_count_key("q"), "t1", 2)
    codes = _ack(
        c,
        "q",
        [
            w.Success("t1", NOW + 30, unique_key=uk),
            w.Success("t2", NOW + 30, completed_expiry=NOW + 100, completed_msg=b"done"),
            w.Success("t3", NOW + 99),  # lease not ours
        ],
    )
    assert codes == [w.Ack.ACKED, w.Ack.ACKED, w.Ack.LEASE_LOST]
    assert not r.exists(keys.task_key("q", "t1")) and not r.exists(uk)
    assert r.hgetall(keys.task_key("q", "t2")) == {b"msg": b"done", b"state": b"completed"}
    assert r.zscore(keys.completed_key("q"), "t2") == NOW + 100
    assert r.lrange(keys.active_key("q"), 0, -1) == [b"t3"]
    assert r.get(keys.processed_key("q", NOW)) == b"2"
    assert r.get(keys.processed_total_key("q")) == b"2"
    assert r.ttl(keys.processed_key("q", NOW)) > 80 * 24 * 3600
    assert not r.hexists(keys.recovered_count_key("q"), "t1")


def test_ack_success_keeps_other_leases_at_the_same_score(redis_url: str, r: redis.Redis) -> None:
    # Two workers' tasks can share a lease score (whole seconds): a batch acking
    # every lease it holds at that score must not drop the other worker's lease.
    c = _conn(redis_url)
    for t in ("t1", "t2", "t3", "t4"):
        _pending(r, "q", t)
    _dequeue(c, ["q"], 4)  # all four at NOW + 30
    assert _ack(c, "q", [w.Success("t1", NOW + 30), w.Success("t2", NOW + 30)]) == [1, 1]
    assert r.zrange(keys.lease_key("q"), 0, -1) == [b"t3", b"t4"]
    assert _ack(c, "q", [w.Success("t3", NOW + 30), w.Success("t4", NOW + 30)]) == [1, 1]
    assert not r.exists(keys.lease_key("q")) and not r.exists(keys.active_key("q"))


def test_ack_success_large_lease_set(redis_url: str, r: redis.Redis) -> None:
    # A skiplist-encoded lease set (past 128 members) is read with ZMSCORE.
    c = _conn(redis_url)
    for i in range(300):
        _pending(r, "q", f"t{i}")
    _dequeue(c, ["q"], 300)
    items = [w.Success(f"t{i}", NOW + 30) for i in range(0, 300, 2)]
    items.append(w.Success("t1", NOW + 31))  # wrong score: not ours
    codes = _ack(c, "q", items)
    assert codes == [1] * 150 + [0]
    assert r.zcard(keys.lease_key("q")) == 150 and r.llen(keys.active_key("q")) == 150
    assert r.get(keys.processed_total_key("q")) == b"150"


def test_unique_lock_of_another_task_is_kept(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", "t1")
    _dequeue(c, ["q"], 1)
    uk = keys.unique_key("q", "email", b"x")
    r.set(uk, "other")
    assert _ack(c, "q", [w.Success("t1", NOW + 30, unique_key=uk)]) == [w.Ack.ACKED]
    assert r.get(uk) == b"other"


def test_retry_and_failure_counters(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", "t1")
    _pending(r, "q", "t2")
    _dequeue(c, ["q"], 2)
    assert (
        c.call(w.retry_call("q", "t1", b"m2", NOW + 60, is_failure=True, lease=NOW + 30, now=NOW))
        == 1
    )
    assert r.hgetall(keys.task_key("q", "t1")) == {b"msg": b"m2", b"state": b"retry"}
    assert r.zscore(keys.retry_key("q"), "t1") == NOW + 60
    assert r.get(keys.failed_key("q", NOW)) == b"1" and r.get(keys.failed_total_key("q")) == b"1"
    assert (
        c.call(w.retry_call("q", "t2", b"m2", NOW + 60, is_failure=False, lease=NOW + 30, now=NOW))
        == 1
    )
    assert r.get(keys.processed_total_key("q")) == b"1"  # non-failure: not counted
    # lease lost: nothing written
    _pending(r, "q", "t3")
    _dequeue(c, ["q"], 1)
    assert (
        c.call(w.retry_call("q", "t3", b"x", NOW, is_failure=True, lease=NOW + 1, now=NOW))
        == w.Ack.LEASE_LOST
    )
    assert r.hget(keys.task_key("q", "t3"), "state") == b"active"


def test_archive_trims_by_size_and_age(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    for i in range(3):
        r.zadd(keys.archived_key("q"), {f"old{i}": NOW - 1000 + i})
        r.hset(keys.task_key("q", f"old{i}"), "msg", b"x")
    r.zadd(keys.archived_key("q"), {"ancient": NOW - 10**6})
    r.hset(keys.task_key("q", "ancient"), "msg", b"x")
    _pending(r, "q", "t1")
    _dequeue(c, ["q"], 1)
    reply = c.call(
        w.archive_call("q", "t1", b"dead", lease=NOW + 30, now=NOW, max_size=2, max_age=10_000)
    )
    assert reply == 1
    assert r.zrange(keys.archived_key("q"), 0, -1) == [b"old2", b"t1"]
    assert not r.exists(keys.task_key("q", "old0")) and not r.exists(keys.task_key("q", "ancient"))
    assert r.hgetall(keys.task_key("q", "t1")) == {b"msg": b"dead", b"state": b"archived"}
    assert r.get(keys.failed_total_key("q")) == b"1"


def test_requeue_and_extend(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    _pending(r, "q", "t1")
    _pending(r, "q", "t2")
    _pending(r, "q", "t3")
    _dequeue(c, ["q"], 2)
    lost = c.call(w.extend_lease_call("q", [("t1", NOW + 30), ("t2", NOW + 5)], NOW + 60))
    assert w.parse_ids(lost) == ["t2"]
    assert r.zscore(keys.lease_key("q"), "t1") == NOW + 60
    codes = c.call(w.requeue_call("q", [("t1", NOW + 60), ("t2", NOW + 30)]))
    assert list(codes) == [1, 1]
    assert r.lrange(keys.pending_key("q"), 0, -1) == [b"t3", b"t1", b"t2"]
    assert r.hget(keys.task_key("q", "t1"), "state") == b"pending"
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0
    assert r.llen(keys.wake_key("q")) == 2


def test_recover_retry_archive_drop(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    for t in ("t1", "t2", "t3"):
        _pending(r, "q", t)
    _dequeue(c, ["q"], 3, lease=NOW)
    r.delete(keys.task_key("q", "t3"))
    r.hset(keys.recovered_count_key("q"), "t2", 3)
    items = w.parse_lease_expired("q", c.call(w.list_lease_expired_call("q", NOW)))
    by_id = {it.task_id: it for it in items}
    assert by_id["t3"].msg is None and by_id["t2"].recovered == 3 and by_id["t1"].msg == b"m"
    kw = dict(now=NOW, max_size=10, max_age=1000)
    assert (
        c.call(w.recover_call(by_id["t1"], mode="retry", msg=b"r", at=NOW, is_failure=False, **kw))
        == 1
    )  # type: ignore[arg-type]
    assert (
        c.call(w.recover_call(by_id["t2"], mode="archive", msg=b"a", at=NOW, is_failure=True, **kw))
        == 1
    )  # type: ignore[arg-type]
    assert (
        c.call(w.recover_call(by_id["t3"], mode="drop", msg=b"", at=NOW, is_failure=False, **kw))
        == 1
    )  # type: ignore[arg-type]
    assert r.hget(keys.task_key("q", "t1"), "state") == b"retry"
    assert r.hget(keys.recovered_count_key("q"), "t1") == b"1"
    assert r.hget(keys.task_key("q", "t2"), "state") == b"archived"
    assert not r.hexists(keys.recovered_count_key("q"), "t2")
    assert r.llen(keys.active_key("q")) == 0 and r.zcard(keys.lease_key("q")) == 0
    assert r.get(keys.failed_total_key("q")) == b"1"


def test_forward_janitor_trim(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    r.hset(keys.task_key("q", "s1"), mapping={"msg": b"x", "state": "scheduled"})
    r.hset(keys.task_key("q", "s2"), mapping={"msg": b"x", "state": "scheduled"})
    r.hset(keys.task_key("q", "g1"), mapping={"msg": b"x", "state": "retry", "group": "grp"})
    r.zadd(keys.scheduled_key("q"), {"s1": NOW - 1, "s2": NOW + 100})
    r.zadd(keys.retry_key("q"), {"g1": NOW})
    assert c.call(w.forward_call("q", "scheduled", NOW)) == 1
    assert c.call(w.forward_call("q", "retry", NOW)) == 1
    assert r.lrange(keys.pending_key("q"), 0, -1) == [b"s1"]
    h = r.hgetall(keys.task_key("q", "s1"))
    assert h[b"state"] == b"pending" and int(h[b"pending_since"]) == NOW * 10**9
    assert r.zscore(keys.group_key("q", "grp"), "g1") == NOW
    assert r.smembers(keys.groups_key("q")) == {b"grp"}
    assert r.hget(keys.task_key("q", "g1"), "state") == b"aggregating"
    assert r.llen(keys.wake_key("q")) == 1
    r.zadd(keys.completed_key("q"), {"c1": NOW - 1, "c2": NOW + 5})
    r.hset(keys.task_key("q", "c1"), "msg", b"x")
    assert c.call(w.delete_expired_completed_call("q", NOW)) == 1
    assert not r.exists(keys.task_key("q", "c1"))
    assert r.zrange(keys.completed_key("q"), 0, -1) == [b"c2"]
    r.zadd(keys.archived_key("q"), {"a1": NOW - 500, "a2": NOW - 2, "a3": NOW - 1})
    assert c.call(w.archive_trim_call("q", NOW, 1, 100)) == 2
    assert r.zrange(keys.archived_key("q"), 0, -1) == [b"a3"]


def test_heartbeat_scripts(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    sk = keys.server_info_key("h", 1, "sid")
    wk = keys.workers_key("h", 1, "sid")
    pk = keys.worker_pids_key("h", 1, "sid")
    c.call(w.worker_info_sync_call(wk, pk, 77, [("t1", b"i1"), ("t2", b"i2")], [], 10))
    c.call(w.worker_info_sync_call(wk, pk, 77, [], ["t1"], 10))
    assert r.hgetall(wk) == {b"t2": b"i2"} and 0 < r.ttl(wk) <= 10
    assert r.hgetall(pk) == {b"t2": b"77"} and 0 < r.ttl(pk) <= 10
    c.call_many(w.write_server_info_call(sk, wk, b"info", 10, NOW))
    assert r.get(sk) == b"info" and 0 < r.ttl(sk) <= 10
    assert r.zscore(keys.ALL_SERVERS, sk) == NOW + 10
    assert r.zscore(keys.ALL_WORKERS, wk) == NOW + 10


def test_forward_and_requeue_take_the_wake_token_cap_as_an_argument(
    redis_url: str, r: redis.Redis
) -> None:
    c = _conn(redis_url)
    for i in range(20):
        r.hset(keys.task_key("q", f"s{i}"), mapping={"msg": b"x", "state": "scheduled"})
        r.zadd(keys.scheduled_key("q"), {f"s{i}": NOW - 1})
    assert c.call(w.forward_call("q", "scheduled", NOW, wake_tokens=3)) == 20
    assert r.llen(keys.wake_key("q")) == 3
    r.delete(keys.wake_key("q"))
    for t in ("p1", "p2", "p3"):
        _pending(r, "q2", t)
    _dequeue(c, ["q2"], 3)
    held = [(t, NOW + 30) for t in ("p1", "p2", "p3")]
    assert list(c.call(w.requeue_call("q2", held, wake_tokens=2))) == [1, 1, 1]
    assert r.llen(keys.wake_key("q2")) == 2


def test_archive_trims_a_bounded_number_of_tasks_per_call(redis_url: str, r: redis.Redis) -> None:
    # An acknowledgement must not delete an unbounded backlog in one script run:
    # it trims at most 100; the janitor's archive_trim takes the rest.
    c = _conn(redis_url)
    for i in range(250):
        r.zadd(keys.archived_key("q"), {f"old{i}": NOW - 10**6 + i})
        r.hset(keys.task_key("q", f"old{i}"), "msg", b"x")
    _pending(r, "q", "t1")
    _dequeue(c, ["q"], 1)
    call = w.archive_call("q", "t1", b"dead", lease=NOW + 30, now=NOW, max_size=10, max_age=1000)
    assert c.call(call) == 1
    assert r.zcard(keys.archived_key("q")) == 251 - 100
    assert c.call(w.archive_trim_call("q", NOW, 10, 1000)) == 150
    assert r.zrange(keys.archived_key("q"), 0, -1) == [b"t1"]


def test_dequeue_stops_at_its_byte_budget(redis_url: str, r: redis.Redis) -> None:
    c = _conn(redis_url)
    for i in range(5):
        _pending(r, "q", f"t{i}", msg=b"x" * 100_000)
    # 100 KB messages, a 250 KB budget: the third crosses it and is the last one taken
    got = w.parse_dequeue(["q"], c.call(w.dequeue_call(["q"], 5, NOW + 30, max_bytes=250_000)))
    assert [f.task_id for f in got] == ["t0", "t1", "t2"]
    assert r.lrange(keys.pending_key("q"), 0, -1) == [b"t4", b"t3"]
    assert r.zcard(keys.lease_key("q")) == 3 and r.llen(keys.active_key("q")) == 3
    # one task always moves, however small the budget
    got = w.parse_dequeue(["q"], c.call(w.dequeue_call(["q"], 5, NOW + 30, max_bytes=1)))
    assert [f.task_id for f in got] == ["t3"]
