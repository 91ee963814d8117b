"""Mutation fuzzer for the Cython decoders (used by test_fuzz.py, in a subprocess).

Seeds are valid messages of every type with every field set; each input is a seed
mutated a few times (bit flips, random bytes, inserts, deletes, truncation, splices,
over-long varints, bumped length prefixes). The contract: ``decode`` returns a
message or raises ``fastq.errors.DecodeError``, nothing else; a decoded message
re-encodes and decodes to the same bytes. Deterministic per seed, so a crash is
reproducible from ``--seed`` alone::

    python3 tests/chaos/fuzz_decoders.py --seed 7 --count 1000000
    python3 tests/chaos/fuzz_decoders.py --atheris -runs=1000000   # coverage-guided
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from fastq import _core
from fastq.errors import DecodeError

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "TaskMessage": _core.TaskMessage.decode,
    "ServerInfo": _core.ServerInfo.decode,
    "WorkerInfo": _core.WorkerInfo.decode,
    "SchedulerEntry": _core.SchedulerEntry.decode,
    "SchedulerEnqueueEvent": _core.SchedulerEnqueueEvent.decode,
}


def seeds() -> list[bytes]:
    """Valid encodings of every message type, fields set to edge values."""
    out = [
        _core.TaskMessage(
            type="email:send",
            payload=b'{"to": "a@b.c"}' * 3,
            id="0b6f-ff",
            queue="critical",
            retry=25,
            retried=3,
            error_msg="boom é😀",
            timeout=1800,
            deadline=2**40,
            unique_key="asynq:{critical}:unique:x",
            last_failed_at=1_700_000_000,
            retention=-1,
            completed_at=2**63 - 1,
            group_key="g",
            headers={"trace": "abc", "": "", "k😀": "v\x00"},
        ).encode(),
        _core.TaskMessage(type="t", retry=-(2**31), retried=2**31 - 1).encode(),
        _core.ServerInfo(
            host="h",
            pid=2**31 - 1,
            server_id="s",
            concurrency=8,
            queues={"critical": 6, "default": 2, "": -1},
            strict_priority=True,
            status="active",
            start_time=(1_700_000_000, 999_999_999),
            active_worker_count=3,
        ).encode(),
        _core.WorkerInfo(
            host="h",
            pid=1,
            server_id="s",
            task_id="t",
            task_type="x",
            task_payload=b"\xff" * 9,
            queue="q",
            start_time=(0, 0),
            deadline=(-1, -1),
        ).encode(),
        _core.SchedulerEntry(
            id="e",
            spec="@every 5s",
            task_type="x",
            task_payload=b"p",
            enqueue_options=['Queue("critical")', "MaxRetry(5)", ""],
            next_enqueue_time=(2**40, 1),
            prev_enqueue_time=None,
        ).encode(),
        _core.SchedulerEnqueueEvent(task_id="t", enqueue_time=(1, 2)).encode(),
    ]
    return out


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        pos = rng.randint(0, len(b))
        if op == 0 and b:  # flip a bit
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # replace a byte
            b[rng.randrange(len(b))] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:  # insert random bytes
            b[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and b:  # delete a range
            del b[pos : pos + rng.randint(1, 8)]
        elif op == 4:  # truncate
            del b[pos:]
        elif op == 5 and b:  # duplicate a range
            end = min(len(b), pos + rng.randint(1, 16))
            b[pos:pos] = b[pos:end]
        elif op == 6:  # splice in a piece of another seed
            other = rng.choice(pool)
            s = rng.randint(0, len(other))
            b[pos:pos] = other[s : s + rng.randint(1, 32)]
        elif op == 7:  # a tag with an extreme / over-long varint, or a group
            tag = rng.choice((0, 1 << 3, (1 << 29) - 1 << 3, 0xFFFFFFFF, 2**64 - 1))
            wire = rng.choice((0, 1, 2, 3, 4, 5, 6, 7))
            b[pos:pos] = _varint(tag | wire) + rng.choice(
                (b"", b"\xff" * 10, b"\x80" * 11, _varint(2**63), _varint(rng.randrange(2**64)))
            )
        else:  # bump a byte that may be a length prefix
            if b:
                i = rng.randrange(len(b))
                b[i] = (b[i] + rng.choice((-1, 1, 64, 127, 128))) & 0xFF
    return bytes(b)


def check(data: bytes) -> None:
    """The contract for one input; raises AssertionError or lets a foreign error out."""
    for name, decode in DECODERS.items():
        try:
            msg = decode(data)
        except DecodeError:
            continue
        again = msg.encode()
        assert decode(again).encode() == again, (name, data.hex())
    results = _core.decode_messages([data, None, b""])
    assert len(results) == 3
    assert results[0] is None or isinstance(results[0], (_core.TaskMessage, DecodeError))


def run(seed: int, count: int) -> dict[str, float]:
    rng = random.Random(seed)
    pool = seeds()
    slowest = 0.0
    decoded = 0
    t0 = time.perf_counter()
    for _ in range(count):
        data = mutate(rng, rng.choice(pool), pool)
        start = time.perf_counter()
        check(data)
        slowest = max(slowest, time.perf_counter() - start)
        decoded += 1
    return {"inputs": decoded, "seconds": time.perf_counter() - t0, "slowest": slowest}


def atheris_main(argv: list[str]) -> None:
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

    pool = seeds()

    def one(data: bytes) -> None:
        check(data)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # Without coverage from the C decoder libFuzzer keeps a one-byte corpus:
        # alternate its own mutations with ours on top of the valid seeds.
        rng = random.Random(seed)
        if rng.random() < 0.3:
            return bytes(atheris.Mutate(data, max_size))
        return mutate(rng, rng.choice(pool), pool)[:max_size]

    atheris.Setup([sys.argv[0], *argv], one, custom_mutator=mutator)
    atheris.Fuzz()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--atheris", action="store_true", help="hand the rest to libFuzzer")
    args, rest = ap.parse_known_args()
    if args.atheris:
        atheris_main(rest)
        return
    print(run(args.seed, args.count), flush=True)


if __name__ == "__main__":
    main()
