"""Write tasks into Redis as Go Asynq (v0.26) lays them out, for inspector tests.

This is a Python model of Go's writes (its key layout and hash fields, following
Asynq's scripts), not output of the Go library. Messages are encoded with the
official protobuf runtime (``asynq_pb``), not fastq's codec, so a test that reads
them back shows that fastq reads that layout and Go's message encoding.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import redis
from asynq_pb import TaskMessage


def encode(**fields: Any) -> bytes:
    headers = fields.pop("headers", None) or {}
    msg = TaskMessage(**fields)
    for k, v in headers.items():
        msg.headers[k] = v
    return bytes(msg.SerializeToString())


def put_task(
    r: redis.Redis,
    queue: str,
    state: str,
    *,
    task_id: str | None = None,
    type: str = "email:send",
    payload: bytes | None = b'{"to":"a@example.com"}',
    retry: int = 25,
    retried: int = 0,
    error_msg: str = "",
    score: float | None = None,
    group: str = "",
    unique_ttl: int | None = None,
    lease: float | None = None,
    result: bytes | None = None,
    retention: int = 0,
    msg: bytes | None = None,
) -> str:
    """Store one task the way Asynq's scripts leave it in ``state``; returns its id."""
    tid = task_id or str(uuid.uuid4())
    now = time.time()
    prefix = f"asynq:{{{queue}}}:"
    ukey = ""
    if unique_ttl:
        # Go's base.UniqueKey: no checksum for a nil payload only.
        checksum = "" if payload is None else hashlib.md5(payload).hexdigest()
        ukey = f"{prefix}unique:{type}:{checksum}"
        r.set(ukey, tid, ex=unique_ttl, nx=True)
    if msg is None:
        msg = encode(
            type=type,
            payload=payload or b"",
            id=tid,
            queue=queue,
            retry=retry,
            retried=retried,
            error_msg=error_msg,
            timeout=1800,
            unique_key=ukey,
            last_failed_at=int(now) if error_msg else 0,
            retention=retention,
            completed_at=int(now) if state == "completed" else 0,
            group_key=group,
        )
    fields: dict[str, Any] = {"msg": msg, "state": state}
    if ukey:
        fields["unique_key"] = ukey
    if group:
        fields["group"] = group
    if result is not None:
        fields["result"] = result
    if state == "pending":
        fields["pending_since"] = time.time_ns()
    r.sadd("asynq:queues", queue)
    r.hset(f"{prefix}t:{tid}", mapping=fields)
    if state == "pending":
        r.lpush(f"{prefix}pending", tid)
    elif state == "active":
        r.lpush(f"{prefix}active", tid)
        r.zadd(f"{prefix}lease", {tid: lease if lease is not None else now + 30})
    elif state == "aggregating":
        r.zadd(f"{prefix}g:{group}", {tid: now})
        r.sadd(f"{prefix}groups", group)
    else:
        default = now + (retention if state == "completed" else 0)
        r.zadd(f"{prefix}{state}", {tid: score if score is not None else default})
    return tid
