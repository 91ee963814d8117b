"""Shared helpers of the fault suite: scale, worker subprocesses, enqueue, counts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import psutil
import redis
from supervisorapps.harness import SupervisorProc

from fastq.client import Client
from fastq.task import Task

from .apps.chaos_app import DONE

LONG = os.environ.get("FASTQ_CHAOS_LONG", "") not in ("", "0")
APP = "chaos.apps.chaos_app:app"
T = TypeVar("T")


def scale(short: T, long: T) -> T:
    """The short-mode value, or the soak value under FASTQ_CHAOS_LONG=1."""
    return long if LONG else short


def report(data: dict[str, object]) -> None:
    """Print the numbers; FASTQ_CHAOS_REPORT=path also appends them as a JSON line."""
    line = json.dumps(data)
    print("\n" + line)
    path = os.environ.get("FASTQ_CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``cond`` until truthy; fail after ``timeout`` seconds (every loop is bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class Workers:
    """``fastq-worker`` subprocesses of one test, each with its own log file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[SupervisorProc] = []

    def start(
        self, url: str, *args: str, record_url: str | None = None, app: str = APP
    ) -> SupervisorProc:
        env = {"FASTQ_REDIS_URL": url, "CHAOS_RECORD_URL": record_url or url}
        p = SupervisorProc.real([app, *args], self.tmp / f"w{len(self.procs)}", env)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in self.procs:
            try:  # every descendant, also children restarted since the test last looked
                kids = psutil.Process(p.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                kids = []
            p.close()
            for k in kids:
                try:
                    k.kill()
                except psutil.NoSuchProcess:
                    pass


def text(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def members(rec: redis.Redis, key: str) -> list[str]:
    """The ids in a list or zset key, as str."""
    raw = rec.lrange(key, 0, -1) if rec.type(key) == b"list" else rec.zrange(key, 0, -1)
    return [text(x) for x in cast("list[bytes]", raw)]


def worker_pids(p: SupervisorProc) -> list[int]:
    return [c.pid for c in p.workers()]


def wait_all_up(p: SupervisorProc, workers: int, timeout: float = 15) -> None:
    """Wait for ``workers`` worker processes, each titled, one of them hosting the
    maintenance duties (``--maintenance-in worker``, the default: no process of their own).

    Right after a fork a child still carries the supervisor's command line.
    """

    def up() -> bool:
        kids = p.children()
        titled = sum(1 for k in kids if _titled(k))
        return (
            len(kids) == workers
            and titled == workers
            and "maintenance duties run in worker process" in p.log()
        )

    wait_for(up, timeout=timeout, what=f"{workers} workers, one with the maintenance duties")


def _titled(proc: psutil.Process) -> bool:
    try:
        title = " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False
    return title.startswith("fastq-worker: worker")


def all_pids(p: SupervisorProc) -> set[int]:
    """The supervisor and every live child."""
    return {p.pid, *(c.pid for c in p.children())}


def running(proc: psutil.Process) -> bool:
    """Whether a process recorded earlier still runs (a reused pid is not it; a zombie is dead)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def enqueue_recs(
    url: str,
    n: int,
    *,
    sleep: float = 0.0,
    queue: str = "default",
    chunk: int = 5000,
    kind: str = "rec",
    **options: Any,
) -> list[str]:
    """Enqueue ``n`` recording tasks in pipelined chunks; returns their ids."""
    payload = json.dumps({"sleep": sleep}).encode()
    ids: list[str] = []
    with Client(url) as client:
        for start in range(0, n, chunk):
            tasks = [Task(kind, payload, queue=queue) for _ in range(min(chunk, n - start))]
            ids += [i.id for i in client.enqueue_many(tasks, **options)]
    return ids


def done_counts(rec: redis.Redis) -> dict[str, int]:
    """task id -> completed handler runs."""
    return {text(k): int(v) for k, v in rec.hgetall(DONE).items()}


def done_total(rec: redis.Redis) -> int:
    return int(rec.hlen(DONE))


def missing(ids: Sequence[str], counts: dict[str, int]) -> list[str]:
    return [i for i in ids if counts.get(i, 0) < 1]
