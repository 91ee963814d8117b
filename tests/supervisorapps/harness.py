"""Start a supervisor as a real subprocess and watch its children (test helper)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
FAKE_MAIN = Path(__file__).with_name("fake_main.py")


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class SupervisorProc:
    """One supervisor subprocess; ``close()`` kills whatever is left of it."""

    def __init__(self, argv: list[str], tmp: Path, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.events_file = tmp / "events"
        self.log_file = tmp / "supervisor.log"
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)])
        full_env["FAKE_EVENTS"] = str(self.events_file)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(ROOT)
        )
        self.pid = self.proc.pid
        self._seen: dict[int, psutil.Process] = {}

    @classmethod
    def fake(cls, args: list[str], tmp: Path, env: dict[str, str] | None = None) -> SupervisorProc:
        return cls([sys.executable, str(FAKE_MAIN), *args], tmp, env)

    @classmethod
    def real(cls, args: list[str], tmp: Path, env: dict[str, str] | None = None) -> SupervisorProc:
        # One host, one clock: no skew to allow for, so a dead worker's tasks come
        # back right after its (short) lease, within the tests' timeouts.
        env = {"FASTQ_SKEW_ALLOWANCE": "0", **(env or {})}
        return cls([sys.executable, "-m", "fastq.supervisor", *args], tmp, env)

    def children(self) -> list[psutil.Process]:
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        alive = []
        for k in kids:
            try:
                if k.status() != psutil.STATUS_ZOMBIE:
                    alive.append(k)
                    self._seen.setdefault(k.pid, k)
            except psutil.NoSuchProcess:
                pass
        return alive

    def workers(self) -> list[psutil.Process]:
        out = []
        for k in self.children():
            try:
                # the maintenance process, not a worker that hosts the duties
                if not " ".join(k.cmdline()).startswith("fastq-worker: maintenance"):
                    out.append(k)
            except psutil.NoSuchProcess:
                pass
        return out

    def titles(self) -> list[str]:
        out = []
        for k in self.children():
            try:
                out.append(" ".join(k.cmdline()))
            except psutil.NoSuchProcess:
                pass
        return out

    def events(self) -> list[list[str]]:
        if not self.events_file.exists():
            return []
        return [line.split() for line in self.events_file.read_text().splitlines()]

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        self.children()  # remember every child, so none outlives the test
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for p in self._seen.values():  # children we saw; psutil refuses a reused pid
            try:
                if p.is_running():
                    p.kill()
            except psutil.NoSuchProcess:
                pass
        self._log.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie is dead, and so is a process that ends while
    it is looked at."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
