"""Signals as a queue: handlers only record the signal and wake the main loop.

Python runs signal handlers between bytecodes of the main thread, so a handler
that did real work could interrupt the supervisor in the middle of anything.
Instead each handler appends the signal number to a queue, and
``signal.set_wakeup_fd`` makes the C-level handler write a byte to a pipe, which
ends the main loop's ``select`` at once. The loop then dispatches the queue.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections import deque
from types import FrameType

SUPERVISOR_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGTSTP,
    signal.SIGCHLD,
)


class SignalQueue:
    """Queues the supervisor's signals and wakes ``wait()`` when one arrives."""

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._installed = False

    def install(self) -> None:
        """Take over the supervisor signals (main thread only)."""
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for sig in SUPERVISOR_SIGNALS:
            signal.signal(sig, self._handler)
        self._installed = True

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # SIGCHLD only needs to wake the loop: reaping happens on every pass.
        if signum != signal.SIGCHLD:
            self.pending.append(signum)

    def wait(self, fds: list[int], timeout: float) -> list[int]:
        """Block until a signal, readable data on ``fds``, or ``timeout`` seconds.

        Returns the fds of ``fds`` that are readable.
        """
        if self.pending:
            timeout = 0
        try:
            readable, _, _ = select.select([self.read_fd, *fds], [], [], max(timeout, 0))
        except InterruptedError:  # pragma: no cover - PEP 475 retries select itself
            return []
        if self.read_fd in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.read_fd, 4096):
                    pass
        return [fd for fd in readable if fd != self.read_fd]

    def pop(self) -> int | None:
        return self.pending.popleft() if self.pending else None

    def fds(self) -> tuple[int, int]:
        """The pipe's two ends (a forked child closes them)."""
        return (self.read_fd, self.write_fd)

    def uninstall(self) -> None:
        if self._installed:
            signal.set_wakeup_fd(-1)
            for sig in SUPERVISOR_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            self._installed = False
