"""The examples run as the README, the docs and their docstrings say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(script: str) -> str:
    """Run an example as its docs say (its own private Redis); returns its stdout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FASTQ_REDIS_URL", None)
    p = subprocess.run(
        [sys.executable, script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.mark.timeout(120)
def test_producer_alone_runs_every_task_it_enqueues() -> None:
    out = run_example("examples/producer.py")
    assert "processed 1004 of the 1004 tasks due now, 0 failed" in out


@pytest.mark.timeout(120)
def test_flow_example_runs_as_written() -> None:
    # examples/flow.py, as docs/flow-control.md shows it.
    lines = run_example("examples/flow.py").splitlines()
    assert lines[0] == "report:sum completed: {'sum': 6}"
    assert lines[1] == "upstream:poll completed with retried=0: b'polled'"
    assert lines[2].startswith("clear error: cannot wait for task 'no-such-task'")
    assert lines[3] == "processed 157 tasks"


def test_producer_app_handles_every_type_the_producer_enqueues() -> None:
    import re

    from examples.producer_app import app

    source = (ROOT / "examples" / "producer.py").read_text()
    enqueued = set(re.findall(r'fastq\.Task(?:\.json)?\(\s*"([^"]+)"', source))
    assert enqueued == {
        "email:welcome",
        "report:build",
        "cache:warm",
        "crm:sync",
        "image:thumbnail",
    }
    assert enqueued == set(app.task_types)


def test_docs_point_only_at_files_the_repository_has() -> None:
    import re

    for page in (ROOT / "docs" / "architecture.md", ROOT / "README.md"):
        for name in re.findall(r"`([A-Za-z_][\w./-]*\.md)`", page.read_text()):
            found = (ROOT / name).exists() or (page.parent / name).exists()
            assert found, f"{page.name} points at {name}, which the repository does not have"


def test_bench_readme_states_the_concurrency_the_fastq_peer_runs() -> None:
    import re

    peer = (ROOT / "bench" / "peers" / "fastq_peer.py").read_text()
    common = (ROOT / "bench" / "common.py").read_text()
    concurrency = re.search(r"^CONCURRENCY = (\d+)", peer, re.M)
    io = re.search(r"^IO_CONCURRENCY = (\d+)", common, re.M)
    assert concurrency is not None and io is not None
    (row,) = [
        x
        for x in (ROOT / "bench" / "README.md").read_text().splitlines()
        if x.startswith("| fastq |")
    ]
    assert f"--concurrency {concurrency.group(1)}" in row
    assert f"{io.group(1)} for I/O" in row
    assert f"--concurrency {concurrency.group(1)}" in peer.split("setup_note = ")[1].splitlines()[0]
