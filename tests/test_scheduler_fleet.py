"""A fleet of real ``fastq scheduler`` processes, one killed with SIGKILL every few
ticks and started again: every tick of an ``@every 1s`` entry is enqueued exactly
once (0 missed, 0 doubled), ticks during a failover included."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from fastq import Inspector, keys

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
SCHEDULERS = 3


@dataclass
class FleetReport:
    ticks: int = 0
    missed: int = 0
    doubled: int = 0
    history_doubled: int = 0
    kills: int = 0
    failover_ticks: int = 0
    windows: list[tuple[float, float]] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"fleet: {SCHEDULERS} schedulers, {self.kills} kill -9, {self.ticks} ticks, "
            f"{self.failover_ticks} ticks during a failover, missed={self.missed}, "
            f"doubled={self.doubled} (history doubled={self.history_doubled})"
        )


def _start(redis_url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}")
    cmd = [
        sys.executable,
        "-m",
        "fastq.cli",
        "--redis-url",
        redis_url,
        "scheduler",
        "workerapps.periodic:app",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _up(r: redis.Redis, pid: int) -> bool:
    return any(f":{pid}:" in m.decode() for m in r.zrange(keys.ALL_SCHEDULERS, 0, -1))


def _wait_up(r: redis.Redis, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> float:
    end = time.time() + timeout
    while time.time() < end:
        if all(_up(r, p.pid) for p in procs):
            return time.time()
        for p in procs:
            assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
        time.sleep(0.02)
    raise AssertionError("schedulers did not start")


def run_fleet(
    redis_url: str, ticks: int, kill_every: int = 3, down_for: float = 1.5
) -> FleetReport:
    """Run the fleet over ``ticks`` ticks; every ``kill_every`` ticks SIGKILL one
    scheduler and start it again ``down_for`` seconds later."""
    from workerapps.periodic import app

    entry = app.entries[0]
    r = redis.Redis.from_url(redis_url)
    report = FleetReport()
    procs = [_start(redis_url) for _ in range(SCHEDULERS)]
    try:
        first = math.ceil(_wait_up(r, procs)) + 1
        last = first + ticks - 1
        victim = 0
        next_kill = first + kill_every - 0.5
        offsets = (0.5, 0.02, 0.98)  # kill mid-second, just after a tick, just before one
        while time.time() < last + 1.5:
            now = time.time()
            if now >= next_kill and now < last:
                old = procs[victim]
                old.send_signal(signal.SIGKILL)
                old.wait()
                killed_at = time.time()
                time.sleep(down_for)  # the others alone cover these ticks
                procs[victim] = _start(redis_url)
                _wait_up(r, [procs[victim]])
                report.windows.append((killed_at, time.time()))
                report.kills += 1
                victim = (victim + 1) % SCHEDULERS
                base = math.floor(time.time()) + kill_every
                next_kill = base + offsets[report.kills % len(offsets)]
            time.sleep(0.01)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    queued = [x.decode() for x in r.lrange(keys.pending_key("fleet"), 0, -1)]
    counts: dict[str, int] = {}
    for task_id in queued:
        counts[task_id] = counts.get(task_id, 0) + 1
    events = Inspector(redis_url).scheduler_history(entry.id, 1, 10_000)
    per_event: dict[str, int] = {}
    for ev in events:
        per_event[ev.task_id] = per_event.get(ev.task_id, 0) + 1
    for tick in range(first, last + 1):
        tid = entry.task_id_for(tick)
        n = counts.get(tid, 0)
        report.ticks += 1
        report.missed += n == 0
        report.doubled += n > 1
        report.history_doubled += per_event.get(tid, 0) > 1
        if any(a <= tick <= b for a, b in report.windows):
            report.failover_ticks += 1
    r.close()
    print(report.line())
    return report


def _check(report: FleetReport, ticks: int) -> None:
    assert report.ticks == ticks
    assert report.kills >= ticks // 6
    assert report.failover_ticks > 0
    assert (report.missed, report.doubled, report.history_doubled) == (0, 0, 0), report.line()


@pytest.mark.timeout(180)
def test_fleet_enqueues_each_tick_once_with_kill_9_short(redis_url: str) -> None:
    _check(run_fleet(redis_url, ticks=30), 30)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("FASTQ_FLEET_LONG") != "1", reason="~3.5 min: set FASTQ_FLEET_LONG=1"
)
@pytest.mark.timeout(600)
def test_fleet_enqueues_each_tick_once_with_kill_9_200_ticks(redis_url: str) -> None:
    _check(run_fleet(redis_url, ticks=200), 200)
