"""The scheduler as a process: ``fastq-worker --scheduler`` (in the maintenance
process) and ``fastq scheduler APP`` with real signals (HUP reloads, TERM stops)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from fastq import Inspector, keys

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}")
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until(cond: Callable[[], bool], timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _stop(p: subprocess.Popen[str]) -> tuple[int, str]:
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    return p.returncode, out


def test_fastq_worker_scheduler_flag_runs_entries_in_maintenance(
    redis_url: str, r: redis.Redis
) -> None:
    p = _spawn(
        "fastq.supervisor",
        "workerapps.periodic:app",
        "--redis-url",
        redis_url,
        "--processes",
        "1",
        "--scheduler",
    )
    try:
        _until(lambda: r.llen(keys.pending_key("fleet")) >= 2)
        (entry,) = Inspector(redis_url).scheduler_entries()
        assert (entry.spec, entry.task_type) == ("@every 1s", "fleet:tick")
    finally:
        code, out = _stop(p)
    assert code == 0, out
    assert r.zcard(keys.ALL_SCHEDULERS) == 0  # cleared on a graceful stop


def test_fastq_worker_without_the_flag_schedules_nothing(redis_url: str, r: redis.Redis) -> None:
    p = _spawn(
        "fastq.supervisor",
        "workerapps.periodic:app",
        "--redis-url",
        redis_url,
        "--processes",
        "1",
    )
    try:
        _until(lambda: r.zcard(keys.ALL_SERVERS) == 1)
        time.sleep(2.5)
        assert r.llen(keys.pending_key("fleet")) == 0
        assert r.zcard(keys.ALL_SCHEDULERS) == 0
    finally:
        _stop(p)


def test_standalone_scheduler_reloads_on_hup_and_stops_on_term(
    tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    cfg = tmp_path / "periodic.toml"
    cfg.write_text('[[entries]]\nspec = "@hourly"\ntype = "a"\nid = "entry-a"\n')
    p = _spawn(
        "fastq.cli",
        "--redis-url",
        redis_url,
        "scheduler",
        "workerapps.periodic:app",
        "--config",
        str(cfg),
    )
    try:
        ids = lambda: {e.id for e in Inspector(redis_url).scheduler_entries()}  # noqa: E731
        _until(lambda: "entry-a" in ids())
        cfg.write_text('[[entries]]\nspec = "@daily"\ntype = "b"\nid = "entry-b"\n')
        p.send_signal(signal.SIGHUP)
        _until(lambda: "entry-b" in ids() and "entry-a" not in ids())
        assert p.poll() is None
    finally:
        code, out = _stop(p)
    assert code == 0, out
    assert r.zcard(keys.ALL_SCHEDULERS) == 0


def test_standalone_scheduler_refuses_a_bad_config(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[entries]]\nspec = "every day"\ntype = "a"\n')
    p = _spawn(
        "fastq.cli",
        "--redis-url",
        redis_url,
        "scheduler",
        "workerapps.periodic:app",
        "--config",
        str(cfg),
    )
    out, _ = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "every day" in out


def test_systemd_unit_template() -> None:
    unit = ROOT / "systemd" / "fastq-scheduler.service"
    d: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            d[key.strip()] = value.strip()
    assert d["ExecStart"].split()[1:3] == ["scheduler", "${FASTQ_APP}"]
    assert d["ExecReload"] == "/bin/kill -HUP $MAINPID"  # HUP re-reads the config
    assert d["KillSignal"] == "SIGTERM" and d["Restart"] == "always"
    assert (d["User"], d["NoNewPrivileges"], d["ProtectSystem"]) == ("fastq", "yes", "strict")


def test_fastq_worker_scheduler_config_file(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    cfg = tmp_path / "periodic.yaml"
    cfg.write_text("entries:\n  - {spec: '@every 1s', type: from:file, queue: filed, id: filed}\n")
    p = _spawn(
        "fastq.supervisor",
        "workerapps.periodic:app",
        "--redis-url",
        redis_url,
        "--processes",
        "1",
        "--scheduler",
        "--scheduler-config",
        str(cfg),
    )
    try:
        _until(lambda: r.llen(keys.pending_key("filed")) >= 1)
        ids = {e.id for e in Inspector(redis_url).scheduler_entries()}
        assert "filed" in ids and len(ids) == 2  # the file's entry and the app's
    finally:
        code, out = _stop(p)
    assert code == 0, out


def test_fastq_worker_with_a_bad_scheduler_config_keeps_working(
    tmp_path: Path, redis_url: str, r: redis.Redis
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[[entries]]\nspec = 'sometimes'\ntype = 'x'\n")
    p = _spawn(
        "fastq.supervisor",
        "workerapps.periodic:app",
        "--redis-url",
        redis_url,
        "--processes",
        "1",
        "--scheduler",
        "--scheduler-config",
        str(cfg),
    )
    try:
        _until(lambda: r.zcard(keys.ALL_SERVERS) == 1)
        time.sleep(1.5)
        assert p.poll() is None
    finally:
        code, out = _stop(p)
    assert code == 0
    assert "periodic tasks are NOT scheduled" in out and "sometimes" in out
