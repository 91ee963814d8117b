"""The producer's prebuilt requests (fastq/_enqreq.pxi) are byte for byte what
hiredis packs from the script calls they stand for."""

from __future__ import annotations

import os
import time
import uuid

import hiredis
import pytest

from fastq._core import enqueue_batch_request, uuid4_strings
from fastq.rdb.conn import _evalsha_args
from fastq.rdb.enqueue import Requests, enqueue_call, plan_many, wire_plan
from fastq.task import Task, prepare


def packed(call: object) -> bytes:
    return hiredis.pack_command(_evalsha_args(call))  # type: ignore[arg-type, no-any-return]


@pytest.mark.parametrize("queue", ["default", "crème", "q{x}", "a" * 300])
@pytest.mark.parametrize("task_id", [None, "mine", "ünï-çødé", "x" * 500])
def test_enqueue_request_matches_the_script_call(queue: str, task_id: str | None) -> None:
    requests = Requests(7)
    for payload in (None, b"", b"\x00\xff" * 2000):
        p = prepare(
            Task("t", payload), {"queue": queue, "task_id": task_id}, time.time_ns(), 1 << 20
        )
        assert requests.enqueue(p) == packed(enqueue_call(p, 7))


def test_batch_request_matches_plan_many() -> None:
    now = time.time_ns()
    prepared = [
        prepare(Task("t", b"%d" % i), {"queue": "crème"}, now, 1 << 20, f"id-{i}-é")
        for i in range(1203)
    ]
    parts, plan = wire_plan(prepared, Requests(16), 16)
    expected = plan_many(prepared, (), 16)
    assert parts == [packed(c) for c in expected.calls]  # three batches: 500, 500, 203
    assert plan.covers == expected.covers


def test_mixed_tasks_are_packed_call_by_call() -> None:
    now = time.time_ns()
    prepared = [
        prepare(Task("t"), {}, now, 1 << 20),
        prepare(Task("t", b"u"), {"unique": 60}, now, 1 << 20),
        prepare(Task("t"), {"process_in": 60}, now, 1 << 20),
        prepare(Task("t"), {"queue": "other"}, now, 1 << 20),
    ]
    parts, plan = wire_plan(prepared, Requests(16), 16)
    expected = plan_many(prepared, (), 16)
    assert parts == [packed(c) for c in expected.calls]
    assert plan.covers == expected.covers


def test_batch_request_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        enqueue_batch_request(b"sha", b"p:", b"", ["a", "b"], [b"x"], 1, 16)
    with pytest.raises(TypeError):
        enqueue_batch_request(b"sha", b"p:", b"", [1], [b"x"], 1, 16)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        enqueue_batch_request(b"sha", b"p:", b"", ["a"], ["x"], 1, 16)  # type: ignore[list-item]


def test_uuid4_strings_are_version_4_uuids() -> None:
    ids = uuid4_strings(os.urandom(16 * 1000))
    assert len(set(ids)) == 1000
    for i in ids:
        u = uuid.UUID(i)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, i)
    assert uuid4_strings(b"") == []
    assert uuid4_strings(bytes(16)) == ["00000000-0000-4000-8000-000000000000"]
