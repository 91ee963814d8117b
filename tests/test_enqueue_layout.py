"""What enqueue leaves in Redis, read with the official protobuf runtime as Asynq would."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
import redis
from asynq_pb import TaskMessage as PbTaskMessage

from fastq import keys
from fastq.client import Client
from fastq.task import Task


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    with Client(redis_url) as c:
        yield c


def stored(r: redis.Redis, queue: str, task_id: str) -> tuple[dict[bytes, bytes], object]:
    h: dict[bytes, bytes] = r.hgetall(keys.task_key(queue, task_id))  # type: ignore[assignment]
    return h, PbTaskMessage.FromString(h[b"msg"])


def test_pending_message_fields(client: Client, r: redis.Redis) -> None:
    t = Task("image:resize", b'{"w":100}', headers={"trace": "abc"})
    info = client.enqueue(t, queue="media", max_retry=7, retention=3600)
    h, pb = stored(r, "media", info.id)
    assert pb.type == "image:resize"
    assert pb.payload == b'{"w":100}'
    assert pb.id == info.id
    assert pb.queue == "media"
    assert pb.retry == 7
    assert pb.retried == 0 and pb.error_msg == ""
    assert pb.timeout == 1800 and pb.deadline == 0
    assert pb.unique_key == "" and pb.group_key == ""
    assert pb.last_failed_at == 0 and pb.completed_at == 0
    assert pb.retention == 3600
    assert dict(pb.headers) == {"trace": "abc"}
    # What the runtime would write for the same fields is byte for byte what is stored.
    assert pb.SerializeToString(deterministic=True) == h[b"msg"]
    assert h[b"state"] == b"pending"
    assert abs(int(h[b"pending_since"]) - time.time_ns()) < 5 * 10**9


def test_deadline_and_timeout_fields(client: Client, r: redis.Redis) -> None:
    dl = int(time.time()) + 900
    info = client.enqueue(Task("x"), deadline=dl)
    _, pb = stored(r, "default", info.id)
    assert (pb.timeout, pb.deadline) == (0, dl)
    info = client.enqueue(Task("x"), deadline=dl, timeout=60)
    _, pb = stored(r, "default", info.id)
    assert (pb.timeout, pb.deadline) == (60, dl)


def test_scheduled_layout(client: Client, r: redis.Redis) -> None:
    at = int(time.time()) + 7200
    info = client.enqueue(Task("x", b"p", unique=60), process_at=at)
    h, pb = stored(r, "default", info.id)
    assert h[b"state"] == b"scheduled" and b"pending_since" not in h
    assert pb.unique_key == keys.unique_key("default", "x", b"p")
    assert h[b"unique_key"].decode() == pb.unique_key
    # Scores are unix seconds, not milliseconds.
    assert r.zrange(keys.scheduled_key("default"), 0, -1, withscores=True) == [
        (info.id.encode(), float(at))
    ]


def test_group_layout(client: Client, r: redis.Redis) -> None:
    info = client.enqueue(Task("x", group="daily-digest"))
    h, pb = stored(r, "default", info.id)
    assert pb.group_key == "daily-digest"
    assert h[b"state"] == b"aggregating" and h[b"group"] == b"daily-digest"
    ((member, score),) = r.zrange(keys.group_key("default", "daily-digest"), 0, -1, withscores=True)
    assert member == info.id.encode()
    assert abs(score - time.time()) < 5


def test_unique_lock_layout(client: Client, r: redis.Redis) -> None:
    info = client.enqueue(Task("report", b"\x00\xff"), unique=120)
    ukey = "asynq:{default}:unique:report:" + hashlib.md5(b"\x00\xff").hexdigest()
    assert r.get(ukey) == info.id.encode()
    assert 0 < r.ttl(ukey) <= 120
    _, pb = stored(r, "default", info.id)
    assert pb.unique_key == ukey


def test_enqueue_many_writes_the_same_layout(client: Client, r: redis.Redis) -> None:
    infos = client.enqueue_many([Task("x", b"%d" % i, max_retry=1) for i in range(3)])
    for info in infos:
        h, pb = stored(r, "default", info.id)
        assert set(h) == {b"msg", b"state", b"pending_since"}
        assert (pb.id, pb.queue, pb.retry, pb.timeout) == (info.id, "default", 1, 1800)
        assert pb.SerializeToString(deterministic=True) == h[b"msg"]


def test_only_asynq_keys_plus_the_wake_list(client: Client, r: redis.Redis) -> None:
    client.enqueue(Task("x"))
    client.enqueue(Task("x"), process_in=60)
    client.enqueue(Task("x", group="g"))
    names = {k.decode() for k in r.keys("*")}
    extension = {n for n in names if ":x:" in n}
    assert extension == {keys.wake_key("default")}
    assert names - extension == {
        keys.ALL_QUEUES,
        keys.pending_key("default"),
        keys.scheduled_key("default"),
        keys.group_key("default", "g"),
        keys.groups_key("default"),
    } | {n for n in names if n.startswith("asynq:{default}:t:")}
