"""Live updates: the Server-Sent Events stream, fed by one sampler per process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import redis
from asynq_writer import put_task
from dash_support import live_server

from fastq.dash import create_app


def _events(lines: Iterator[str], n: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``n`` sample events of an open stream's lines as (id, data)."""
    out: list[tuple[str, dict[str, Any]]] = []
    ev_id = ""
    for line in lines:
        if line.startswith("id: "):
            ev_id = line[4:]
        elif line.startswith("data: "):
            out.append((ev_id, json.loads(line[6:])))
            if len(out) == n:
                return out
    raise AssertionError("stream ended early")


def test_stream_pushes_counts_and_sees_changes(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "default", "pending")
    app = create_app(redis_url=redis_url, interval=0.1)
    with live_server(app) as base, httpx.stream("GET", f"{base}/events", timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        ((_, first),) = _events(lines, 1)
        assert first["queues"]["default"]["pending"] == 1
        put_task(r, "default", "pending")
        put_task(r, "default", "archived")
        for _, data in _events(lines, 50):
            if data["queues"]["default"]["pending"] == 2:
                assert data["queues"]["default"]["archived"] == 1
                assert data["totals"]["size"] == 3
                break
        else:
            raise AssertionError("the new counts never arrived")


def test_every_client_gets_the_same_shared_samples(redis_url: str, r: redis.Redis) -> None:
    put_task(r, "default", "pending")
    app = create_app(redis_url=redis_url, interval=0.2)
    seen: list[dict[str, str]] = []
    errors: list[BaseException] = []
    with live_server(app) as base:

        def client() -> None:
            try:
                with httpx.stream("GET", f"{base}/events", timeout=10) as resp:
                    got = _events(resp.iter_lines(), 4)
                seen.append({i: json.dumps(d, sort_keys=True) for i, d in got})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert not errors and len(seen) == 5
    # one sampler: an event id means the same sample, byte for byte, in every stream
    common = set.intersection(*(set(s) for s in seen))
    assert len(common) >= 2
    for ev_id in common:
        assert len({s[ev_id] for s in seen}) == 1


def test_stream_requires_auth(redis_url: str) -> None:
    from fastq.dash.passwords import hash_password

    app = create_app(redis_url=redis_url, users={"alice": hash_password("pw")})
    with live_server(app) as base:
        assert httpx.get(f"{base}/events", timeout=5).status_code == 401


def test_fastq_dash_serves_and_stops_with_streams_open(redis_url: str, r: redis.Redis) -> None:
    import os
    import signal
    import subprocess
    import sys

    from dash_support import free_port
    from supervisorapps.harness import ROOT, wait_for

    put_task(r, "default", "pending")
    port = free_port()
    env = dict(os.environ, FASTQ_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastq.dash", "--port", str(port), "--interval", "0.2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=20, what="fastq dash to answer")
        with httpx.stream("GET", f"http://127.0.0.1:{port}/events", timeout=10) as resp:
            ((_, data),) = _events(resp.iter_lines(), 1)
            assert data["queues"]["default"]["pending"] == 1
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0  # the open stream does not hold the shutdown
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
