"""The workloads of one system, run against the shared bench Redis.

Each system first drains a small calibration batch; the drain pools are then
sized so a measurement takes a few seconds at that system's own speed (capped at
``Config.n_drain``). A forking RQ worker runs ~60 tasks/s on this machine, so a
fixed 20,000-task pool would take it six minutes per run.
"""

from __future__ import annotations

import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import redis
from common import (
    BENCH_DIR,
    BOUNDS,
    DONE,
    LATENCY,
    QUEUES,
    ROOT,
    InvalidRun,
    Job,
    Measure,
    Peer,
    Timeout,
    Workers,
    WorkerSpec,
    drain_rate,
    numbered,
    percentile,
    verify_runs,
    wait_done,
)
from floor import sequential_floor


@dataclass(frozen=True)
class Config:
    runs: int
    n_enqueue: int  # most tasks enqueued one by one (the rest of the pool goes in bulk)
    n_drain: int  # largest drain pool
    n_io: int  # largest I/O pool (n_drain for the wide I/O workload)
    n_latency: int
    seconds: float  # a drain pool is sized to take about this long
    latency_budget: float  # seconds of latency probing per run
    calibration: int  # tasks in the calibration drain
    workloads: tuple[str, ...]
    n_aenq: int = 50_000  # most tasks sent by the concurrent async producers
    callers: int = 100  # coroutines sharing one async producer


MIN_ENQUEUE = 250
MAIN_WORKLOADS = ("enqueue", "bulk", "drain", "latency", "gopickup", "rss")
METRIC_KEYS = (
    "enqueue",
    "enqueue_floor_ping",
    "enqueue_floor_go",
    "bulk",
    "drain",
    "weighted",
    "latency_p50",
    "latency_p99",
    "gopickup_p50",
    "gopickup_p99",
    "start_s",
    "aenq",
    "io",
    "rtt",
    "io1k",
    "rss_mb",
    "uss_mb",
    "pss_mb",
    "proc_rss_mb",
    "proc_pss_mb",
    "child_rss_mb",
)


