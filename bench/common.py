"""Pieces shared by the benchmark harness and every peer adapter.

Two sides use this module:

- the worker side (inside each system's worker processes): ``record`` /
  ``record_async`` mark a finished task, by its sequence number, in the bench
  Redis, so the harness can verify that every task ran exactly once and time the
  drain from the handlers' own clocks;
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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# fastq-worker's console script, run by module so no install step is needed.
FASTQ_WORKER = "import sys; from fastq.supervisor.cli import main; sys.exit(main())"


def start_fastq_worker(
    url: str, root: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """``fastq-worker`` serving bench/peers/fastq_peer.py's app from the checkout
    ``root`` on ``url``, with ``args``; its output is dropped unless ``popen`` says
    otherwise, and ``env`` (default: this one with the peer's path and URL) is
    passed as is."""
    if env is None:
        env = peer_env(url, root)
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    argv = [sys.executable, "-c", FASTQ_WORKER, "fastq_peer:app", *args]
    return subprocess.Popen(argv, env=env, cwd=str(BENCH_DIR / "peers"), **popen)


def peer_env(url: str, root: Path) -> dict[str, str]:
    """This environment with bench/peers, bench and ``root`` first on the path."""
    path = os.pathsep.join([str(BENCH_DIR / "peers"), str(BENCH_DIR), str(root)])
    return dict(os.environ, PYTHONPATH=path, BENCH_REDIS_URL=url)


PEERS_DIR = BENCH_DIR / "peers"

# Keys the handlers write; the bench Redis is flushed between measurements.
DONE = "bench:done"  # INCRBY: finished tasks, written in per-process batches (progress)
RUNS = "bench:runs"  # BITFIELD: a 2-bit run counter per task sequence number (verification)
BOUNDS = "bench:bounds"  # ZSET: "first" / "last" completion times (ZADD LT / GT)
LATENCY = "bench:lat"  # RPUSH: handler start - enqueue time, seconds

QUEUES = {"critical": 6, "high": 4, "default": 2, "low": 1}
IO_SLEEP = 0.010  # seconds each I/O-bound task sleeps
IO_CONCURRENCY = 50  # per worker process, where the system has such a knob
IO_WIDE = 1000  # per worker process for the wide I/O workload ("io1k")
RTT_KEY = "bench:rtt"  # INCR: the one Redis round trip of each "rtt" task
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


# One flush, written at most once even when a retry follows a write whose reply
# was lost (a second write would read as a task that ran twice).
# KEYS[1] -> bench:flush:<token>, KEYS[2] -> RUNS, KEYS[3] -> DONE, KEYS[4] -> BOUNDS,
# KEYS[5] -> LATENCY
# ARGV[1] -> first completion, ARGV[2] -> last completion, ARGV[3] -> n (sequence
# numbers that follow), ARGV[4 .. 3+n] -> sequence numbers, the rest -> latencies
# Output: 1 written, 0 already written under this token
_FLUSH_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 3600) then return 0 end
redis.call('ZADD', KEYS[4], 'LT', ARGV[1], 'first')
redis.call('ZADD', KEYS[4], 'GT', ARGV[2], 'last')
local n = tonumber(ARGV[3])
for i = 4, 3 + n do
  redis.call('BITFIELD', KEYS[2], 'OVERFLOW', 'SAT', 'INCRBY', 'u2', '#' .. ARGV[i], 1)
end
for i = 4 + n, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
redis.call('INCRBY', KEYS[3], n)
return 1
"""


def write_flush(
    r: redis.Redis, token: str, seqs: Sequence[int], first: float, last: float, lat: Sequence[str]
) -> bool:
    """Write one batch of completions; False when ``token`` was already written."""
    args = [repr(first), repr(last), len(seqs), *seqs, *lat]
    return bool(r.eval(_FLUSH_LUA, 5, token, RUNS, DONE, BOUNDS, LATENCY, *args))


class _Tally:
    """Completions recorded in process and written in batches.

    One Redis round trip per task from every handler would measure the
    instrumentation, not the queue: at tens of thousands of no-op tasks a second
    the writes alone would load Redis more than the system under test. Each
    process therefore collects the sequence numbers of the tasks it finished and
    a background thread writes them every FLUSH_INTERVAL, in one script call that
    bumps each task's own run counter (``RUNS``), the first/last completion times
    and the progress total (``DONE``) together.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = -1
        self._reset()

    def _reset(self) -> None:
        self.seqs: list[int] = []
        self.first = float("inf")
        self.last = 0.0
        self.latencies: list[str] = []

    def add(self, seq: int, now: float, started: float, sent_at: float | None) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use in this (possibly forked) process
                self.pid = os.getpid()
                self._reset()
                if not IMMEDIATE:
                    threading.Thread(target=self._loop, daemon=True).start()
            self.seqs.append(seq)
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
            if not self.seqs:
                return
            seqs, first, last, lat = self.seqs, self.first, self.last, self.latencies
            self._reset()
        token = f"bench:flush:{os.getpid()}:{uuid.uuid4().hex}"
        for attempt in range(RECORD_ATTEMPTS):
            try:
                write_flush(_client(), token, seqs, first, last, lat)
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


def record(seq: int, started: float, sent_at: float | None) -> None:
    """Record one finished task. ``seq``: its sequence number; ``started``: handler entry time."""
    _tally.add(seq, time.time(), started, sent_at)


async def record_async(seq: int, started: float, sent_at: float | None) -> None:
    """Record one finished task from an ``async def`` handler (never blocks its loop
    unless the adapter asked for immediate writes)."""
    _tally.add(seq, time.time(), started, sent_at)


_rtt_sync: tuple[int, redis.Redis] | None = None
_rtt_async: dict[tuple[int, int], Any] = {}  # (pid, id(loop)) -> redis.asyncio.Redis


def _rtt_client() -> redis.Redis:
    # The handler's own client, apart from the recording one: a pool as wide as
    # any thread pool the systems run handlers in.
    global _rtt_sync
    with _sync_lock:
        if _rtt_sync is None or _rtt_sync[0] != os.getpid():
            pool = redis.BlockingConnectionPool.from_url(redis_url(), max_connections=64)
            _rtt_sync = (os.getpid(), redis.Redis(connection_pool=pool))
        return _rtt_sync[1]


def _rtt_aclient() -> Any:
    import redis.asyncio as aredis

    key = (os.getpid(), id(asyncio.get_running_loop()))
    client = _rtt_async.get(key)
    if client is None:
        client = _rtt_async[key] = aredis.Redis.from_url(redis_url())
    return client


def run_sync(kind: str, seq: int, sent_at: float | None) -> None:
    """The body of every sync handler: ``noop`` returns, ``sleep`` blocks 10 ms,
    ``rtt`` makes one Redis round trip with redis-py."""
    started = time.time()
    if kind == "sleep":
        time.sleep(IO_SLEEP)
    elif kind == "rtt":
        _rtt_client().incr(RTT_KEY)
    record(seq, started, sent_at)


async def run_async(kind: str, seq: int, sent_at: float | None) -> None:
    """The body of every ``async def`` handler (``rtt``: one round trip with redis.asyncio)."""
    started = time.time()
    if kind == "sleep":
        await asyncio.sleep(IO_SLEEP)
    elif kind == "rtt":
        await _rtt_aclient().incr(RTT_KEY)
    await record_async(seq, started, sent_at)


# --------------------------------------------------------------- harness side


@dataclass(frozen=True)
class Job:
    """One task to enqueue: its sequence number, handler, queue, and whether to stamp it.

    Every task of a measurement carries its own ``seq`` (0, 1, 2, ...) to its
    handler, which records it: that is how a run proves each task ran exactly once.
    """

    seq: int
    kind: str = "noop"  # "noop", "sleep" or "rtt"
    queue: str = "default"
    stamp: bool = False  # carry the enqueue time (latency workload)

    def sent_at(self) -> float | None:
        """The enqueue time to carry, taken now, or None when not stamped."""
        return time.time() if self.stamp else None


def numbered(n: int, start: int = 0, **fields: Any) -> list[Job]:
    """``n`` jobs with sequence numbers ``start .. start+n-1``, the other fields alike."""
    return [Job(seq=start + i, **fields) for i in range(n)]


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a system's workers for one measurement."""

    queues: Sequence[str] = ("default",)
    io: bool = False  # high concurrency for the I/O-bound workload
    wide: bool = False  # with ``io``: IO_WIDE tasks per process instead of IO_CONCURRENCY

    @property
    def io_concurrency(self) -> int:
        """Tasks per process for the I/O workloads, where the system has such a knob."""
        return IO_WIDE if self.wide else IO_CONCURRENCY


class Peer:
    """One system under test. Adapters in bench/peers/ subclass this."""

    name = ""
    packages: tuple[str, ...] = ()  # distributions whose versions the report shows
    has_bulk = False
    has_queues = False  # can one worker serve several queues?
    queue_note = ""  # how it orders several queues (weights, strict, round robin)
    setup_note = ""  # how its workers run, for the report
    only: tuple[str, ...] = ()  # run only these workloads (empty: every selected one)
    has_async = False  # an asyncio producer API (``aenqueue``)
    has_unannounced = False  # tasks can be written as a Go Asynq producer writes them
    loop: asyncio.AbstractEventLoop

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

    def enqueue_concurrent(self, jobs: Sequence[Job], callers: int) -> None:
        """Enqueue from ``callers`` coroutines sharing one async producer, each sending
        its share one call at a time (only when ``has_async``)."""

        async def caller(mine: Sequence[Job]) -> None:
            for j in mine:
                await self.aenqueue(j)

        async def go() -> None:
            await asyncio.gather(*(caller(jobs[i::callers]) for i in range(callers)))

        self.run_async(go())

    async def aenqueue(self, job: Job) -> None:
        """One enqueue with the system's async producer (only when ``has_async``)."""
        raise NotImplementedError

    def run_async(self, coro: Any) -> None:
        """Run ``coro`` on the producer's event loop (asyncio adapters set ``self.loop``)."""
        self.loop.run_until_complete(coro)

    def enqueue_unannounced(self, job: Job) -> None:
        """Write one task the way another language's producer would (only when
        ``has_unannounced``): no wake-up of the system's own."""
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

    def memory(self) -> tuple[int, int, int, int, int, int]:
        """(RSS, USS, PSS) in bytes summed over every process of the worker groups,
        the largest RSS and the largest PSS of one process, and the largest RSS of a
        process the bench did not start itself (a child of a group's first process:
        fastq's workers, not their supervisor; a group of one process counts that one).

        RSS counts pages that forked children share with their parent once per
        process; USS counts only each process's own pages, so the two bracket the
        real footprint; PSS splits each shared page among its sharers.
        """
        import psutil

        rss = uss = pss = top = top_pss = top_child = 0
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
                pss += getattr(info, "pss", 0)
                top = max(top, info.rss)
                top_pss = max(top_pss, getattr(info, "pss", 0))
                if proc is not root or len(procs) == 1:
                    top_child = max(top_child, info.rss)
                if os.environ.get("BENCH_MEMORY_DETAIL"):
                    print("      " + memory_detail(proc, info))
        return rss, uss, pss, top, top_pss, top_child

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


class InvalidRun(Exception):
    """The measurement is reported invalid (not every task ran exactly once)."""


class Timeout(InvalidRun):
    """A bounded wait ran out; the measurement is reported invalid."""


_U2 = [tuple((b >> shift) & 3 for shift in (6, 4, 2, 0)) for b in range(256)]


def run_counts(bitmap: bytes) -> list[int]:
    """Each sequence number's run count (saturated at 3) from the ``RUNS`` bitfield.

    ``BITFIELD ... u2 #i`` is bits 2i and 2i+1, most significant bit first.
    """
    return [c for b in bitmap for c in _U2[b]]


def check_runs(counts: Sequence[int], expected: int, done: int) -> str:
    """Why a measurement of tasks ``0 .. expected-1`` is invalid, or "" when each ran once.

    ``counts``: per sequence number, from ``run_counts``; ``done``: the progress total.
    """
    tail = [seq for seq, c in enumerate(counts[expected:], expected) if c]  # never enqueued
    mine = list(counts[:expected]) + [0] * max(0, expected - len(counts))
    lost = [seq for seq, c in enumerate(mine) if c == 0]
    twice = [seq for seq, c in enumerate(mine) if c > 1]
    problems = []
    if lost:
        problems.append(f"{len(lost)} of {expected} tasks never ran (seq {lost[:5]})")
    if twice:
        problems.append(f"{len(twice)} ran more than once (seq {twice[:5]})")
    if tail:
        problems.append(f"{len(tail)} unknown task(s) ran (seq {tail[:5]})")
    if not problems and done != expected:
        problems.append(f"progress total {done} for {expected} tasks run once each")
    return "; ".join(problems)


def verify_runs(r: redis.Redis, expected: int) -> None:
    """Raise InvalidRun unless tasks ``0 .. expected-1`` each ran exactly once, and no other."""
    bitmap = r.get(RUNS) or b""
    assert isinstance(bitmap, bytes)
    why = check_runs(run_counts(bitmap), expected, int(r.get(DONE) or 0))
    if why:
        raise InvalidRun(why)


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


def memory_detail(proc: Any, info: Any) -> str:
    """One process's memory in MB: RSS, USS, PSS, and PSS split into anonymous
    and file-backed pages (``/proc/PID/smaps_rollup``); ``BENCH_MEMORY_DETAIL=1``
    prints it for each process of the tree."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{proc.pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    mb = 2.0**20
    try:
        title = " ".join(proc.cmdline())[:60]
    except Exception:
        title = "?"
    return (
        f"{title}: RSS {info.rss / mb:.1f} USS {info.uss / mb:.1f}"
        f" PSS {getattr(info, 'pss', 0) / mb:.1f} (anon {fields.get('Pss_Anon', 0) / 1024:.1f},"
        f" file {fields.get('Pss_File', 0) / 1024:.1f})"
    )
