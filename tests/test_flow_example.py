"""examples/flow.py runs as docs/flow-control.md says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_flow_example_runs_as_written() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FASTQ_REDIS_URL", None)
    p = subprocess.run(
        [sys.executable, "examples/flow.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "report:sum completed: {'sum': 6}"
    assert lines[1] == "upstream:poll completed with retried=0: b'polled'"
    assert lines[2].startswith("clear error: cannot wait for task 'no-such-task'")
    assert lines[3] == "processed 157 tasks"
