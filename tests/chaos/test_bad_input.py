"""Bad input: garbage in Redis, odd queue names, oversized payloads, invalid options.

Workers archive or skip what they cannot read, with a logged reason, and keep
serving everything else; the Inspector reports unreadable entries as CorruptTask;
the producer refuses bad input before it touches Redis.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from fastq import keys
from fastq.client import AsyncClient, Client
from fastq.devredis import free_port
from fastq.errors import (
    BrokerConnectionError,
    InvalidOptionError,
    PayloadTooLargeError,
)
from fastq.inspect.inspector import CorruptTask, Inspector
from fastq.supervisor.exitcodes import ExitCode
from fastq.task import Task
from fastq.worker.settings import WorkerSettings

from .helpers import Workers, done_counts, enqueue_recs, members, missing, wait_all_up, wait_for

ODD_QUEUES = ["ünï cødé ✓", "a:b:c", "with space", "emoji 🙂:x"]


def test_garbage_in_redis_is_archived_or_skipped_and_others_flow(
    workers: Workers, redis_url: str, r: redis.Redis
) -> None:
    q = "default"
    # 1. a task hash whose msg is random bytes (keeps its place in pending)
    [bad_msg] = enqueue_recs(redis_url, 1)
    r.hset(keys.task_key(q, bad_msg), "msg", os.urandom(64) + b"\xff\xff\xff")
    # 2. an empty msg
    [empty_msg] = enqueue_recs(redis_url, 1)
    r.hset(keys.task_key(q, empty_msg), "msg", b"")
    # 3. an id in pending without a task hash
    r.lpush(keys.pending_key(q), "ghost-without-hash")
    # 4. an id whose task key is a string, not a hash
    r.set(keys.task_key(q, "not-a-hash"), "x")
    r.lpush(keys.pending_key(q), "not-a-hash")
    # 5. a whole queue whose keys have the wrong type
    r.set(keys.pending_key("broken"), "pending should be a list")
    r.sadd(keys.ALL_QUEUES, "broken")
    good = enqueue_recs(redis_url, 100, sleep=0.005)
    odd = {name: enqueue_recs(redis_url, 20, queue=name) for name in ODD_QUEUES}
    with Inspector(redis_url) as insp:  # before any worker: everything is still there
        pending = insp.list_tasks(q, "pending", size=1000)
        bad = {t.id: t.reason for t in pending if isinstance(t, CorruptTask)}
        assert set(bad) == {bad_msg, empty_msg, "ghost-without-hash", "not-a-hash"}, bad
    spec = ",".join([q, "broken", *ODD_QUEUES])
    started = time.monotonic()
    p = workers.start(redis_url, "--processes", "2", "--concurrency", "4", "--queues", spec)
    wait_all_up(p, 2)
    before = {c.pid for c in p.children()}
    everything = good + [i for ids in odd.values() for i in ids]
    wait_for(
        lambda: not missing(everything, done_counts(r)),
        timeout=30,
        what="every good task, odd queue names included",
    )
    wait_for(lambda: r.zcard(keys.archived_key(q)) == 2, timeout=10, what="2 archived")
    time.sleep(2)  # idle workers keep polling every queue, the wrong-type one included
    assert {c.pid for c in p.children()} == before  # no process died of a bad task
    archived = set(members(r, keys.archived_key(q)))
    assert archived == {bad_msg, empty_msg}
    assert r.llen(keys.active_key(q)) == 0 and r.zcard(keys.lease_key(q)) == 0
    assert r.llen(keys.pending_key(q)) == 0
    assert r.get(keys.pending_key("broken")) == b"pending should be a list"  # left alone
    log = p.log()
    assert "archiving undecodable task" in log
    assert "ghost-without-hash" in log and "not-a-hash" in log  # skipped with a reason
    assert "Traceback" not in log
    with Inspector(redis_url) as insp:
        listed = insp.list_tasks(q, "archived")
        corrupt = {t.id: t for t in listed if isinstance(t, CorruptTask)}
        assert bad_msg in corrupt and corrupt[bad_msg].reason
        # An empty msg is a valid proto3 message (all defaults): the worker finds no
        # handler for type "" and archives it with that error. Archived, it is listed
        # as corrupt (a message without a type runs nowhere) and keeps that error.
        [empty] = [t for t in listed if t.id == empty_msg]
        assert isinstance(empty, CorruptTask), empty
        assert empty.reason == "msg has no task type or id"
        assert empty.raw is not None and b"no handler registered for task type ''" in empty.raw
        for name in ODD_QUEUES:
            assert insp.list_tasks(name, "pending") == []
        # A queue key of the wrong type is one unreadable entry, reported, not raised.
        [broken] = insp.list_tasks("broken", "pending")
        assert isinstance(broken, CorruptTask)
        assert (broken.queue, broken.id, broken.state, broken.raw) == (
            "broken",
            "",
            "pending",
            None,
        )
        assert broken.reason == f"{keys.pending_key('broken')} has the wrong type"
    # Every fetch meets the wrong-type queue; each worker process reports it at most
    # once a minute (idle workers poll it many times a second).
    p.signal(signal.SIGTERM)
    assert p.wait(20) == ExitCode.OK
    elapsed = time.monotonic() - started
    log = p.log()
    lines = log.splitlines()
    skipped = [x for x in lines if "skipped a pending entry" in x and "queue=broken" in x]
    assert skipped and all("WRONGTYPE" in x for x in skipped), skipped
    per_process = Counter(re.findall(r"pid=(\d+)", x)[0] for x in skipped)
    assert len(per_process) <= 2 and max(per_process.values()) <= 1 + int(elapsed // 60), skipped
    # A bad entry leaves pending when skipped: one line each, never repeated.
    for ghost in ("ghost-without-hash", "not-a-hash"):
        assert len([x for x in lines if f"task_id={ghost}" in x]) == 1, ghost


def test_oversized_payload_is_refused_before_redis(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, max_payload_bytes=1024) as client:
        client.enqueue(Task("rec", b"x" * 900))
        with pytest.raises(PayloadTooLargeError) as info:
            client.enqueue(Task("rec", b"x" * 2048))
        assert "1024" in str(info.value)
        with pytest.raises(PayloadTooLargeError):  # all or nothing
            client.enqueue_many([Task("rec", b"ok"), Task("rec", b"x" * 4096)])
    assert r.llen(keys.pending_key("default")) == 1


def _nothing_listening() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c.enqueue(Task("rec", b"{}"), max_retry=-1),
        lambda c: c.enqueue(Task("rec", b"{}"), timeout=-5),
        lambda c: c.enqueue(Task("rec", b"{}"), queue=""),
        lambda c: c.enqueue(Task("rec", b"{}"), queue="{moves the hash tag}"),
        lambda c: c.enqueue(Task("rec", b"{}"), no_such_option=1),
        lambda c: c.enqueue(Task("rec", b"{}"), process_in="soon"),
        lambda c: c.enqueue(Task("rec", b"{}"), unique=-1),
        lambda c: c.enqueue(Task("rec", b"{}"), retention=-1),
        lambda c: c.enqueue(Task("rec", b"{}"), headers={"k": 1}),
        lambda c: c.enqueue(Task("rec", b"x" * 100)),  # over the 64-byte limit below
        lambda c: c.enqueue_many([Task("rec", b"{}")] * 2, task_id="same"),
    ],
)
def test_invalid_options_are_refused_before_touching_redis(make: object) -> None:
    # Nothing listens on this port: reaching Redis would raise BrokerConnectionError.
    with Client(_nothing_listening(), max_payload_bytes=64) as client:
        with pytest.raises(InvalidOptionError):
            make(client)  # type: ignore[operator]
        with pytest.raises(BrokerConnectionError):  # proves the URL really is dead
            client.enqueue(Task("rec", b"{}"))


async def test_async_client_refuses_invalid_options_before_redis() -> None:
    async with AsyncClient(_nothing_listening(), max_payload_bytes=64) as client:
        with pytest.raises(InvalidOptionError):
            await client.enqueue(Task("rec", b"{}"), max_retry=-1)
        with pytest.raises(PayloadTooLargeError):
            await client.enqueue(Task("rec", b"x" * 100))
        with pytest.raises(BrokerConnectionError):
            await client.enqueue(Task("rec", b"{}"))


def test_invalid_client_construction_is_typed() -> None:
    with pytest.raises(InvalidOptionError):
        Client(_nothing_listening(), max_payload_bytes=0)
    with pytest.raises(InvalidOptionError):
        Client("http://127.0.0.1:1/0")


def test_lease_shorter_than_two_seconds_is_refused(tmp_path: Path) -> None:
    # Lease scores are whole seconds: a 1 s lease can end a few ms after it is taken,
    # and healthy workers then lose the tasks they are running (seen in a chaos run).
    with pytest.raises(InvalidOptionError):
        WorkerSettings(lease_duration=1.5)
    env = dict(
        os.environ, FASTQ_REDIS_URL=_nothing_listening(), PYTHONPATH=os.pathsep.join(sys.path)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastq.supervisor",
            "chaos.apps.chaos_app:app",
            "--lease-duration",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode == ExitCode.INVALID_OPTIONS, proc.stderr[-2000:]
    assert "lease_duration" in proc.stderr + proc.stdout