class Bench:
    """Runs the selected workloads ``cfg.runs`` times for one system."""

    def __init__(self, peer: Peer, cfg: Config, url: str, log: Path) -> None:
        self.peer, self.cfg, self.url, self.log = peer, cfg, url, log
        self.r = redis.Redis.from_url(url)
        self.m = {k: Measure() for k in METRIC_KEYS}
        self.notes: list[str] = []
        self.pool = cfg.n_drain
        self.main_total = 0  # tasks in the main drain (the pool, or more for the enqueue floors)
        self.io_pool = cfg.n_io
        self.rate = 1000.0
        self.io_rate = 100.0
        self.extra_pool: dict[str, int] = {}  # rtt / io1k pool sizes
        if not peer.has_bulk:
            self.m["bulk"].na = "no bulk enqueue API"
        if not peer.has_queues:
            self.m["weighted"].na = "a worker serves one queue"
        if not peer.has_async:
            self.m["aenq"].na = "no asyncio producer"
        if not peer.has_unannounced:
            for k in ("gopickup_p50", "gopickup_p99"):
                self.m[k].na = "measures fastq's wake-ups for Go Asynq producers"

    def want(self, w: str) -> bool:
        return w in self.cfg.workloads and (not self.peer.only or w in self.peer.only)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: m.as_json() for k, m in self.m.items()}
        out["pool"] = max(self.pool, self.main_total)
        out["io_pool"] = self.io_pool
        out.update({f"{k}_pool": n for k, n in self.extra_pool.items()})
        out["notes"] = self.notes
        return out

    # ------------------------------------------------------------- plumbing

    def workers(self, spec: WorkerSpec) -> Workers:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(BENCH_DIR / "peers"), str(BENCH_DIR), str(ROOT), env.get("PYTHONPATH", "")]
        )
        commands = self.peer.worker_commands(self.url, spec)
        env.update(self.peer.worker_env())  # after: the commands may pick the environment
        return Workers(commands, env, self.log)

    def fail(self, keys: tuple[str, ...], err: str) -> None:
        for k in keys:
            if not self.m[k].na:
                self.m[k].failures.append(err)

    def guard(self, keys: tuple[str, ...], cycle: Callable[[], None]) -> bool:
        try:
            cycle()
            return True
        except InvalidRun as exc:
            print(f"    invalid: {exc}", flush=True)
            self.fail(keys, str(exc))
        except Exception as exc:  # one system's failure must not stop the others
            traceback.print_exc()
            self.fail(keys, f"{type(exc).__name__}: {exc}")
        return False

    def pre_enqueue(self, jobs: list[Job]) -> None:
        (self.peer.enqueue_bulk if self.peer.has_bulk else self.peer.enqueue)(jobs)

    def timed(self, key: str, fn: Callable[[list[Job]], None], jobs: list[Job]) -> float:
        t0 = time.perf_counter()
        fn(jobs)
        rate = len(jobs) / (time.perf_counter() - t0)
        print(f"    {key}: {rate:,.0f} tasks/s ({len(jobs)} tasks)", flush=True)
        return rate

    def drain(
        self,
        spec: WorkerSpec,
        total: int,
        expect_rate: float,
        then: Callable[[Workers], None] | None = None,
    ) -> float:
        """Start workers on a queue filled with tasks ``0 .. total-1``; wait for all of
        them; verify each ran exactly once (else InvalidRun); the handlers' rate."""
        w = self.workers(spec)
        try:
            try:
                wait_done(self.r, total, min(120.0, 15 + 4 * total / expect_rate), w)
            except Timeout as exc:
                where = self.peer.diagnose(self.r)
                raise Timeout(f"{exc}; {where}" if where else str(exc)) from None
            rate = drain_rate(self.r, total)
            time.sleep(0.3)  # a task run twice would show up now
            verify_runs(self.r, total)
            if then:
                then(w)
            return rate
        finally:
            w.stop()

    # ------------------------------------------------------------ workloads

    def run(self) -> None:
        main_keys = (
            "enqueue",
            "bulk",
            "drain",
            "latency_p50",
            "latency_p99",
            "gopickup_p50",
            "gopickup_p99",
            "rss_mb",
            "uss_mb",
            "pss_mb",
            "proc_rss_mb",
            "proc_pss_mb",
            "child_rss_mb",
        )
        needs_pool = ("enqueue", "bulk", "drain", "weighted", "latency", "gopickup", "rss", "aenq")
        if any(self.want(w) for w in needs_pool) and not self.guard(
            (*main_keys, "weighted"), self.calibrate
        ):
            return
        io = self.want("io") and self.guard(("io",), self.calibrate_io)
        extra = [
            (key, kind, spec)
            for key, kind, spec in (
                ("rtt", "rtt", WorkerSpec()),
                ("io1k", "sleep", WorkerSpec(io=True, wide=True)),
            )
            if self.want(key) and self.guard((key,), partial(self.calibrate_extra, key, kind, spec))
        ]
        for i in range(self.cfg.runs):
            print(f"  run {i + 1}/{self.cfg.runs}", flush=True)
            if any(self.want(w) for w in MAIN_WORKLOADS):
                self.guard(main_keys, self.cycle_main)
            if self.want("aenq") and not self.m["aenq"].na:
                self.guard(("aenq",), self.cycle_aenq)
            if self.want("start"):
                self.guard(("start_s",), self.cycle_start)
            if self.want("weighted") and not self.m["weighted"].na:
                self.guard(("weighted",), self.cycle_weighted)
            if io:
                self.guard(("io",), self.cycle_io)
            for key, kind, spec in extra:
                self.guard((key,), partial(self.cycle_extra, key, kind, spec))

    def _size(self, rate: float, cap: int, floor: int) -> int:
        return max(floor, min(cap, int(rate * self.cfg.seconds)))

    def calibrate(self) -> None:
        self.r.flushdb()
        n = self.cfg.calibration
        self.peer.open(self.url)
        try:
            self.pre_enqueue(numbered(n))
            self.rate = self.drain(WorkerSpec(), n, 50.0)
        finally:
            self.peer.close()
        self.pool = self._size(self.rate, self.cfg.n_drain, min(100, self.cfg.n_drain))
        print(f"  calibration: {self.rate:,.0f} tasks/s -> drain pool {self.pool}", flush=True)

    def calibrate_io(self) -> None:
        self.r.flushdb()
        n = max(20, self.cfg.calibration // 2)
        self.peer.open(self.url)
        try:
            self.pre_enqueue(numbered(n, kind="sleep"))
            self.io_rate = self.drain(WorkerSpec(io=True), n, 20.0)
        finally:
            self.peer.close()
        self.io_pool = self._size(self.io_rate, self.cfg.n_io, min(50, self.cfg.n_io))
        print(f"  calibration: {self.io_rate:,.0f} I/O tasks/s -> pool {self.io_pool}", flush=True)

    def cycle_main(self) -> None:
        """Enqueue one by one, the rest in bulk, drain, then probe latency and RSS."""
        self.r.flushdb()
        # latency and memory are probed on workers that have just drained a pool
        pool = self.pool if any(self.want(w) for w in MAIN_WORKLOADS[1:]) else 0
        # A slow drainer gets a small pool, but a rate over a few dozen enqueues is
        # noise: each enqueue measurement gets at least MIN_ENQUEUE tasks.
        n_one = (
            min(self.cfg.n_enqueue, max(MIN_ENQUEUE, self.pool // 4)) if self.want("enqueue") else 0
        )
        n_rest = max(MIN_ENQUEUE if self.want("bulk") else 0, pool - n_one) if pool else 0
        rest = numbered(n_rest, start=n_one)
        rates: dict[str, float] = {}
        self.peer.open(self.url)
        try:
            if n_one:
                rates["enqueue"] = self.timed("enqueue", self.peer.enqueue, numbered(n_one))
                # The machine's round-trip floor, right after: the same load (report.FLOORS).
                ping, go = sequential_floor(self.url)
                rates["enqueue_floor_ping"], rates["enqueue_floor_go"] = ping, go
                print(
                    f"    sequential floor (raw socket): PING {ping:,.0f}/s,"
                    f" Go's enqueue script {go:,.0f}/s",
                    flush=True,
                )
            if rest and self.want("bulk") and self.peer.has_bulk:
                rates["bulk"] = self.timed("bulk", self.peer.enqueue_bulk, rest)
            elif rest:
                self.pre_enqueue(rest)
            total = n_one + len(rest)
            self.main_total = total
            post = self.latency_and_rss if any(self.want(w) for w in MAIN_WORKLOADS[3:]) else None
            rate = self.drain(WorkerSpec(), total, self.rate, post)
            if self.want("drain"):
                rates["drain"] = rate
                print(f"    drain: {rate:,.0f} tasks/s ({total} tasks)", flush=True)
            # Enqueue rates count only once the drain proved that every task ran.
            for k, v in rates.items():
                self.m[k].runs.append(v)
        finally:
            self.peer.close()

    def latency_and_rss(self, w: Workers) -> None:
        if self.want("latency"):
            self.probe_latency(w, "latency")
        if self.want("gopickup") and self.peer.has_unannounced:
            self.probe_latency(w, "gopickup")
        if self.want("rss"):
            time.sleep(1.0)
            rss, uss, pss, top, top_pss, top_child = (b / 2**20 for b in w.memory())
            self.m["rss_mb"].runs.append(rss)
            self.m["uss_mb"].runs.append(uss)
            self.m["pss_mb"].runs.append(pss)
            self.m["proc_rss_mb"].runs.append(top)
            self.m["proc_pss_mb"].runs.append(top_pss)
            self.m["child_rss_mb"].runs.append(top_child)
            print(
                f"    memory: RSS {rss:.0f} MB, USS {uss:.0f} MB, PSS {pss:.0f} MB over"
                f" {w.process_count()} processes (largest RSS {top:.0f} MB,"
                f" largest PSS {top_pss:.0f} MB, largest child RSS {top_child:.0f} MB)",
                flush=True,
            )

    def probe_latency(self, w: Workers, key: str) -> None:
        """One task at a time to idle workers; the handler records start - enqueue time.

        ``key``: ``latency`` (the system's own enqueue) or ``gopickup`` (tasks written
        as a Go Asynq producer writes them, ``Peer.enqueue_unannounced``).
        """
        self.r.delete(LATENCY)
        time.sleep(0.5)  # let the workers settle into their idle wait
        base = int(self.r.get(DONE) or 0)  # the drained pool, verified: tasks 0 .. base-1
        deadline = time.monotonic() + self.cfg.latency_budget
        sent = 0
        while sent < self.cfg.n_latency and time.monotonic() < deadline:
            job = Job(seq=base + sent, stamp=True)
            if key == "latency":
                self.peer.enqueue([job])
            else:
                self.peer.enqueue_unannounced(job)
            sent += 1
            wait_done(self.r, base + sent, max(1.0, deadline - time.monotonic()) + 5, w)
            time.sleep(random.uniform(0.005, 0.05))
        time.sleep(0.3)  # a probe run twice would show up now
        verify_runs(self.r, base + sent)
        lat = [float(x) * 1000 for x in self.r.lrange(LATENCY, 0, -1)]
        if len(lat) < sent:
            raise Timeout(f"{len(lat)} latency samples for {sent} tasks")
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        self.m[f"{key}_p50"].runs.append(p50)
        self.m[f"{key}_p99"].runs.append(p99)
        print(f"    {key} p50 {p50:.2f} ms, p99 {p99:.2f} ms (n={sent})", flush=True)

    def cycle_weighted(self) -> None:
        self.r.flushdb()
        names = list(QUEUES)
        jobs = [Job(seq=i, queue=names[i % len(names)]) for i in range(self.pool)]
        self.peer.open(self.url)
        try:
            self.pre_enqueue(jobs)
            rate = self.drain(WorkerSpec(queues=tuple(names)), len(jobs), self.rate)
        finally:
            self.peer.close()
        self.m["weighted"].runs.append(rate)
        print(f"    weighted: {rate:,.0f} tasks/s ({len(jobs)} tasks)", flush=True)

    def cycle_io(self) -> None:
        self.r.flushdb()
        jobs = numbered(self.io_pool, kind="sleep")
        self.peer.open(self.url)
        try:
            self.pre_enqueue(jobs)
            rate = self.drain(WorkerSpec(io=True), len(jobs), self.io_rate)
        finally:
            self.peer.close()
        self.m["io"].runs.append(rate)
        print(f"    io: {rate:,.0f} tasks/s ({len(jobs)} tasks)", flush=True)

    def calibrate_extra(self, key: str, kind: str, spec: WorkerSpec) -> None:
        """Size the pool of a real-work workload (``rtt``, ``io1k``) from a small drain."""
        self.r.flushdb()
        n = self.cfg.calibration
        self.peer.open(self.url)
        try:
            self.pre_enqueue(numbered(n, kind=kind))
            rate = self.drain(spec, n, 20.0)
        finally:
            self.peer.close()
        floor = min(100, self.cfg.n_drain)
        self.extra_pool[key] = self._size(rate, self.cfg.n_drain, floor)
        print(
            f"  calibration: {rate:,.0f} {key} tasks/s -> pool {self.extra_pool[key]}", flush=True
        )

    def cycle_extra(self, key: str, kind: str, spec: WorkerSpec) -> None:
        """One drain of ``kind`` tasks (each verified by its sequence number)."""
        self.r.flushdb()
        jobs = numbered(self.extra_pool[key], kind=kind)
        self.peer.open(self.url)
        try:
            self.pre_enqueue(jobs)
            rate = self.drain(spec, len(jobs), 1000.0)
        finally:
            self.peer.close()
        self.m[key].runs.append(rate)
        print(f"    {key}: {rate:,.0f} tasks/s ({len(jobs)} tasks)", flush=True)

    def cycle_aenq(self) -> None:
        """``callers`` coroutines share one async producer; counted once a drain proved
        that every task ran exactly once."""
        self.r.flushdb()
        n = min(self.cfg.n_aenq, max(MIN_ENQUEUE, 2 * self.pool))
        jobs = numbered(n)
        self.peer.open(self.url)
        try:
            rate = self.timed(
                f"enqueue x{self.cfg.callers}",
                partial(self.peer.enqueue_concurrent, callers=self.cfg.callers),
                jobs,
            )
            self.drain(WorkerSpec(), n, self.rate / 2)  # polling peers drain slower than calibrated
        finally:
            self.peer.close()
        self.m["aenq"].runs.append(rate)

    def cycle_start(self) -> None:
        """Start to first task: one task waits in the queue, the workers start, and its
        handler records when it finished."""
        self.r.flushdb()
        self.peer.open(self.url)
        try:
            self.pre_enqueue(numbered(1))
        finally:
            self.peer.close()
        t0 = time.time()
        w = self.workers(WorkerSpec())
        try:
            wait_done(self.r, 1, 60.0, w)
            verify_runs(self.r, 1)
            first = float(self.r.zscore(BOUNDS, "first") or 0)
        finally:
            w.stop()
        if first <= t0:
            raise InvalidRun("no completion time recorded for the first task")
        self.m["start_s"].runs.append(first - t0)
        print(f"    start to first task: {first - t0:.3f} s", flush=True)
