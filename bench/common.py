"""Pieces shared by the benchmark harness and every peer adapter.

Two sides use this module:

- the worker side (inside each system's worker processes): ``record`` /
  ``record_async`` count a finished task in the bench Redis, so the harness can
  verify that every task ran and time the drain from the handlers' own clocks;
- the harness side: the ``Peer`` interface, worker process groups, RSS, waits
  bounded by timeouts, and medians.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"

# Keys the handlers write; the bench Redis is flushed between measurements.
DONE = "bench:done"  # INCRBY: finished tasks, written in per-process batches
BOUNDS = "bench:bounds"  # ZSET: "first" / "last" completion times (ZADD LT / GT)
LATENCY = "bench:lat"  # RPUSH: handler start - enqueue time, seconds

QUEUES = {"critical": 6, "high": 4, "default": 2, "low": 1}
IO_SLEEP = 0.010  # seconds each I/O-bound task sleeps
IO_CONCURRENCY = 50  # per worker process, where the system has such a knob
PROCESSES = 2  # worker processes per system (the machine has 2 cores)


def redis_url() -> str:
    """The bench Redis, which the harness passes to every worker in the environment."""
    return os.environ["BENCH_REDIS_URL"]


# ---------------------------------------------------------------- worker side

_sync_client: tuple[int, redis.Redis] | None = None
_sync_lock = threading.Lock()
RECORD_ATTEMPTS = 5  # the counter is instrumentation: a dropped connection must not lose a count
FLUSH_INTERVAL = 0.02  # seconds between batched writes of the per-process counts
# Systems that fork a short-lived process per task (RQ's work horse) lose anything
# buffered, so their adapters ask for one write per task instead.
IMMEDIATE = os.environ.get("BENCH_RECORD_IMMEDIATE") == "1"


def _client() -> redis.Redis:
    # One client per process: prefork pools fork after import, and a client must
    # not be shared across a fork.
    global _sync_client
    pid = os.getpid()
    with _sync_lock:
        if _sync_client is None or _sync_client[0] != pid:
            pool = redis.BlockingConnectionPool.from_url(redis_url(), max_connections=4)
            _sync_client = (pid, redis.Redis(connection_pool=pool))
        return _sync_client[1]


class _Tally:
    """Completions counted in process and written in batches.

    One Redis round trip per task from every handler would measure the
    instrumentation, not the queue: at tens of thousands of no-op tasks a second
    the counter writes alone would load Redis more than the system under test.
    Each process therefore sums its completions and a background thread writes
    them every FLUSH_INTERVAL. The first/last completion times go in before the
    count, so whoever sees the full count also sees the right drain bounds.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = -1
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self.first = float("inf")
        self.last = 0.0
        self.latencies: list[str] = []

    def add(self, now: float, started: float, sent_at: float | None) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use in this (possibly forked) process
                self.pid = os.getpid()
                self._reset()
                if not IMMEDIATE:
                    threading.Thread(target=self._loop, daemon=True).start()
            self.count += 1
            self.first = min(self.first, now)
            self.last = max(self.last, now)
            if sent_at:
                self.latencies.append(repr(started - sent_at))
        if IMMEDIATE:
            self.flush()

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self.count:
                return
            count, first, last, lat = self.count, self.first, self.last, self.latencies
            self._reset()
        for attempt in range(RECORD_ATTEMPTS):
            try:
                pipe = _client().pipeline(transaction=False)
                pipe.zadd(BOUNDS, {"first": first}, lt=True)
                pipe.zadd(BOUNDS, {"last": last}, gt=True)
                if lat:
                    pipe.rpush(LATENCY, *lat)
                pipe.incrby(DONE, count)
                pipe.execute()
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                print(
                    f"bench: recording retried after a Redis error (pid {os.getpid()})",
                    file=sys.stderr,
                )
                time.sleep(0.05)


_tally = _Tally()


def record(started: float, sent_at: float | None) -> None:
    """Count one finished task. ``started``: handler entry time."""
    _tally.add(time.time(), started, sent_at)


async def record_async(started: float, sent_at: float | None) -> None:
    """Count one finished task from an ``async def`` handler (never blocks its loop
    unless the adapter asked for immediate writes)."""
    _tally.add(time.time(), started, sent_at)


def run_sync(kind: str, sent_at: float | None) -> None:
    """The body of every sync handler: ``noop`` returns, ``sleep`` blocks 10 ms."""
    started = time.time()
    if kind == "sleep":
        time.sleep(IO_SLEEP)
    record(started, sent_at)


