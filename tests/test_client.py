"""Client against a real redis-server: every enqueue path, its errors and its layout."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.cluster

from fastq import keys
from fastq._core import TaskMessage
from fastq.client import Client
from fastq.config import RedisConfig
from fastq.devredis import RedisServer, free_port
from fastq.errors import (
    BrokerAuthError,
    BrokerConnectionError,
    BrokerError,
    DuplicateTaskError,
    EnqueueManyError,
    InvalidOptionError,
    PayloadTooLargeError,
    TaskIDConflictError,
)
from fastq.rdb.enqueue import BATCH_SIZE
from fastq.task import Task, TaskInfo, TaskState


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    with Client(redis_url) as c:
        yield c


def task_hash(r: redis.Redis, queue: str, task_id: str) -> dict[bytes, bytes]:
    return r.hgetall(keys.task_key(queue, task_id))  # type: ignore[return-value]


def test_enqueue_pending(client: Client, r: redis.Redis) -> None:
    before = time.time_ns()
    info = client.enqueue(Task.json("email:send", {"to": "a@b.c"}))
    after = time.time_ns()
    assert isinstance(info, TaskInfo)
    assert (info.state, info.queue, info.type) == (TaskState.PENDING, "default", "email:send")
    assert (info.max_retry, info.timeout, info.deadline, info.retention) == (25, 1800, None, 0)
    assert info.next_process_at is not None
    assert abs(info.next_process_at.timestamp() - before / 1e9) < 5
    h = task_hash(r, "default", info.id)
    assert set(h) == {b"msg", b"state", b"pending_since"}
    assert h[b"state"] == b"pending"
    assert before <= int(h[b"pending_since"]) <= after
    assert r.lrange(keys.pending_key("default"), 0, -1) == [info.id.encode()]
    assert r.smembers(keys.ALL_QUEUES) == {b"default"}


def test_str_and_bytes_subclasses_are_taken_as_their_text(client: Client, r: redis.Redis) -> None:
    class Name(str):
        def __str__(self) -> str:
            return "not this"

    class Body(bytes):
        pass

    task = Task(Name("email:send"), Body(b"{}"))
    info = client.enqueue(task, queue=Name("mail"), task_id=Name("t1"))
    assert (type(info.type), info.type, info.queue, info.id) == (str, "email:send", "mail", "t1")
    msg = TaskMessage.decode(task_hash(r, "mail", "t1")[b"msg"])
    assert (msg.type, msg.payload) == ("email:send", b"{}")
    assert r.lrange(keys.pending_key("mail"), 0, -1) == [b"t1"]


def test_pending_order_is_fifo(client: Client, r: redis.Redis) -> None:
    ids = [client.enqueue(Task("x", b"%d" % i)).id for i in range(3)]
    # LPUSH on enqueue, RPOPLPUSH on dequeue: the oldest is at the right end.
    assert r.lrange(keys.pending_key("default"), 0, -1) == [i.encode() for i in reversed(ids)]


def test_enqueue_scheduled(client: Client, r: redis.Redis) -> None:
    at = time.time() + 3600.7
    info = client.enqueue(Task("x"), process_at=at, queue="later")
    assert info.state is TaskState.SCHEDULED
    assert info.next_process_at is not None
    assert info.next_process_at.timestamp() == pytest.approx(at)
    h = task_hash(r, "later", info.id)
    assert set(h) == {b"msg", b"state"}
    assert h[b"state"] == b"scheduled"
    assert r.zscore(keys.scheduled_key("later"), info.id) == int(at)
    assert r.llen(keys.pending_key("later")) == 0
    assert not r.exists(keys.wake_key("later"))
    assert r.smembers(keys.ALL_QUEUES) == {b"later"}


def test_enqueue_into_group(client: Client, r: redis.Redis) -> None:
    now = int(time.time())
    info = client.enqueue(Task("x", group="batch-1"))
    assert info.state is TaskState.AGGREGATING
    assert (info.group, info.next_process_at) == ("batch-1", None)
    h = task_hash(r, "default", info.id)
    assert h == {b"msg": h[b"msg"], b"state": b"aggregating", b"group": b"batch-1"}
    score = r.zscore(keys.group_key("default", "batch-1"), info.id)
    assert score is not None and now <= score <= now + 2 and score == int(score)
    assert r.smembers(keys.groups_key("default")) == {b"batch-1"}
    assert r.llen(keys.pending_key("default")) == 0
    assert not r.exists(keys.wake_key("default"))


def test_unique_pending(client: Client, r: redis.Redis) -> None:
    info = client.enqueue(Task("sync", b"user:1"), unique=300)
    ukey = f"asynq:{{default}}:unique:sync:{hashlib.md5(b'user:1').hexdigest()}"
    assert r.get(ukey) == info.id.encode()
    assert 298 <= r.ttl(ukey) <= 300
    assert task_hash(r, "default", info.id)[b"unique_key"] == ukey.encode()
    with pytest.raises(DuplicateTaskError) as exc:
        client.enqueue(Task("sync", b"user:1"), unique=300)
    assert exc.value.unique_key == ukey
    assert r.llen(keys.pending_key("default")) == 1
    # Another payload, type or queue is another lock.
    client.enqueue(Task("sync", b"user:2"), unique=300)
    client.enqueue(Task("sync", b"user:1"), unique=300, queue="other")


def test_unique_nil_payload_key_has_no_checksum(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("tick"), unique=10)
    assert r.exists("asynq:{default}:unique:tick:")


def test_unique_empty_payload_key_is_md5_of_empty_as_go(client: Client, r: redis.Redis) -> None:
    # Go hashes a non-nil empty payload: asynq.NewTask("tick", []byte{}) locks this key.
    info = client.enqueue(Task("tick", b""), unique=10)
    go_key = "asynq:{default}:unique:tick:d41d8cd98f00b204e9800998ecf8427e"
    assert r.get(go_key) == info.id.encode()
    assert not r.exists("asynq:{default}:unique:tick:")
    # nil and empty are different locks, on both sides.
    client.enqueue(Task("tick"), unique=10)
    with pytest.raises(DuplicateTaskError):
        client.enqueue(Task("tick", b""), unique=10)


def test_enqueue_many_unique_empty_payload_matches_go(client: Client, r: redis.Redis) -> None:
    client.enqueue_many([Task("a", b"", unique=10), Task("b", unique=10)])
    assert r.exists("asynq:{default}:unique:a:d41d8cd98f00b204e9800998ecf8427e")
    assert r.exists("asynq:{default}:unique:b:")


def test_unique_scheduled_ttl_covers_the_wait(client: Client, r: redis.Redis) -> None:
    info = client.enqueue(Task("x", b"p"), unique=60, process_in=600)
    ukey = keys.unique_key("default", "x", b"p")
    assert 658 <= r.ttl(ukey) <= 660
    h = task_hash(r, "default", info.id)
    assert (h[b"state"], h[b"unique_key"]) == (b"scheduled", ukey.encode())
    with pytest.raises(DuplicateTaskError):
        client.enqueue(Task("x", b"p"), unique=60)


def test_unique_group(client: Client, r: redis.Redis) -> None:
    info = client.enqueue(Task("x", b"p", group="g", unique=30))
    ukey = keys.unique_key("default", "x", b"p")
    assert r.get(ukey) == info.id.encode()
    # As in Asynq: no unique_key field in the hash on this path (the message has it).
    assert set(task_hash(r, "default", info.id)) == {b"msg", b"state", b"group"}
    with pytest.raises(DuplicateTaskError):
        client.enqueue(Task("x", b"p", group="g", unique=30))


def test_task_id_conflict_on_every_path(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("x", b"first"), task_id="fixed")
    before = task_hash(r, "default", "fixed")
    for extra in ({}, {"process_in": 60}, {"group": "g"}):
        with pytest.raises(TaskIDConflictError) as exc:
            client.enqueue(Task("x", b"second"), task_id="fixed", **extra)  # type: ignore[arg-type]
        assert (exc.value.queue, exc.value.task_id) == ("default", "fixed")
    assert task_hash(r, "default", "fixed") == before
    assert r.llen(keys.pending_key("default")) == 1
    assert not r.exists(keys.scheduled_key("default"), keys.group_key("default", "g"))
    # The same id in another queue is another task.
    client.enqueue(Task("x"), task_id="fixed", queue="q2")


@pytest.mark.parametrize("extra", [{}, {"process_in": 60}, {"group": "g"}])
def test_unique_conflict_leaves_no_lock(client: Client, r: redis.Redis, extra: dict) -> None:  # type: ignore[type-arg]
    client.enqueue(Task("x", b"a"), task_id="fixed")
    with pytest.raises(TaskIDConflictError):
        client.enqueue(Task("x", b"b"), task_id="fixed", unique=60, **extra)
    assert not r.exists(keys.unique_key("default", "x", b"b"))


def test_options_headers_retention_deadline(client: Client, r: redis.Redis) -> None:
    dl = int(time.time()) + 500
    info = client.enqueue(
        Task("x", headers={"trace-id": "t1"}, retention=120, max_retry=2),
        deadline=dl,
        queue="critical",
    )
    assert (info.queue, info.retention, info.max_retry, info.timeout) == ("critical", 120, 2, 0)
    assert info.deadline is not None and info.deadline.timestamp() == dl
    assert info.headers == {"trace-id": "t1"}
    assert r.exists(keys.task_key("critical", info.id))


def test_validation_happens_before_redis(client: Client, r: redis.Redis) -> None:
    with pytest.raises(InvalidOptionError):
        client.enqueue(Task("x"), queue="bad{name}")
    with pytest.raises(InvalidOptionError) as exc:
        client.enqueue(Task("x"), retries=3)
    assert "max_retry" in str(exc.value)
    with pytest.raises(InvalidOptionError):
        client.enqueue("not a task")  # type: ignore[arg-type]
    assert r.dbsize() == 0


def test_payload_limit(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, max_payload_bytes=1000) as c:
        c.enqueue(Task("x", b"a" * 900))
        with pytest.raises(PayloadTooLargeError) as exc:
            c.enqueue(Task("x", b"a" * 1000))
        assert exc.value.limit == 1000
        with pytest.raises(PayloadTooLargeError):
            c.enqueue_many([Task("x"), Task("x", b"a" * 1000)])
    assert r.llen(keys.pending_key("default")) == 1


def test_bad_client_arguments() -> None:
    with pytest.raises(InvalidOptionError):
        Client("redis://127.0.0.1:1/0", max_payload_bytes=0)
    with pytest.raises(InvalidOptionError):
        Client("redis://127.0.0.1:1/0", wake_tokens=0)
    with pytest.raises(InvalidOptionError):
        Client("http://127.0.0.1:1/0")


def test_queue_published_once_per_client(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("x"), queue="a")
    assert r.smembers(keys.ALL_QUEUES) == {b"a"}
    r.delete(keys.ALL_QUEUES)
    client.enqueue(Task("x"), queue="a")  # cached: one round trip, no SADD
    assert not r.exists(keys.ALL_QUEUES)
    client.enqueue(Task("x"), queue="b", process_in=10)
    client.enqueue(Task("x"), queue="c", group="g")
    assert r.smembers(keys.ALL_QUEUES) == {b"b", b"c"}


def test_wake_tokens(redis_url: str, r: redis.Redis) -> None:
    wake = keys.wake_key("default")
    with Client(redis_url) as c:
        c.enqueue(Task("x"))
        assert r.lrange(wake, 0, -1) == [b"1"]
        for _ in range(30):
            c.enqueue(Task("x"))
        assert r.llen(wake) == 16
        c.enqueue(Task("x"), unique=5)
        assert r.llen(wake) == 16
    r.delete(wake)
    with Client(redis_url, wake_tokens=3) as c:
        c.enqueue_many([Task("x", b"%d" % i) for i in range(10)])
        assert r.llen(wake) == 3
        c.enqueue(Task("u"), unique=5)
        assert r.llen(wake) == 3


def _node_of(r: redis.Redis, key: str) -> redis.Redis:
    """A plain connection to the server holding ``key`` (the master on a cluster or
    behind Sentinel): BLPOP and CLIENT LIST are per server."""
    if isinstance(r, redis.cluster.RedisCluster):
        node = r.get_node_from_key(key)
        return redis.Redis(host=node.host, port=node.port)
    pool = r.connection_pool  # its own connection class and options (TLS included)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **pool.connection_kwargs
        )
    )


def test_a_full_wake_list_gets_no_token_and_a_drained_one_wakes_a_blocked_worker(
    redis_url: str, r: redis.Redis
) -> None:
    wake = keys.wake_key("default")
    node = _node_of(r, wake)
    with Client(redis_url, wake_tokens=20) as c:
        for _ in range(25):
            c.enqueue(Task("x"))
    assert node.llen(wake) == 20
    with Client(redis_url) as c:  # a smaller cap: no push (and no trim) on a fuller list
        c.enqueue(Task("x"))
        c.enqueue_many([Task("x"), Task("y")])
        assert node.llen(wake) == 20
        node.delete(wake)  # a worker took every token
        got: list[Any] = []
        waiter = _node_of(r, wake)
        blocked = threading.Thread(target=lambda: got.append(waiter.blpop([wake], timeout=30)))
        blocked.start()
        try:
            while not any(cl.get("cmd") == "blpop" for cl in node.client_list()):
                time.sleep(0.005)
            c.enqueue(Task("x"))
        finally:
            blocked.join()
            waiter.close()
    assert got == [(wake.encode(), b"1")]
    assert node.llen(wake) == 0
    node.close()


def test_script_cache_flush_is_survived(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("x"))
    r.script_flush()
    client.enqueue(Task("x"))
    client.enqueue_many([Task("x"), Task("y", process_in=5)])
    assert r.llen(keys.pending_key("default")) == 3


# ---------------------------------------------------------------------------
# enqueue_many


def test_enqueue_many_in_order(client: Client, r: redis.Redis) -> None:
    tasks = [Task("x", b"%d" % i) for i in range(5)]
    infos = client.enqueue_many(tasks, queue="bulk")
    assert [i.payload for i in infos] == [t.payload for t in tasks]
    assert all(i.state is TaskState.PENDING and i.queue == "bulk" for i in infos)
    assert r.lrange(keys.pending_key("bulk"), 0, -1) == [i.id.encode() for i in reversed(infos)]
    h = task_hash(r, "bulk", infos[0].id)
    assert set(h) == {b"msg", b"state", b"pending_since"}
    assert r.smembers(keys.ALL_QUEUES) == {b"bulk"}


def test_enqueue_many_mixed_paths_and_queues(client: Client, r: redis.Redis) -> None:
    n = BATCH_SIZE + 7  # more than one batch call
    tasks = [Task("x", b"%d" % i, queue="q1" if i % 2 else "q2") for i in range(n)]
    tasks += [
        Task("s", process_in=60),
        Task("g", group="grp"),
        Task("u", b"1", unique=60),
        Task("su", b"2", unique=60, process_in=60),
        Task("gu", b"3", unique=60, group="grp"),
    ]
    infos = client.enqueue_many(tasks)
    assert len(infos) == n + 5
    assert [i.state for i in infos[n:]] == [
        TaskState.SCHEDULED,
        TaskState.AGGREGATING,
        TaskState.PENDING,
        TaskState.SCHEDULED,
        TaskState.AGGREGATING,
    ]
    assert r.llen(keys.pending_key("q1")) + r.llen(keys.pending_key("q2")) == n
    assert r.llen(keys.pending_key("default")) == 1
    assert r.zcard(keys.scheduled_key("default")) == 2
    assert r.zcard(keys.group_key("default", "grp")) == 2
    assert r.smembers(keys.ALL_QUEUES) == {b"q1", b"q2", b"default"}
    for info in infos:
        assert r.exists(keys.task_key(info.queue, info.id))


def test_enqueue_many_partial_failure(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("x"), task_id="taken")
    client.enqueue(Task("u", b"k"), unique=60)
    tasks = [
        Task("x", b"ok1"),
        Task("x", task_id="taken"),
        Task("u", b"k", unique=60),
        Task("x", b"ok2", process_in=30),
    ]
    with pytest.raises(EnqueueManyError) as exc:
        client.enqueue_many(tasks)
    err = exc.value
    assert set(err.errors) == {1, 2}
    assert isinstance(err.results[1], TaskIDConflictError)
    assert isinstance(err.results[2], DuplicateTaskError)
    ok = err.enqueued
    assert [i.payload for i in ok] == [b"ok1", b"ok2"]  # type: ignore[attr-defined]
    assert all(r.exists(keys.task_key("default", i.id)) for i in ok)  # type: ignore[attr-defined]
    assert "2 of 4" in str(err)


def test_enqueue_many_conflict_inside_one_batch(client: Client, r: redis.Redis) -> None:
    with pytest.raises(EnqueueManyError) as exc:
        client.enqueue_many([Task("x", b"a", task_id="same"), Task("x", b"b", task_id="same")])
    assert list(exc.value.errors) == [1]
    assert r.llen(keys.pending_key("default")) == 1


def test_enqueue_many_validation_is_all_or_nothing(client: Client, r: redis.Redis) -> None:
    with pytest.raises(InvalidOptionError):
        client.enqueue_many([Task("x"), "nope"])  # type: ignore[list-item]
    with pytest.raises(InvalidOptionError):
        client.enqueue_many([Task("x"), Task("y")], queue="")
    with pytest.raises(InvalidOptionError):
        client.enqueue_many([Task("x"), Task("y")], task_id="shared")
    assert r.dbsize() == 0
    assert client.enqueue_many([]) == []
    assert len(client.enqueue_many([Task("x")], task_id="only-one")) == 1


# ---------------------------------------------------------------------------
# Connections


def test_redis_down_raises_broker_connection_error_without_password() -> None:
    url = f"redis://alice:s3cr3t-pw@127.0.0.1:{free_port()}/0"
    with Client(url) as c:
        with pytest.raises(BrokerConnectionError) as exc:
            c.enqueue(Task("x"))
        with pytest.raises(ConnectionError):
            c.enqueue_many([Task("x")])
    assert "s3cr3t-pw" not in str(exc.value)
    assert f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in str(exc.value)
    assert "***" in exc.value.target


def test_killed_connection_is_replaced_and_nothing_is_lost(client: Client, r: redis.Redis) -> None:
    """Redis dropping the producer's kept connection (CLIENT KILL, an idle timeout)
    costs nothing: the next enqueue dials again, on every path."""
    first = client.enqueue(Task("x"))
    client.enqueue_many([Task("x"), Task("y", process_in=5)])
    for i in range(2):
        r.client_kill_filter(_type="normal", skipme=True)
        client.enqueue(Task("x"))
        client.enqueue(Task("u", b"%d" % i), unique=60)
        client.enqueue_many([Task("x"), Task("y", process_in=5)])
    assert r.llen(keys.pending_key("default")) == 1 + 1 + 2 * 3
    assert r.exists(keys.task_key("default", first.id))
    with pytest.raises(TaskIDConflictError):  # a conflict is still told apart
        client.enqueue(Task("x"), task_id=first.id)


def test_redis_restart_gives_a_clear_error_then_works(redis_server: RedisServer) -> None:
    """While Redis is down an enqueue raises BrokerConnectionError (nothing is half
    written); once it is back, the same client enqueues again."""
    redis_server.flush()
    with Client(redis_server.url) as c:
        c.enqueue(Task("x"))
        redis_server.stop()
        try:
            with pytest.raises(BrokerConnectionError):
                c.enqueue(Task("x"))
        finally:
            redis_server.start()
        info = c.enqueue(Task("x"))  # scripts loaded again on the new server
    raw = redis.Redis(port=redis_server.port)
    try:
        assert raw.lrange(keys.pending_key("default"), 0, -1) == [info.id.encode()]
    finally:
        raw.flushall()
        raw.close()


def test_url_from_environment(
    redis_url: str, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTQ_REDIS_URL", redis_url)
    with Client() as c:
        c.enqueue(Task("x"))
    assert r.llen(keys.pending_key("default")) == 1


def test_config_object_and_db_number(redis_server: RedisServer, redis_url: str) -> None:
    cfg = RedisConfig(url=f"redis://127.0.0.1:{redis_server.port}/3")
    with Client(cfg) as c:
        c.enqueue(Task("x"))
    r3 = redis.Redis(port=redis_server.port, db=3)
    try:
        assert r3.llen(keys.pending_key("default")) == 1
    finally:
        r3.flushdb()
        r3.close()


def test_unix_socket_and_acl_user(tmp_path_factory: pytest.TempPathFactory) -> None:
    sock = tmp_path_factory.mktemp("sock") / "redis.sock"
    server = RedisServer(extra=["--unixsocket", str(sock), "--unixsocketperm", "700"])
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        admin.acl_setuser(
            "producer", enabled=True, passwords=["+pw1"], keys=["*"], commands=["+@all"]
        )
        admin.close()
        with Client(f"unix://producer:pw1@{sock}?db=2") as c:
            info = c.enqueue(Task("x"))
        with Client(f"redis://producer:pw1@127.0.0.1:{server.port}/2") as c:
            c.enqueue(Task("y"))
        with Client(f"redis://producer:wrong@127.0.0.1:{server.port}/2") as c:
            with pytest.raises(BrokerAuthError) as exc:  # permanent, not "unreachable"
                c.enqueue(Task("z"))
            assert "wrong" not in str(exc.value)
        r2 = redis.Redis(port=server.port, db=2)
        assert r2.llen(keys.pending_key("default")) == 2
        assert r2.exists(keys.task_key("default", info.id))
        r2.close()
    finally:
        server.cleanup()


def test_enqueue_many_wrong_type_pending_writes_nothing(client: Client, r: redis.Redis) -> None:
    r.set(keys.pending_key("default"), "not a list")
    with pytest.raises(EnqueueManyError) as exc:
        client.enqueue_many([Task("x", b"1"), Task("x", b"2"), Task("s", process_in=60)])
    assert set(exc.value.errors) == {0, 1}
    assert all(isinstance(e, BrokerError) for e in exc.value.errors.values())
    assert "WRONGTYPE" in str(exc.value.errors[0])
    assert len(exc.value.enqueued) == 1  # the scheduled task took another path
    assert r.keys("asynq:{default}:t:*") == [
        keys.task_key("default", exc.value.enqueued[0].id).encode()  # type: ignore[attr-defined]
    ]


def test_enqueue_many_keeps_pending_order_across_paths(client: Client, r: redis.Redis) -> None:
    tasks = [Task("a"), Task("b"), Task("u", b"1", unique=30), Task("c"), Task("s", process_in=9)]
    infos = client.enqueue_many(tasks)
    pending = [i.id for i in infos if i.state is TaskState.PENDING]
    assert r.lrange(keys.pending_key("default"), 0, -1) == [i.encode() for i in reversed(pending)]


def test_a_stalled_redis_times_out_with_a_clear_error(redis_url: str, r: redis.Redis) -> None:
    """A Redis that takes the request but never answers (CLIENT PAUSE) fails the
    enqueue after the socket timeout. A timed-out call is not sent again (Redis may
    still run it): sent again, it would have gone through once the pause ended."""
    with Client(RedisConfig(url=redis_url, socket_timeout=0.3)) as c:
        c.enqueue(Task("x"))
        r.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        try:
            with pytest.raises(BrokerConnectionError):
                c.enqueue(Task("x"))
        finally:
            r.execute_command("CLIENT", "UNPAUSE")
        c.enqueue(Task("x"))
    # The timed-out call ran at most once: Redis may still run what a client that
    # hung up had sent.
    assert r.llen(keys.pending_key("default")) in (2, 3)


def test_an_idle_connection_is_checked_before_use(redis_url: str, r: redis.Redis) -> None:
    """A kept connection idle for longer than the health-check interval is PINGed
    before an enqueue goes out on it, and replaced when it died meanwhile."""
    cfg = RedisConfig(url=redis_url, extra={"health_check_interval": 0.05})
    with Client(cfg) as c:
        c.enqueue(Task("x"))
        time.sleep(0.1)
        r.config_resetstat()
        c.enqueue(Task("x"))  # alive: PING, then the enqueue
        assert int(r.info("commandstats")["cmdstat_ping"]["calls"]) == 1
        r.client_kill_filter(_type="normal", skipme=True)
        time.sleep(0.1)
        c.enqueue(Task("x"))  # dead: the PING fails, a new connection takes the enqueue
        c.enqueue_many([Task("x"), Task("y")])
    assert r.llen(keys.pending_key("default")) == 5
