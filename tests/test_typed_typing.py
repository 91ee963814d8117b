"""Issue 18: argument types flow from a handler's signature to ``enqueue`` (ParamSpec).

Runs the type checkers on tests/typing_samples/typed_calls.py: mypy --strict always,
pyright too when it can run here (the pip package fetches its node program from the
npm registry on first use; without it the pyright test is skipped).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).with_name("typing_samples") / "typed_calls.py"


def _marked() -> tuple[set[int], dict[int, str]]:
    errors: set[int] = set()
    reveals: dict[int, str] = {}
    for n, line in enumerate(SAMPLE.read_text().splitlines(), start=1):
        if line.rstrip().endswith("# error"):
            errors.add(n)
        m = re.search(r"# reveal: (\S+)", line)
        if m:
            reveals[n] = m.group(1)
    return errors, reveals


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_mypy_strict_accepts_correct_calls_and_rejects_wrong_ones() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--config-file",
            "",
            str(SAMPLE),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    errors, reveals = _marked()
    found: set[int] = set()
    revealed: dict[int, str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r".*typed_calls\.py:(\d+): (error|note): (.*)", line)
        if not m:
            continue
        n, kind, text = int(m.group(1)), m.group(2), m.group(3)
        if kind == "error":
            found.add(n)
        elif text.startswith("Revealed type is"):
            revealed[n] = text
    assert found == errors, proc.stdout
    for n, want in reveals.items():
        assert want in revealed[n], proc.stdout


def test_pyright_agrees() -> None:
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install pyright)")
    proc = subprocess.run(
        [pyright, "--outputjson", str(SAMPLE)], capture_output=True, text=True, cwd=ROOT, env=_env()
    )
    if not proc.stdout.lstrip().startswith("{"):
        pytest.skip(f"pyright cannot run here: {proc.stderr[-300:] or proc.stdout[-300:]}")
    import json

    report = json.loads(proc.stdout)
    errors, reveals = _marked()
    found = {
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }
    assert found == errors, proc.stdout
    infos = {
        d["range"]["start"]["line"] + 1: d["message"]
        for d in report["generalDiagnostics"]
        if d["severity"] == "information"
    }
    for n, want in reveals.items():
        assert want in infos[n], proc.stdout
