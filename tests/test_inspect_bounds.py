"""The filtered listing reads only a bounded number of message bytes per script call
and matches on the decoded type and error fields only (issue 11, item 9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from asynq_writer import put_task

from fastq import keys
from fastq.config import RedisConfig
from fastq.inspect.inspector import Inspector
from fastq.rdb import inspect as rdb
from fastq.rdb.conn import Call, SyncConn

BIG = b"x" * 100_000


@pytest.fixture
def insp(redis_url: str) -> Iterator[Inspector]:
    with Inspector(redis_url) as i:
        yield i


def _window(redis_url: str, budget: int, error: str = "") -> list[object]:
    call = Call(
        "inspect_list_tasks",
        [keys.pending_key("q"), keys.lease_key("q")],
        ["list", 0, 1000, keys.task_key_prefix("q"), "", error, 0, "0", "1", budget],
    )
    conn = SyncConn(RedisConfig.from_url(redis_url))
    try:
        return list(conn.call(call))
    finally:
        conn.close()


def test_one_call_stops_at_its_byte_budget(redis_url: str, r: redis.Redis) -> None:
    for i in range(10):
        put_task(r, "q", "pending", task_id=f"p{i}", payload=BIG, error_msg="boom")
    # 100 KB messages, a 250 KB budget: the third message crosses it, the call ends there
    assert _window(redis_url, 250_000, "boom") == [3, 3, 0]
    assert _window(redis_url, 10**9, "boom") == [10, 10, 1]


def test_filters_match_the_decoded_fields_not_the_payload(
    insp: Inspector, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdb, "SCAN_BYTES", 250_000)
    for i in range(8):
        error = "Disk FULL" if i % 3 == 0 else "other"
        put_task(r, "q", "retry", task_id=f"r{i}", payload=BIG, error_msg=error)
    put_task(r, "q", "retry", task_id="decoy", payload=b"disk full" + BIG, error_msg="fine")
    put_task(r, "q", "retry", task_id="typed", type="disk full", payload=BIG, error_msg="ok")
    hits = insp.list_tasks("q", "retry", error_contains="disk full", size=100)
    assert sorted(t.id for t in hits) == ["r0", "r3", "r6"]
    assert insp.count_tasks("q", "retry", error_contains="disk full") == 3
    assert [t.id for t in insp.list_tasks("q", "retry", task_type="disk full")] == ["typed"]
    assert len(insp.list_tasks("q", "retry", size=100)) == 10  # unfiltered, several calls
