"""Inspector against a real Redis: queues, listings, task info and corrupt data.

Most data is written exactly as Go Asynq lays it out (``asynq_writer``), with the
official protobuf encoder, so these tests prove fastq reads Go-written queues.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from asynq_writer import put_task

from fastq import Client, Task
from fastq.errors import (
    InvalidOptionError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from fastq.inspect.inspector import AsyncInspector, CorruptTask, Inspector
from fastq.rdb import inspect as rdb
from fastq.task import TaskInfo, TaskState


@pytest.fixture
def insp(redis_url: str) -> Iterator[Inspector]:
    with Inspector(redis_url) as i:
        yield i


def test_queues_and_queue_info_counts_every_state(insp: Inspector, r: redis.Redis) -> None:
    for _ in range(3):
        put_task(r, "default", "pending")
    put_task(r, "default", "active")
    put_task(r, "default", "scheduled", score=time.time() + 60)
    put_task(r, "default", "retry", error_msg="boom", retried=1)
    put_task(r, "default", "archived", error_msg="boom")
    put_task(r, "default", "completed", retention=3600)
    put_task(r, "default", "aggregating", group="g1")
    put_task(r, "default", "aggregating", group="g2")
    put_task(r, "critical", "pending")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    r.set(f"asynq:{{default}}:processed:{today}", 7)
    r.set(f"asynq:{{default}}:failed:{today}", 2)
    r.set("asynq:{default}:processed", 100)
    r.set("asynq:{default}:failed", 10)
    # the oldest pending task (the tail) has waited ~5 s
    oldest = r.lindex("asynq:{default}:pending", -1).decode()
    r.hset(f"asynq:{{default}}:t:{oldest}", "pending_since", time.time_ns() - 5_000_000_000)

    assert insp.queues() == ["critical", "default"]
    qi = insp.queue_info("default")
    assert (qi.pending, qi.active, qi.scheduled, qi.retry, qi.archived, qi.completed) == (
        3,
        1,
        1,
        1,
        1,
        1,
    )
    assert qi.aggregating == 2 and qi.groups == 2
    assert qi.size == 10
    assert (qi.processed, qi.failed, qi.processed_total, qi.failed_total) == (7, 2, 100, 10)
    assert 4.5 < qi.latency < 30
    assert qi.memory_usage > 0
    assert not qi.paused and qi.problems == []


def test_queue_info_of_missing_queue(insp: Inspector) -> None:
    with pytest.raises(QueueNotFoundError):
        insp.queue_info("nope")


def test_pause_unpause_and_history(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "pending")
    assert insp.pause("q") is True
    assert insp.pause("q") is False
    assert int(r.get("asynq:{q}:paused")) == pytest.approx(time.time(), abs=5)
    qi = insp.queue_info("q")
    assert qi.paused and qi.paused_since is not None
    assert insp.unpause("q") is True
    assert insp.unpause("q") is False
    assert insp.pause("nope") is True  # a queue with no task yet (Asynq's PauseQueue)
    assert r.exists("asynq:{nope}:paused")
    assert insp.unpause("nope") is True

    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    r.set(f"asynq:{{q}}:processed:{yesterday}", 5)
    r.set(f"asynq:{{q}}:failed:{yesterday}", 1)
    days = insp.history("q", days=3)
    assert [d.date for d in days][1] == yesterday
    assert (days[1].processed, days[1].failed) == (5, 1)
    assert (days[0].processed, days[2].processed) == (0, 0)
    with pytest.raises(InvalidOptionError):
        insp.history("q", days=0)


def test_pending_listed_next_to_run_first_with_paging(insp: Inspector, r: redis.Redis) -> None:
    ids = [put_task(r, "q", "pending", task_id=f"t{i}") for i in range(7)]  # LPUSH order
    page1 = insp.list_tasks("q", "pending", page=1, size=3)
    page3 = insp.list_tasks("q", "pending", page=3, size=3)
    assert [t.id for t in page1] == ids[:3]  # t0 was pushed first, so it runs first
    assert [t.id for t in page3] == ids[6:]
    assert insp.list_tasks("q", "pending", page=4, size=3) == []
    assert all(isinstance(t, TaskInfo) and t.state is TaskState.PENDING for t in page1)


def test_zset_states_listed_by_score(insp: Inspector, r: redis.Redis) -> None:
    now = time.time()
    put_task(r, "q", "scheduled", task_id="late", score=now + 300)
    put_task(r, "q", "scheduled", task_id="soon", score=now + 10)
    tasks = insp.list_tasks("q", TaskState.SCHEDULED)
    assert [t.id for t in tasks] == ["soon", "late"]
    assert tasks[0].next_process_at is not None
    assert tasks[0].next_process_at.timestamp() == pytest.approx(now + 10, abs=1)


def test_active_task_with_expired_lease_is_orphaned(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "active", task_id="alive", lease=time.time() + 30)
    put_task(r, "q", "active", task_id="dead", lease=time.time() - 5)
    by_id = {t.id: t for t in insp.list_tasks("q", "active")}
    assert not by_id["alive"].is_orphaned
    assert by_id["dead"].is_orphaned
    assert insp.task_info("q", "dead").is_orphaned


def test_filters_find_few_failures_among_many(insp: Inspector, r: redis.Redis) -> None:
    pipe = r.pipeline()
    for i in range(300):
        err = "Connection REFUSED by smtp" if i in (17, 150, 299) else "timeout"
        typ = "email:send" if i % 2 else "sms:send"
        put_task(
            pipe,
            "q",
            "archived",
            task_id=f"a{i:03d}",
            type=typ,
            error_msg=err,  # type: ignore[arg-type]
            score=1_000_000 + i,
        )
    pipe.execute()
    hits = insp.list_tasks("q", "archived", error_contains="connection refused")
    assert [t.id for t in hits] == ["a017", "a150", "a299"]
    emails = insp.list_tasks("q", "archived", task_type="email:send", size=5, page=2)
    assert [t.id for t in emails] == ["a011", "a013", "a015", "a017", "a019"]
    both = insp.list_tasks("q", "archived", task_type="sms:send", error_contains="refused")
    assert [t.id for t in both] == ["a150"]
    assert insp.count_tasks("q", "archived", error_contains="REFUSED") == 3
    assert insp.count_tasks("q", "archived", task_type="email:send") == 150
    assert insp.count_tasks("q", "archived") == 300


def test_filtered_scan_walks_chunks(
    insp: Inspector, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdb, "SCAN_CHUNK", 7)
    for i in range(40):
        put_task(r, "q", "pending", task_id=f"p{i:02d}", error_msg="bad" if i % 10 == 3 else "")
    hits = insp.list_tasks("q", "pending", error_contains="bad")
    assert [t.id for t in hits] == ["p03", "p13", "p23", "p33"]
    assert [
        t.id for t in insp.list_tasks("q", "pending", error_contains="bad", size=1, page=3)
    ] == ["p23"]
    assert insp.count_tasks("q", "pending", error_contains="bad") == 4


def test_task_info_fields(insp: Inspector, r: redis.Redis) -> None:
    put_task(
        r,
        "q",
        "retry",
        task_id="r1",
        error_msg="kaput",
        retried=3,
        retry=5,
        score=time.time() + 100,
    )
    put_task(r, "q", "completed", task_id="c1", result=b'{"ok":true}', retention=60)
    t = insp.task_info("q", "r1")
    assert isinstance(t, TaskInfo)
    assert (t.state, t.last_err, t.retried, t.max_retry) == (TaskState.RETRY, "kaput", 3, 5)
    assert t.last_failed_at is not None and t.next_process_at is not None
    c = insp.task_info("q", "c1")
    assert c.result == b'{"ok":true}' and c.state is TaskState.COMPLETED
    with pytest.raises(TaskNotFoundError):
        insp.task_info("q", "nope")
    with pytest.raises(QueueNotFoundError):
        insp.task_info("nope", "r1")


def test_corrupt_entries_are_reported_not_fatal(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "pending", task_id="good")
    put_task(r, "q", "pending", task_id="garbled", msg=b"\xff\xff\xff not protobuf")
    r.lpush("asynq:{q}:pending", "ghost")  # id with no hash
    r.lpush("asynq:{q}:pending", "stringy")
    r.set("asynq:{q}:t:stringy", "not a hash")
    listed = insp.list_tasks("q", "pending")
    kinds = {t.id: (type(t).__name__, getattr(t, "reason", "")) for t in listed}
    assert kinds["good"][0] == "TaskInfo"
    assert kinds["garbled"][0] == "CorruptTask" and "undecodable" in kinds["garbled"][1]
    assert kinds["ghost"] == ("CorruptTask", "task hash is missing")
    assert kinds["stringy"] == ("CorruptTask", "task key is not a hash")

    put_task(r, "q", "pending", task_id="blank", msg=b"")  # decodes, but says nothing
    blank = insp.task_info("q", "blank")
    assert isinstance(blank, CorruptTask) and blank.queue == "q"
    assert "no task type" in blank.reason

    put_task(r, "q", "scheduled", task_id="weird")
    r.hset("asynq:{q}:t:weird", "state", "levitating")
    t = insp.task_info("q", "weird")
    assert isinstance(t, CorruptTask) and "levitating" in t.reason
    listed_weird = insp.list_tasks("q", "scheduled")[0]
    assert isinstance(listed_weird, CorruptTask) and "levitating" in listed_weird.reason
    assert isinstance(insp.task_info("q", "garbled"), CorruptTask)

    r.delete("asynq:{q}:retry")
    r.set("asynq:{q}:retry", "oops")  # an index of the wrong type
    wrong = insp.list_tasks("q", "retry")
    assert len(wrong) == 1 and isinstance(wrong[0], CorruptTask)
    assert "wrong type" in wrong[0].reason
    wrong = insp.list_tasks("q", "retry", error_contains="x")
    assert isinstance(wrong[0], CorruptTask) and "string" in wrong[0].reason
    qi = insp.queue_info("q")
    assert qi.retry == 0 and any("retry" in p for p in qi.problems)

    # corrupt entries can be deleted to clean up
    insp.delete_task("q", "ghost")
    insp.delete_task("q", "weird")
    assert r.lpos("asynq:{q}:pending", "ghost") is None
    assert not r.exists("asynq:{q}:t:weird")
    assert r.zscore("asynq:{q}:scheduled", "weird") is None


def test_aggregating_listing_spans_groups(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "aggregating", task_id="b1", group="b")
    put_task(r, "q", "aggregating", task_id="a1", group="a")
    put_task(r, "q", "aggregating", task_id="a2", group="a")
    assert [t.id for t in insp.list_tasks("q", "aggregating")] == ["a1", "a2", "b1"]
    assert [t.id for t in insp.list_tasks("q", "aggregating", size=2, page=2)] == ["b1"]
    assert [t.id for t in insp.list_tasks("q", "aggregating", group="b")] == ["b1"]
    assert insp.list_tasks("q", "aggregating")[0].group == "a"


def test_tasks_enqueued_by_fastq_client(insp: Inspector, redis_url: str) -> None:
    with Client(redis_url) as c:
        info = c.enqueue(Task("report", b"\x00\x01binary", queue="reports", max_retry=3))
        later = c.enqueue(Task("report", b"x", queue="reports", process_in=600))
    t = insp.task_info("reports", info.id)
    assert (t.type, t.payload, t.max_retry, t.state) == (
        "report",
        b"\x00\x01binary",
        3,
        TaskState.PENDING,
    )
    assert insp.queue_info("reports").scheduled == 1
    assert insp.list_tasks("reports", "scheduled")[0].id == later.id


def test_invalid_arguments(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "pending")
    with pytest.raises(InvalidOptionError):
        insp.list_tasks("q", "flying")
    with pytest.raises(InvalidOptionError):
        insp.list_tasks("q", "pending", page=0)
    with pytest.raises(QueueNotFoundError):
        insp.list_tasks("nope", "pending")


async def test_async_inspector(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "q", "pending", task_id="x")
    async with AsyncInspector(redis_url) as ai:
        assert await ai.queues() == ["q"]
        assert (await ai.queue_info("q")).pending == 1
        assert [t.id for t in await ai.list_tasks("q", "pending")] == ["x"]
        await ai.archive_task("q", "x")
        assert (await ai.task_info("q", "x")).state is TaskState.ARCHIVED


def test_unreachable_redis_raises_typed_error_without_password() -> None:
    from fastq.errors import BrokerConnectionError

    with (
        Inspector("redis://:hunter2@127.0.0.1:1/0") as i,
        pytest.raises(BrokerConnectionError) as e,
    ):
        i.queues()
    assert "hunter2" not in str(e.value)


def test_scripts_reload_after_flush(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "q", "pending", task_id="x")
    assert insp.queue_info("q").pending == 1
    r.script_flush()  # as after a Redis restart: the next batch hits NOSCRIPT
    assert insp.queue_info("q").pending == 1
    r.script_flush()
    assert [t.id for t in insp.list_tasks("q", "pending")] == ["x"]


def test_all_queue_info_and_groups(insp: Inspector, r: redis.Redis) -> None:
    put_task(r, "b", "pending")
    put_task(r, "a", "aggregating", group="g2")
    put_task(r, "a", "aggregating", group="g1")
    put_task(r, "a", "aggregating", group="g1")
    infos = insp.all_queue_info()
    assert [(i.queue, i.size) for i in infos] == [("a", 3), ("b", 1)]
    assert insp.groups("a") == [("g1", 2), ("g2", 1)]
    assert insp.groups("b") == []
    with pytest.raises(QueueNotFoundError):
        insp.groups("nope")


@pytest.mark.parametrize("chunk", [1, 7, 1000])
@pytest.mark.parametrize("state", ["pending", "retry"])
def test_paging_with_filters_matches_brute_force(
    insp: Inspector, r: redis.Redis, monkeypatch: pytest.MonkeyPatch, chunk: int, state: str
) -> None:
    import random

    monkeypatch.setattr(rdb, "SCAN_CHUNK", chunk)
    rng = random.Random(chunk)
    expected_order = []
    for i in range(60):
        typ = rng.choice(["a", "b", "ab"])
        err = rng.choice(["", "Disk FULL", "timeout", "full moon"])
        tid = put_task(r, "q", state, task_id=f"t{i:03d}", type=typ, error_msg=err, score=float(i))
        expected_order.append((tid, typ, err))
    for task_type, needle in [(None, "full"), ("a", None), ("ab", "FULL"), (None, None)]:
        want = [
            t
            for t, typ, err in expected_order
            if (task_type is None or typ == task_type)
            and (needle is None or needle.lower() in err.lower())
        ]
        for size in (1, 4, 33):
            got: list[str] = []
            page = 1
            while True:
                batch = insp.list_tasks(
                    "q", state, page=page, size=size, task_type=task_type, error_contains=needle
                )
                got += [t.id for t in batch]
                if len(batch) < size:
                    break
                page += 1
            assert got == want, (task_type, needle, size)
        assert insp.count_tasks("q", state, task_type=task_type, error_contains=needle) == len(want)
