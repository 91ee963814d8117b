"""Fuzz the Cython decoders: any input decodes or raises DecodeError, never worse.

Three layers: hypothesis (structured mutations of valid messages of every type,
shrinking on failure), a fast seeded mutation loop in a subprocess (so a segfault
fails the test with a reproducible seed instead of killing pytest), and atheris
(libFuzzer, per-input hang timeout) when it is installed.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzz_decoders import check, seeds
from .helpers import LONG, report, scale

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SEEDS = seeds()
EXAMPLES = scale(1000, 20_000)
LOOP_INPUTS = scale(100_000, 2_000_000)
ATHERIS_RUNS = scale(50_000, 1_000_000)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        else:
            other = draw(st.sampled_from(SEEDS))
            data[pos:pos] = other[draw(st.integers(0, len(other))) :][:32]
    return bytes(data)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ_SETTINGS
@given(mutated())
def test_mutated_valid_messages_decode_or_raise_decode_error(data: bytes) -> None:
    check(data)


@FUZZ_SETTINGS
@given(st.binary(max_size=256))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    check(data)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    return subprocess.run(
        [sys.executable, str(HERE / "fuzz_decoders.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_mutation_loop_in_a_subprocess() -> None:
    seed = int(os.environ.get("FASTQ_CHAOS_SEED") or (time.time_ns() % 10**6 if LONG else 1))
    proc = _run(["--seed", str(seed), "--count", str(LOOP_INPUTS)], timeout=scale(90, 900))
    assert proc.returncode == 0, (
        f"decoder fuzz failed (rc {proc.returncode}); reproduce with "
        f"`python3 tests/chaos/fuzz_decoders.py --seed {seed} --count {LOOP_INPUTS}`\n"
        + proc.stderr[-3000:]
    )
    stats = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert stats["inputs"] == LOOP_INPUTS
    assert stats["slowest"] < 1.0  # no input is close to a hang
    report({"scenario": "fuzz_mutation_loop", "seed": seed, **stats})


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris(tmp_path: Path) -> None:
    proc = _run(
        [
            "--atheris",
            f"-runs={ATHERIS_RUNS}",
            "-max_len=4096",
            "-len_control=0",
            "-timeout=5",
            f"-artifact_prefix={tmp_path}/",
        ],
        timeout=scale(120, 900),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {ATHERIS_RUNS} runs" in proc.stderr
    report({"scenario": "fuzz_atheris", "runs": ATHERIS_RUNS})
