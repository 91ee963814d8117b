"""`make demo` (examples/shop/run.py) as a user runs it: its own Redis, every process,
orders flowing, and Ctrl-C (a real SIGINT to the terminal's process group) stopping
everything with no process left behind (issue 17)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from fastq.devredis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _status_within(url: str, seconds: float) -> int | None:
    """The first HTTP status the URL answers within ``seconds`` (None: it never did)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, follow_redirects=True).status_code
        except httpx.HTTPError:
            time.sleep(0.2)
    return None


@pytest.mark.timeout(120)
def test_demo_runs_everything_and_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FASTQ_REDIS_URL", None)  # the demo starts its own Redis
    api_port, dash_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        # Its own process group, as a shell gives a foreground job: Ctrl-C signals the group.
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "examples.shop.run",
                "--rate",
                "20",
                "--stats-every",
                "2",
                "--api-port",
                str(api_port),
                "--dash-port",
                str(dash_port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        # The runner's own "ready" line, not a worker log line containing the word.
        while "\nready\n" not in log.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "\nready\n" in text, text
        assert f"shop API       http://127.0.0.1:{api_port}" in text
        time.sleep(3)  # the load generator places orders meanwhile
        procs = psutil.Process(demo.pid).children(recursive=True)
        cmdlines = [" ".join(p.cmdline()) for p in procs]
        for needle in ("redis-server", "uvicorn", "fastq-worker: worker", "examples.shop.load"):
            assert any(needle in c for c in cmdlines), (needle, cmdlines, log.read_text()[-3000:])
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}") as http:
            r = http.post(
                "/orders",
                json={
                    "customer_id": "c",
                    "email": "a@b.c",
                    "items": [{"sku": "A", "quantity": 1, "price_cents": 5}],
                },
            )
            assert r.status_code == 202 and len(r.json()["tasks"]) == 6
            assert http.post("/orders", json={"customer_id": "c"}).status_code == 422

        if importlib.util.find_spec("fastq.dash") is not None:
            assert f"dashboard      http://127.0.0.1:{dash_port}" in text
            assert _status_within(f"http://127.0.0.1:{dash_port}/", 20) == 200
        else:  # no dashboard yet: the CLI's stats every --stats-every seconds instead
            assert "Task Count by Queue" in log.read_text()

        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(60) == 0, log.read_text()[-3000:]
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        out_text = log.read_text()
        assert "all stopped" in out_text
        assert (
            "placed " in out_text
        )  # the load generator's final report: it was stopped, not killed
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
