"""What ``fastq-worker`` leaves unimported before it forks its workers (start-up
time), and that those modules still load when a feature needs them.

Each check runs in a fresh interpreter: ``sys.modules`` of the test process already
holds everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Only for apps that schedule periodic tasks, or for a --config file.
LAZY = (
    "fastq.scheduler.entry",
    "fastq.scheduler.spec",
    "cronsim",
    "zoneinfo",
    "tomllib",
    "fastq.supervisor.config_file",
)

# The supervisor's path up to the first fork: options, an app, the engine.
PREFORK = """
import sys
import fastq
import fastq.supervisor.runtime, fastq.worker.process
from fastq.supervisor.cli import load_options

app = fastq.App()

@app.task("t")
def t(task, ctx):
    pass

load_options({argv!r}, {{}})
{extra}
print(sorted(m for m in {lazy!r} if m in sys.modules))
"""


def run(code: str, tmp_path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FASTQ_CONFIG", None)
    p = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_the_worker_imports_neither_the_scheduler_nor_toml_before_the_fork(
    tmp_path: Path,
) -> None:
    code = PREFORK.format(argv=["x:app", "--processes", "2"], extra="", lazy=LAZY)
    assert run(code, tmp_path) == "[]"


def test_scheduling_and_a_config_file_still_import_what_they_need(tmp_path: Path) -> None:
    config = tmp_path / "worker.toml"
    config.write_text("concurrency = 7\n")
    extra = (
        "entry = app.schedule('@every 30s', fastq.Task('t'))\n"
        "assert entry.id and app.entries == [entry]\n"
        f"assert load_options(['x:app', '--config', {str(config)!r}], {{}}).concurrency == 7\n"
    )
    code = PREFORK.format(argv=["x:app"], extra=extra, lazy=LAZY)
    assert run(code, tmp_path) == str(sorted(LAZY))


# What the supervisor has imported when it builds a worker's body, just before
# that worker's fork.
BEFORE_WORKER_FORK = """
import sys
import fastq
from fastq.supervisor.cli import load_options
from fastq.supervisor.runtime import build_supervisor

app = fastq.App()

@app.task("t")
def t(task, ctx):
    pass

sup = build_supervisor(load_options({argv!r}, {{}}), app)
sup.worker_factory(app, sup.settings, 1)
print(sorted(m for m in {mods!r} if m in sys.modules))
"""
MAINTENANCE = ("fastq.worker.maintenance", "fastq.scheduler.aggregator", "fastq.scheduler.main")


def test_workers_are_forked_with_the_maintenance_modules_they_may_host(tmp_path: Path) -> None:
    # Any worker may come to host the duties: imported in the host after its fork,
    # those modules would be built there privately (docs/performance.md).
    code = BEFORE_WORKER_FORK.format(argv=["x:app"], mods=MAINTENANCE)
    assert run(code, tmp_path) == str(sorted(MAINTENANCE[:2]))


def test_the_scheduler_and_a_maintenance_process_keep_their_own_imports(
    tmp_path: Path,
) -> None:
    # The scheduler only with --scheduler; with a maintenance process of their own
    # the workers never run the duties.
    code = BEFORE_WORKER_FORK.format(argv=["x:app", "--scheduler"], mods=MAINTENANCE)
    assert run(code, tmp_path) == str(sorted(MAINTENANCE))
    argv = ["x:app", "--maintenance-in", "process"]
    code = BEFORE_WORKER_FORK.format(argv=argv, mods=MAINTENANCE)
    assert run(code, tmp_path) == "[]"
