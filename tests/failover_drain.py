"""A drain with a failure in the middle: counts lost and duplicate task runs.

A worker process (tests/workerapps/recording.py) drains tasks over 8 queues while a
producer thread keeps enqueuing; the caller injects failures between
``wait_processed`` calls. Every id whose enqueue Redis acknowledged is expected to
run; ``report()`` names the ones that did not (lost) and those that ran twice.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastq.client import Client
from fastq.errors import BrokerError
from fastq.task import Task

TESTS = Path(__file__).parent
QUEUES = [f"q{i}" for i in range(8)]


@dataclass
class Report:
    acked: int
    ran: int
    lost_before: int  # acknowledged before the first failure began
    lost_during: int  # acknowledged while failures were injected
    duplicates: int


class Drain:
    def __init__(self, url: str, tmp: Path, *, wait_replicas: int = 0) -> None:
        self.url = url
        self.record = tmp / "ran.txt"
        self.record.touch()
        self.wait_replicas = wait_replicas
        self.before: list[str] = []
        self.during: list[str] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def prefill(self, n: int) -> None:
        with Client(self.url) as c:
            for q in QUEUES:
                tasks = [Task("record", b"") for _ in range(n // len(QUEUES))]
                self.before += [i.id for i in c.enqueue_many(tasks, queue=q)]

    def start_worker(self, concurrency: int = 20) -> None:
        env = dict(
            os.environ,
            FASTQ_REDIS_URL=self.url,
            FASTQ_RECORD_FILE=str(self.record),
            FASTQ_QUEUES=",".join(QUEUES),
            FASTQ_CONCURRENCY=str(concurrency),
            FASTQ_LEASE_DURATION="4",
            FASTQ_SKEW_ALLOWANCE="1",
            PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]),
        )
        argv = [sys.executable, "-m", "fastq.worker", "workerapps.recording:app"]
        self.proc = subprocess.Popen(argv, env=env, cwd=str(TESTS), stderr=subprocess.DEVNULL)

    def start_producer(self) -> None:
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        with Client(self.url) as c:
            i = 0
            while not self._stop.is_set():
                q = QUEUES[i % len(QUEUES)]
                i += 1
                try:
                    opts = {"wait_replicas": self.wait_replicas} if self.wait_replicas else {}
                    self.during.append(c.enqueue(Task("record", b""), queue=q, **opts).id)
                except BrokerError:
                    self.errors += 1  # not acknowledged: not counted
                    time.sleep(0.05)
                time.sleep(0.002)

    def stop_producer(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def ran(self) -> collections.Counter[str]:
        return collections.Counter(self.record.read_text().split())

    def wait_processed(self, n: int, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            done = len(self.ran())
            if done >= n or time.monotonic() > deadline:
                return done
            time.sleep(0.1)

    def wait_all(self, timeout: float = 20.0) -> None:
        """Until every acknowledged id ran, or ``timeout`` (a task lost with its master
        never runs; recovered ones need a lease of 4 s plus the skew allowance)."""
        want = set(self.before) | set(self.during)
        deadline = time.monotonic() + timeout
        while not want <= set(self.ran()) and time.monotonic() < deadline:
            time.sleep(0.2)

    def report(self) -> Report:
        ran = self.ran()
        return Report(
            acked=len(self.before) + len(self.during),
            ran=sum(ran.values()),
            lost_before=sum(1 for i in self.before if i not in ran),
            lost_during=sum(1 for i in self.during if i not in ran),
            duplicates=sum(1 for c in ran.values() if c > 1),
        )

    def stop(self) -> None:
        self.stop_producer()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
