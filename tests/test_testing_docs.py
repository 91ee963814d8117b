"""Issue 18: the examples in docs/testing.md and the README quick start run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fastq
from fastq.testing import TestWorker

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parent.parent


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_testing_md_examples_pass_under_pytest(tmp_path: Path) -> None:
    files = {}
    for block in _blocks((ROOT / "docs" / "testing.md").read_text()):
        m = re.match(r"# file: (\S+)\n", block)
        if m:
            files[m.group(1)] = block
    assert set(files) == {"conftest.py", "test_drain.py", "test_eager.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    env.pop("FASTQ_REDIS_URL", None)  # the plugin's private Redis, nothing else
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7 passed" in proc.stdout, proc.stdout


class _Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def send(self, user_id: int, template: str, pool: object) -> None:
        self.sent.append((user_id, template, pool))


def test_readme_quick_start_runs(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start: typed tasks", 1)[1].split("\n## ", 1)[0]
    tasks_src, producer_src = _blocks(section)[:2]
    mailer = _Mailer()

    async def create_pool() -> str:
        return "pool"

    tasks: dict[str, Any] = {"mailer": mailer, "create_pool": create_pool}
    exec(compile(tasks_src, "README:tasks.py", "exec"), tasks)
    module = type(sys)("tasks")
    module.__dict__.update(tasks)
    monkeypatch.setitem(sys.modules, "tasks", module)
    producer_src = producer_src.replace("redis://127.0.0.1:6379/0", redis_url)
    try:
        exec(compile(producer_src, "README:producer.py", "exec"), {})
        worker = TestWorker(tasks["app"], redis_url)
        first = worker.drain()
        worker.clock.advance(60)
        second = worker.drain()
    finally:
        fastq.configure()
    assert [o.status for o in first + second] == ["succeeded", "succeeded"]
    assert mailer.sent == [(42, "welcome", "pool"), (7, "reminder", "pool")]
    assert [o.queue for o in second] == ["critical"]
