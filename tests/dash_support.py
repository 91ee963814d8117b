"""Helpers for the dashboard tests: a test client, CSRF-carrying posts, a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import uvicorn
from asynq_writer import encode, put_task
from starlette.testclient import TestClient

from fastq.dash.cli import server_class

CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(client: TestClient, path: str = "/") -> str:
    """Load a page (minting the CSRF cookie) and return its form token."""
    html = client.get(path).text
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def post(client: TestClient, path: str, data: dict[str, Any], page: str = "/") -> Any:
    """POST a form the way the page would (token from ``page``), without following."""
    return client.post(path, data={"csrf": csrf_of(client, page), **data}, follow_redirects=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    # fastq dash's own server: it ends the event streams when asked to stop (a page
    # left open holds one, and plain uvicorn waits for it to end).
    server = server_class()(app.state.dash.sampler, config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "the dashboard server did not stop within 10 s"


HOSTILE = [
    "<script>alert('t1')</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)' x='",
    "javascript:alert(4)",
    "<svg/onload=alert(5)>",
    "\x1b[31mRED\x1b]0;pwned\x07",
    '</textarea><iframe srcdoc="<script>alert(6)</script>">',
    "{{ 7*7 }}{% raw %}",
    "\u202egnp.exe",
]
BAD_UTF8 = b"\xff\xfe<script>alert(8)</script>\xc3"
BIG = b"<script>alert(9)</script>" * 42_000  # ~1 MB


def fill_hostile(r: redis.Redis) -> list[tuple[str, str]]:
    """Write hostile strings as queue names, types, payloads, errors, results, headers."""
    made = []
    for i, s in enumerate(HOSTILE):
        q = f"q{i}{s}"
        for state in ("archived", "completed", "aggregating", "pending"):
            tid = put_task(
                r,
                q,
                state,
                type=s,
                payload=s.encode(),
                error_msg=s,
                result=s.encode() if state == "completed" else None,
                group=s if state == "aggregating" else "",
                retention=60,
            )
            made.append((q, tid))
        r.hset(
            f"asynq:{{{q}}}:t:{tid}",
            "msg",
            encode(type=s, payload=BAD_UTF8, id=tid, queue=q, retry=3, headers={s: s}),
        )
    made.append(
        ("big", put_task(r, "big", "archived", payload=BIG, error_msg=BIG.decode()[:100_000]))
    )
    made.append(("big", put_task(r, "big", "completed", payload=BIG, result=BIG, retention=60)))
    r.sadd("asynq:queues", b"bad\xff<script>alert(10)</script>")
    r.hset("asynq:{big}:t:corrupt1", mapping={"msg": BAD_UTF8, "state": "archived"})
    r.zadd("asynq:{big}:archived", {"corrupt1": time.time()})
    return made


def put_scheduler(r: redis.Redis, entry_id: str, spec: str, task_type: str, history: int) -> None:
    """A live Go-Asynq scheduler entry and ``history`` enqueue events, as Go writes them."""
    from asynq_pb import SchedulerEnqueueEvent, SchedulerEntry, Timestamp

    def ts(t: float) -> Any:
        return Timestamp(seconds=int(t))

    now = time.time()
    entry = SchedulerEntry(
        id=entry_id,
        spec=spec,
        task_type=task_type,
        task_payload=b'{"report":"daily"}',
        enqueue_options=['Queue("low")', "MaxRetry(3)"],
        next_enqueue_time=ts(now + 60),
        prev_enqueue_time=ts(now - 240),
    )
    key = f"asynq:schedulers:{{sched-{entry_id}}}"
    r.rpush(key, entry.SerializeToString())
    r.zadd("asynq:schedulers", {key: now + 60})
    for i in range(history):
        ev = SchedulerEnqueueEvent(task_id=f"task-{entry_id}-{i}", enqueue_time=ts(now - 300 * i))
        r.zadd(f"asynq:scheduler_history:{entry_id}", {ev.SerializeToString(): now - 300 * i})
