"""Failover under load: a Redis Cluster master handed over and then killed, and a
Sentinel master killed, each in the middle of a drain over 8 queues.

Each test prints its numbers (acknowledged, lost, duplicates) and asserts that every
task acknowledged before the failures began ran, and that the worker followed the
new masters by itself (it is never restarted).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
import redis
import redis.asyncio as aioredis
from failover_drain import QUEUES, Drain
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from test_worker_engine import engine
from workerapps.helpers import enqueue

from fastq import keys
from fastq.app import App, Context, IncomingTask
from fastq.client import AsyncClient, Client
from fastq.devcluster import MASTER_NAME, LocalCluster, LocalSentinel
from fastq.errors import NotReplicatedError
from fastq.rdb import wire
from fastq.task import Task

pytestmark = pytest.mark.cluster

PREFILL = 20_000


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    c.start()
    yield c
    c.cleanup()


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    s = LocalSentinel()
    s.start()
    yield s
    s.cleanup()


def _finish(drain: Drain, label: str) -> None:
    drain.stop_producer()
    drain.wait_all()
    rep = drain.report()
    print(
        f"\n{label}: acknowledged={rep.acked} runs={rep.ran} lost_before_failure="
        f"{rep.lost_before} lost_during_failure={rep.lost_during} duplicates={rep.duplicates}"
        f" refused_enqueues={drain.errors}"
    )
    assert drain.proc is not None and drain.proc.poll() is None, "the worker died"
    assert rep.lost_before == 0
    assert len(drain.during) > 0


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_cluster_failover_then_master_kill_mid_drain(
    cluster: LocalCluster, tmp_path: Path, wait_replicas: int
) -> None:
    drain = Drain(cluster.url, tmp_path, wait_replicas=wait_replicas)
    try:
        drain.prefill(PREFILL)
        drain.start_worker()
        drain.start_producer()
        assert drain.wait_processed(PREFILL // 4) >= PREFILL // 4
        first = cluster.masters()[0]
        replica = cluster.replica_of(first)
        with cluster.client(replica) as c:
            c.execute_command("CLUSTER", "FAILOVER")
        cluster.wait_role(replica, "master")
        cluster.wait_ok()
        assert drain.wait_processed(PREFILL // 2) >= PREFILL // 2
        victim = cluster.masters()[1]
        victim.kill()
        cluster.wait_ok()
        assert victim.port not in [m.port for m in cluster.masters()]
        drain.wait_processed(len(drain.ran()) + 200)
        _finish(drain, f"cluster wait_replicas={wait_replicas}")
    finally:
        drain.stop()


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_sentinel_master_kill_mid_drain(
    sentinel: LocalSentinel, tmp_path: Path, wait_replicas: int
) -> None:
    drain = Drain(sentinel.url, tmp_path, wait_replicas=wait_replicas)
    try:
        drain.prefill(PREFILL)
        drain.start_worker()
        drain.start_producer()
        assert drain.wait_processed(PREFILL // 3) >= PREFILL // 3
        old = sentinel.master_port()
        sentinel.server_on(old).kill()
        _wait_new_master(sentinel, old)
        drain.wait_processed(len(drain.ran()) + 200)
        _finish(drain, f"sentinel wait_replicas={wait_replicas}")
    finally:
        drain.stop()


def test_resharding_a_queue_slot_mid_drain(cluster: LocalCluster, tmp_path: Path) -> None:
    drain = Drain(cluster.url, tmp_path)
    try:
        drain.prefill(PREFILL // 2)
        drain.start_worker()
        drain.start_producer()
        assert drain.wait_processed(PREFILL // 8) >= PREFILL // 8
        moved = 0
        for q in QUEUES[:2]:
            slot = key_slot(keys.pending_key(q).encode())
            source = cluster.owner_of(slot)
            target = next(m for m in cluster.masters() if m.port != source.port)
            moved += cluster.move_slot(slot, target)
            assert cluster.owner_of(slot).port == target.port
        assert moved > 0
        drain.wait_processed(len(drain.ran()) + 200)
        _finish(drain, "cluster resharding")
        assert drain.report().lost_during == 0  # no master died: nothing may be lost
    finally:
        drain.stop()


def test_wait_replicas_without_replicas_raises_but_keeps_the_task(
    redis_url: str, r: redis.Redis
) -> None:
    with Client(redis_url) as c, pytest.raises(NotReplicatedError) as exc:
        c.enqueue(Task("record", b""), wait_replicas=1)
    assert (exc.value.wanted, exc.value.acked) == (1, 0)
    assert r.lrange(keys.pending_key("default"), 0, -1) == [exc.value.info.id.encode()]


def test_wait_replicas_behind_sentinel_returns_once_replicated(sentinel: LocalSentinel) -> None:
    with Client(sentinel.url) as c:
        info = c.enqueue(Task("record", b""), wait_replicas=2)
    for server in sentinel.servers:
        with redis.Redis(port=server.port) as node:
            assert node.exists(keys.task_key("default", info.id)) == 1


async def test_async_wait_replicas_on_a_cluster_reaches_the_slot_replica(
    cluster: LocalCluster,
) -> None:
    async with AsyncClient(cluster.url) as c:
        infos = [await c.enqueue(Task("record", b""), queue=q, wait_replicas=1) for q in QUEUES]
    for info in infos:
        key = keys.task_key(info.queue, info.id)
        replica = cluster.replica_of(cluster.owner_of(key_slot(key.encode())))
        with cluster.client(replica) as node:
            node.execute_command("READONLY")
            assert node.exists(key) == 1


async def test_async_wait_replicas_without_replicas_raises(redis_url: str) -> None:
    async with AsyncClient(redis_url) as c:
        with pytest.raises(NotReplicatedError) as exc:
            await c.enqueue(Task("record", b""), wait_replicas=1)
    assert (exc.value.wanted, exc.value.acked) == (1, 0)


async def test_cancel_reaches_a_worker_whose_first_listed_node_is_dead(
    cluster: LocalCluster,
) -> None:
    cluster.nodes[0].kill()  # the node a cluster worker subscribes on first
    cluster.wait_ok()
    app = App()
    started = asyncio.Event()

    @app.task("long")
    async def long(task: IncomingTask, ctx: Context) -> None:
        started.set()
        await asyncio.sleep(30)

    nodes = [ClusterNode("127.0.0.1", n.port) for n in cluster.alive()]
    r = RedisCluster(startup_nodes=nodes)
    try:
        async with engine(app, cluster.url):
            tid = enqueue(r, "long", retry=3)
            await asyncio.wait_for(started.wait(), 10)
            state = keys.task_key("default", tid)
            deadline = time.monotonic() + 15
            while r.hget(state, "state") != b"retry" and time.monotonic() < deadline:
                r.publish(keys.CANCEL_CHANNEL, tid)  # until the listener is on a live node
                await asyncio.sleep(0.2)
            assert r.hget(state, "state") == b"retry"
    finally:
        r.close()


def _wait_role(port: int, role: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, socket_timeout=2) as c:
                if c.info("replication")["role"] == role:
                    return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server on {port} did not become a {role}")


def _wait_new_master(sentinel: LocalSentinel, old: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if sentinel.master_port() != old:
                return
        except (redis.RedisError, RuntimeError):
            pass
        time.sleep(0.2)
    raise AssertionError("the sentinels did not promote a replica")


def test_clients_follow_a_sentinel_failover_on_their_kept_connections(
    sentinel: LocalSentinel,
) -> None:
    """Behind Sentinel, Client and AsyncClient enqueue on their kept connections (the
    fast path of fastq/rdb/wire.py); after SENTINEL FAILOVER the next enqueue of the
    same clients lands on the new master."""
    old = sentinel.master_port()

    async def run() -> list[str]:
        with Client(sentinel.url) as c:
            async with AsyncClient(sentinel.url) as ac:
                assert c._conn.wire and ac._conn.wire is not None
                ids = [(await ac.enqueue(Task("record"))).id]
                ids.append(c.enqueue(Task("record", b"1"), wait_replicas=2).id)
                with redis.Redis(port=sentinel.sentinel_ports[0]) as s:
                    s.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
                _wait_new_master(sentinel, old)
                # Writes the old master takes between the promotion and its own
                # reconfiguration are lost with its data set (Sentinel's failover
                # is asynchronous), whoever the client: wait until it is a replica.
                _wait_role(old, "slave")
                ids.append(c.enqueue(Task("record", b"2")).id)
                ids.append((await ac.enqueue(Task("record"))).id)
                return ids

    ids = asyncio.run(run())
    new = sentinel.master_port()
    assert new != old
    with redis.Redis(port=new) as m:
        assert m.info("replication")["role"] == "master"
        pending = {x.decode() for x in m.lrange(keys.pending_key("default"), 0, -1)}
    assert set(ids) <= pending


def test_a_readonly_reply_on_a_master_connection_drops_it(sentinel: LocalSentinel) -> None:
    """A kept master connection that reaches a demoted server without being dropped
    (a reconnect racing the failover) gets READONLY, raw or inside a script's error:
    the connection is dropped and ConnectionError raised, so the retry asks the
    sentinels again, as redis-py's SentinelManagedConnection does. On a plain
    connection the same reply stays an error reply in place."""
    with Client(sentinel.url) as c:
        assert c._conn._checkout_wire().demotable  # a Sentinel master connection
    replica = next(s for s in sentinel.servers if s.port != sentinel.master_port())
    write = hiredis.pack_command(("SET", "k", "v"))
    script = hiredis.pack_command(("EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "k"))
    plain = wire.WireConn(redis.Connection(port=replica.port))
    assert not plain.demotable
    assert isinstance(plain.roundtrip(write), ReadOnlyError)
    plain.close()
    w = wire.WireConn(redis.Connection(port=replica.port))
    w.demotable = True  # as follows_master() finds for a Sentinel master connection
    with pytest.raises(RedisConnectionError, match="demoted"):
        w.roundtrip(write)
    assert w.sock is None
    with pytest.raises(RedisConnectionError, match="demoted"):
        w.pipeline([script], 1)  # dials again, and leaves again
    assert w.sock is None

    async def run() -> None:
        aw = wire.AsyncWire(aioredis.ConnectionPool(port=replica.port), 5.0)
        aw._demotable = True
        with pytest.raises(RedisConnectionError, match="demoted"):
            await aw.request(script, 1)
        assert aw._proto is not None and aw._proto.lost is not None
        aw.close()

    asyncio.run(run())
