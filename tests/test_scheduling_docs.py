"""The examples of README.md's scheduling section and docs/scheduling.md run as written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from fastq import Client, Inspector, Task
from fastq.config import RedisConfig
from fastq.scheduler.aggregator import aggregation_hook
from fastq.scheduler.provider import FileEntries
from fastq.worker.maintenance import Maintenance
from fastq.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parent.parent


def blocks(path: Path, lang: str, section: str | None = None) -> list[str]:
    text = path.read_text()
    if section is not None:
        text = text[text.index(section) :]
        nxt = text.find("\n## ", len(section))
        text = text if nxt < 0 else text[:nxt]
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


README = blocks(ROOT / "README.md", "python", "## Periodic tasks and group aggregation")
DOCS_PY = blocks(ROOT / "docs" / "scheduling.md", "python")
DOCS_TOML = blocks(ROOT / "docs" / "scheduling.md", "toml")


def test_docs_python_examples_run() -> None:
    ns: dict[str, Any] = {"__name__": "docs_example"}
    for code in DOCS_PY:
        exec(compile(code, "docs/scheduling.md", "exec"), ns)
    app = ns["app"]  # the last block's app: the aggregation example
    assert app.group_aggregator is not None and app.group_policy == (10.0, 60.0, 100)
    first: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(DOCS_PY[0] + DOCS_PY[1], "docs/scheduling.md", "exec"), first)
    entries = first["app"].entries
    assert [e.spec for e in entries] == ["*/5 * * * *", "@hourly", "30 2 * * *", "@every 30s"]
    assert first["app"].scheduler_hooks is not None


def test_docs_toml_example_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "periodic.toml"
    cfg.write_text(DOCS_TOML[0])
    got = FileEntries(cfg).entries()
    assert (got[0].id, got[0].spec) == ("nightly-report", "30 2 * * *")
    assert got[0].options["timeout"] == 600 and got[1].spec == "@every 1m"


def test_readme_example_runs_as_written(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    (tmp_path / "myapp.py").write_text(README[0])
    (tmp_path / "periodic.toml").write_text(DOCS_TOML[0])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "fastq.cli",
        "--redis-url",
        redis_url,
        "scheduler",
        "myapp:app",
        "--config",
        "periodic.toml",
    ]
    p = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        end = time.monotonic() + 20
        specs: list[str] = []
        while time.monotonic() < end and len(specs) < 5:
            specs = sorted(e.spec for e in Inspector(redis_url).scheduler_entries())
            time.sleep(0.1)
        assert specs == ["*/5 * * * *", "30 2 * * *", "30 2 * * *", "@every 1m", "@every 30s"]
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
    assert p.returncode == 0, out

    sys.path.insert(0, str(tmp_path))
    try:
        import myapp  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    with Client(redis_url) as c:
        for n in range(3):
            c.enqueue(Task("email:notice", f"n{n}".encode()), group="user:42")
    hook = aggregation_hook(myapp.app, ["default"])
    assert hook is not None
    settings = WorkerSettings(redis=RedisConfig.from_url(redis_url))
    Maintenance(settings, clock=lambda: time.time() + 11, extras=[hook]).run_once()
    (tid,) = r.lrange("asynq:{default}:pending", 0, -1)
    assert r.hget(b"asynq:{default}:t:" + tid, "state") == b"pending"
