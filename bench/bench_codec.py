"""Micro-benchmark: fastq._core's TaskMessage codec against the protobuf runtime (upb).

Run: ``python3 bench/bench_codec.py``. Prints ops/s (median of 5 runs) for encode,
decode and encode+decode of a typical task and of one with a 10 KB payload.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import asynq_pb as pb

from fastq._core import TaskMessage

RUNS = 5


def _loops(fn: Callable[[], object], seconds: float) -> int:
    n = 1
    while True:  # calibrate the loop count
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed > 0.02:
            return max(1, int(n * seconds / elapsed))
        n *= 4


SLICES = 10  # each run alternates short slices of both sides: machine load hits them alike


def compare(fast: Callable[[], object], slow: Callable[[], object]) -> tuple[float, float]:
    """Median ops/s of each side over RUNS runs of interleaved slices."""
    nf, ns = _loops(fast, 0.03), _loops(slow, 0.03)
    rf, rs = [], []
    for _ in range(RUNS):
        tf = ts = 0.0
        for _ in range(SLICES):
            t0 = time.perf_counter()
            for _ in range(nf):
                fast()
            t1 = time.perf_counter()
            for _ in range(ns):
                slow()
            t2 = time.perf_counter()
            tf += t1 - t0
            ts += t2 - t1
        rf.append(nf * SLICES / tf)
        rs.append(ns * SLICES / ts)
    return statistics.median(rf), statistics.median(rs)


def fields(payload: bytes) -> dict[str, object]:
    return {
        "type": "email:send",
        "payload": payload,
        "id": str(uuid.uuid4()),
        "queue": "default",
        "retry": 25,
        "timeout": 1800,
    }


def typical_payload() -> bytes:
    body = {
        "to": "someone@example.com",
        "from": "noreply@example.com",
        "subject": "Your order #12345 has shipped",
        "template": "order_shipped",
        "vars": {"name": "Ada Lovelace", "order": 12345, "carrier": "UPS"},
        "tracking": "1Z999AA10123456784",
    }
    return json.dumps(body).encode()


def _read(m: object) -> tuple[object, ...]:
    return (m.type, m.payload, m.id, m.queue, m.retry, m.retried, m.timeout, m.deadline)  # type: ignore[attr-defined]


def bench_case(label: str, payload: bytes) -> None:
    f = fields(payload)
    ours = TaskMessage(**f)  # type: ignore[arg-type]
    ref = pb.TaskMessage(**f)
    data = ours.encode()
    assert data == ref.SerializeToString(deterministic=True)
    print(f"\n{label}: encoded size {len(data)} bytes (payload {len(payload)} bytes)")
    rows = [
        ("encode", ours.encode, ref.SerializeToString),
        ("decode", lambda: TaskMessage.decode(data), lambda: pb.TaskMessage.FromString(data)),
        (
            "decode+read",  # what a worker does: decode, then read the fields it needs
            lambda: _read(TaskMessage.decode(data)),
            lambda: _read(pb.TaskMessage.FromString(data)),
        ),
        (
            "encode+decode",
            lambda: TaskMessage.decode(ours.encode()),
            lambda: pb.TaskMessage.FromString(ref.SerializeToString()),
        ),
        (
            "build+encode",  # what an enqueue does: make the message, then serialize it
            lambda: TaskMessage(**f).encode(),  # type: ignore[arg-type]
            lambda: pb.TaskMessage(**f).SerializeToString(),
        ),
    ]
    print(f"  {'operation':<14} {'fastq._core':>14} {'protobuf (upb)':>16} {'ratio':>7}")
    for name, fast, slow in rows:
        a, b = compare(fast, slow)
        print(f"  {name:<14} {a:>12,.0f}/s {b:>14,.0f}/s {a / b:>6.2f}x")


def main() -> None:
    from google.protobuf.internal import api_implementation

    print(f"protobuf backend: {api_implementation.Type()}, median of {RUNS} runs")
    bench_case("typical task (~200 B JSON payload)", typical_payload())
    bench_case("10 KB payload", b"x" * 10 * 1024)


if __name__ == "__main__":
    main()