async def run_async(kind: str, sent_at: float | None) -> None:
    """The body of every ``async def`` handler."""
    started = time.time()
    if kind == "sleep":
        await asyncio.sleep(IO_SLEEP)
    await record_async(started, sent_at)


# --------------------------------------------------------------- harness side


@dataclass(frozen=True)
class Job:
    """One task to enqueue: which handler, on which queue, and whether to stamp it."""

    kind: str = "noop"  # "noop" or "sleep"
    queue: str = "default"
    stamp: bool = False  # carry the enqueue time (latency workload)


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a system's workers for one measurement."""

    queues: Sequence[str] = ("default",)
    io: bool = False  # high concurrency for the I/O-bound workload


class Peer:
    """One system under test. Adapters in bench/peers/ subclass this."""

    name = ""
    packages: tuple[str, ...] = ()  # distributions whose versions the report shows
    has_bulk = False
    has_queues = False  # can one worker serve several queues?
    queue_note = ""  # how it orders several queues (weights, strict, round robin)
    setup_note = ""  # how its workers run, for the report

    def open(self, url: str) -> None:
        """Connect the producer side."""

    def close(self) -> None:
        """Release producer connections."""

    def enqueue(self, jobs: Sequence[Job]) -> None:
        """Enqueue one at a time with the system's ordinary call."""
        raise NotImplementedError

    def enqueue_bulk(self, jobs: Sequence[Job]) -> None:
        """Enqueue with the system's many-at-once API (only when ``has_bulk``)."""
        raise NotImplementedError

    def worker_commands(self, url: str, spec: WorkerSpec) -> list[list[str]]:
        """Commands to start; each becomes its own process group."""
        raise NotImplementedError

    def worker_env(self) -> dict[str, str]:
        return {}

    def diagnose(self, r: redis.Redis) -> str:
        """Where unfinished tasks sit, for the message of a timed-out measurement."""
        return ""


def python() -> str:
    return sys.executable


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


class Workers:
    """A system's worker processes, each command in its own process group."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], log: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = log
        with log.open("ab") as out:
            for cmd in commands:
                out.write(("$ " + " ".join(cmd) + "\n").encode())
                out.flush()
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=PEERS_DIR,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def memory(self) -> tuple[int, int]:
        """(RSS, USS) in bytes summed over every process of the worker groups.

        RSS counts pages that forked children share with their parent once per
        process; USS counts only each process's own pages, so the two bracket the
        real footprint.
        """
        import psutil

        rss = uss = 0
        for p in self.procs:
            try:
                root = psutil.Process(p.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                except psutil.NoSuchProcess:
                    continue
                rss += info.rss
                uss += info.uss
        return rss, uss

    def process_count(self) -> int:
        import psutil

        n = 0
        for p in self.procs:
            try:
                n += 1 + len(psutil.Process(p.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return n

    def stop(self, grace: float = 1.0) -> None:
        """SIGTERM each group, then SIGKILL what is left after ``grace`` seconds."""
        for p in self.procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            # The group may hold children even after its leader exited.
            _signal_group(p, signal.SIGKILL)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def _signal_group(p: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(p.pid, sig)  # the group id is the leader's pid (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


class Timeout(Exception):
    """A bounded wait ran out; the measurement is reported invalid."""


def wait_done(r: redis.Redis, expected: int, timeout: float, workers: Workers | None) -> None:
    """Poll the done counter until it reaches ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        done = int(r.get(DONE) or 0)
        if done >= expected:
            return
        if workers is not None and not workers.alive():
            raise Timeout(f"workers exited ({done}/{expected} done), see {workers.log.name}")
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:.0f}s with {done}/{expected} done")
        time.sleep(0.01 if expected - done < 50 else 0.05)


def drain_rate(r: redis.Redis, n: int) -> float:
    """Tasks per second between the first and the last completion (handler clocks)."""
    first = float(r.zscore(BOUNDS, "first") or 0)
    last = float(r.zscore(BOUNDS, "last") or 0)
    if n < 2 or last <= first:
        raise Timeout("not enough completions to time the drain")
    return (n - 1) / (last - first)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


@dataclass
class Measure:
    """The runs of one metric for one system; ``value`` is the median of the valid ones."""

    runs: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # why each invalid run was invalid
    na: str = ""  # set when the system has no such feature

    @property
    def error(self) -> str:
        """Set when no run was valid."""
        return self.failures[0] if self.failures and not self.runs else ""

    @property
    def value(self) -> float | None:
        if self.na or not self.runs:
            return None
        return statistics.median(self.runs)

    def as_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "runs": self.runs,
            "error": self.error,
            "failed_runs": self.failures,
            "na": self.na,
        }
