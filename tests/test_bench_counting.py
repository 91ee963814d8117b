"""The benchmark's verification: every task ran exactly once, checked per task.

bench/common.py is the code every peer's handlers run to record a finished task
(``write_flush``) and the harness runs to accept or reject a measurement
(``verify_runs``). These tests drive both against the real test redis-server with
small, hand-made runs; a full ``bench/run.py`` takes minutes.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import redis

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_common"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


def _flush(r: redis.Redis, seqs: list[int], token: str) -> bool:
    return bool(bench.write_flush(r, token, seqs, 1.0, 2.0, []))


def test_every_task_once_across_processes_and_batches_is_valid(r: redis.Redis) -> None:
    for n, start in enumerate(range(0, 1000, 150)):  # batches from several "processes"
        assert _flush(r, list(range(start, min(1000, start + 150))), f"t{n}")
    bench.verify_runs(r, 1000)  # does not raise
    assert int(r.get(bench.DONE) or 0) == 1000


def test_one_lost_plus_one_duplicate_is_invalid_though_the_total_matches(
    r: redis.Redis,
) -> None:
    _flush(r, [0, 1, 3, 4], "a")
    _flush(r, [1], "b")  # task 1 ran twice, task 2 never ran
    assert int(r.get(bench.DONE) or 0) == 5  # a total alone would have accepted this run
    with pytest.raises(bench.InvalidRun) as info:
        bench.verify_runs(r, 5)
    assert str(info.value) == "1 of 5 tasks never ran (seq [2]); 1 ran more than once (seq [1])"


def test_an_extra_run_invalidates_the_measurement(r: redis.Redis) -> None:
    _flush(r, list(range(10)), "a")
    _flush(r, [7], "b")
    with pytest.raises(bench.InvalidRun, match=r"^1 ran more than once \(seq \[7\]\)$"):
        bench.verify_runs(r, 10)


def test_a_task_that_was_never_enqueued_invalidates_the_measurement(r: redis.Redis) -> None:
    _flush(r, [*range(10), 12], "a")
    with pytest.raises(bench.InvalidRun, match=r"^1 unknown task\(s\) ran \(seq \[12\]\)$"):
        bench.verify_runs(r, 10)


def test_a_task_run_many_times_stays_a_duplicate(r: redis.Redis) -> None:
    _flush(r, [0, 1], "a")
    for n in range(5):  # the 2-bit counter saturates at 3, never wraps to 0 or 1
        _flush(r, [1], f"again{n}")
    assert bench.run_counts(r.get(bench.RUNS) or b"")[:2] == [1, 3]
    with pytest.raises(bench.InvalidRun, match="ran more than once"):
        bench.verify_runs(r, 2)


def test_a_retried_flush_counts_once(r: redis.Redis) -> None:
    # The recorder retries a write whose reply it lost; the same token is not re-applied.
    assert _flush(r, [0, 1, 2], "same")
    assert not _flush(r, [0, 1, 2], "same")
    bench.verify_runs(r, 3)


def test_an_empty_run_is_invalid(r: redis.Redis) -> None:
    with pytest.raises(bench.InvalidRun, match=r"^3 of 3 tasks never ran"):
        bench.verify_runs(r, 3)


def test_run_counts_reads_redis_bitfield_layout(r: redis.Redis) -> None:
    values = [3, 0, 1, 2, 2, 1, 0, 3, 1]
    for i, v in enumerate(values):
        r.execute_command("BITFIELD", bench.RUNS, "SET", "u2", f"#{i}", v)
    got = r.execute_command(
        "BITFIELD", bench.RUNS, *[x for i in range(len(values)) for x in ("GET", "u2", f"#{i}")]
    )
    assert got == values
    assert bench.run_counts(r.get(bench.RUNS) or b"")[: len(values)] == values


PARENT_BIGGER = """
import os, sys, time
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
ballast = bytearray(64 * 2**20)  # touched: the parent's RSS grows, the child's does not
ballast[::4096] = b"x" * len(ballast[::4096])
print("ready".upper(), flush=True)  # the log also holds this command's text
time.sleep(60)
"""


def test_memory_tells_the_largest_child_from_the_largest_process(tmp_path: Path) -> None:
    group = bench.Workers([[sys.executable, "-c", PARENT_BIGGER]], {}, tmp_path / "log")
    alone = bench.Workers(
        [[sys.executable, "-c", "import time; time.sleep(60)"]], {}, tmp_path / "log"
    )
    try:
        deadline = time.monotonic() + 30
        while b"READY" not in (tmp_path / "log").read_bytes():
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.05)
        rss, _uss, _pss, top, _top_pss, top_child = group.memory()
        assert top > 64 * 2**20  # the parent, with its ballast
        assert top_child < 32 * 2**20  # the forked child, without it
        assert rss > top + top_child - 2**20
        *_, lone_top, _, lone_child = alone.memory()
        assert lone_child == lone_top > 0  # a group of one process counts that one
    finally:
        group.stop()
        alone.stop()
