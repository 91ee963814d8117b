"""The supervisor's view of one child process, and how to say why a child died."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

from fastq.supervisor.exitcodes import CHILD_BOOT_FAILED

MAINTENANCE_INDEX = 0  # slot 0 is the maintenance process; workers are 1..N


@dataclass(eq=False)
class Child:
    """One forked child as the supervisor tracks it.

    ``replace_reason`` set: a replacement is started and this child is stopped
    gracefully once the replacement is ready (recycle, max memory, reload).
    ``retiring_since`` set: SIGTERM (or SIGQUIT) was sent; it must exit by
    ``kill_deadline`` or it gets SIGKILL.
    """

    index: int
    pid: int
    fd: int
    generation: int
    started: float
    last_seen: float
    ready: bool = False
    busy: int = 0
    capacity: int = 0
    processed: int = 0
    buf: bytes = b""
    replace_reason: str | None = None
    retiring_since: float | None = None
    kill_deadline: float | None = None
    aborted_at: float | None = None
    sent_kill: bool = False
    eof: bool = False
    hosts_maintenance: bool = False  # a worker sent SIGUSR2: it runs the maintenance duties

    @property
    def is_maintenance(self) -> bool:
        return self.index == MAINTENANCE_INDEX

    @property
    def role(self) -> str:
        """``worker`` or ``maintenance``, for logs."""
        return "maintenance" if self.is_maintenance else "worker"

    @property
    def serving(self) -> bool:
        """Counts toward the target: not being stopped, not waiting to be replaced."""
        return self.retiring_since is None and self.replace_reason is None

    def feed(self, data: bytes, now: float) -> list[str]:
        """Take bytes read from the pipe; return the recycle reasons they carried."""
        self.buf += data
        reasons: list[str] = []
        *lines, self.buf = self.buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            if line.startswith("h "):
                parts = line.split()
                with contextlib.suppress(ValueError, IndexError):
                    self.busy, self.capacity, self.processed = (int(p) for p in parts[1:4])
                self.last_seen = now
                self.ready = True
            elif line.startswith("r"):
                reasons.append(line[2:].strip() or "requested by the worker")
                self.last_seen = now
        return reasons

    def signal(self, sig: int) -> bool:
        """Send ``sig``; False if the child is already gone."""
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def describe_exit(status: int, *, we_killed: bool) -> str:
    """Why a child ended, from its ``waitpid`` status, in words for the log."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        if code == 0:
            return "exited cleanly"
        if code == CHILD_BOOT_FAILED:
            return "failed to boot"
        return f"exited with code {code}"
    sig = -code
    text = f"killed by {signal_name(sig)}"
    if sig == signal.SIGKILL and not we_killed:
        text += ": out of memory? (check `dmesg` for the OOM killer)"
    elif sig == signal.SIGABRT and we_killed:
        text += " after it stopped sending heartbeats"
    return text
