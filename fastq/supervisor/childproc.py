"""The child side of the prefork supervisor: what runs right after ``fork()``.

A child talks to the supervisor over one pipe: short text lines, each written
whole in one ``write`` (under PIPE_BUF, so atomic):

- ``h <busy> <capacity> <processed>``: heartbeat (liveness + load);
- ``r <reason>``: please start a replacement, then stop me gracefully.

The supervisor only ever answers with signals (TERM graceful, QUIT fast, USR1 quiet).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import NoReturn

import structlog
from setproctitle import setproctitle

from fastq.errors import BrokerConnectionError
from fastq.supervisor.exitcodes import CHILD_BOOT_FAILED
from fastq.supervisor.leftovers import end_my_leftovers, install_fork_hook
from fastq.supervisor.wakeup import SUPERVISOR_SIGNALS
from fastq.worker.control import ChildControl

HEARTBEAT_MIN_INTERVAL = 0.2  # seconds: the engine may beat more often; the pipe need not
ORPHAN_POLL = 0.5  # seconds between checks that the supervisor is still there
PR_SET_PDEATHSIG = 1

log = structlog.stdlib.get_logger("fastq.worker.child")


def title_for(
    index: int, busy: int | None = None, capacity: int | None = None, *, hosting: bool = False
) -> str:
    """``fastq-worker: worker 3 (busy 7/10)``; index 0 is the maintenance process, and
    a worker that hosts the maintenance duties says so (``worker 1 +maintenance``)."""
    if index == 0:
        return "fastq-worker: maintenance"
    name = f"fastq-worker: worker {index}" + (" +maintenance" if hosting else "")
    if busy is None:
        return f"{name} (booting)"
    return f"{name} (busy {busy}/{capacity})"


class PipeControl(ChildControl):
    """The ChildControl a forked child hands to the engine.

    Args:
        fd: the write end of this child's pipe to the supervisor.
        index: the child's slot number (shown in the process title).
        ppid: the supervisor's pid, to notice when it is gone.
    """

    def __init__(self, fd: int, index: int, ppid: int) -> None:
        self._fd = fd
        self._index = index
        self._ppid = ppid
        self._last_sent = 0.0
        self._last_load: tuple[int, int] | None = None
        self._parent_gone = False
        self._hosting = False
        self.ready = False  # set by the first heartbeat: boot is over

    def _send(self, line: str) -> None:
        if self._parent_gone:
            return
        try:
            os.write(self._fd, line.encode()[:500] + b"\n")
        except BlockingIOError:
            pass  # the supervisor is busy; the next beat will get through
        except OSError:  # EPIPE: the supervisor closed its end, it is gone
            self._parent_gone = True

    def heartbeat(self, *, busy: int, capacity: int, processed: int) -> None:
        self.ready = True
        load = (busy, capacity)
        changed = load != self._last_load
        if changed:
            self._last_load = load
            setproctitle(title_for(self._index, busy, capacity, hosting=self._hosting))
        now = time.monotonic()
        if changed or now - self._last_sent >= HEARTBEAT_MIN_INTERVAL:
            self._last_sent = now
            self._send(f"h {busy} {capacity} {processed}")

    def request_recycle(self, reason: str) -> None:
        self._send("r " + " ".join(reason.split()))

    def parent_alive(self) -> bool:
        return not self._parent_gone and os.getppid() == self._ppid

    def hosting_maintenance(self) -> None:
        self._hosting = True
        if self._last_load is not None:
            setproctitle(title_for(self._index, *self._last_load, hosting=True))


def _set_parent_death_signal(sig: int) -> None:
    """Linux: have the kernel send ``sig`` to this child when the supervisor dies."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        # The running program's symbols include libc's: no find_library(), which
        # runs ldconfig in a subprocess, in every child.
        prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
        if prctl is None:
            from ctypes.util import find_library  # imports shutil, tempfile, bz2, lzma

            libc = ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)
            prctl = libc.prctl
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _start_orphan_watchdog(ppid: int, grace: float) -> None:
    """Kill this child ``grace`` seconds after the supervisor is gone.

    The engine stops gracefully once ``parent_alive()`` turns false, but with no
    supervisor left nobody would SIGKILL a child whose drain hangs (a dead Redis,
    a handler that never returns): this thread is that last resort. It does not
    depend on the event loop, so a hung loop is covered too.
    """

    def watch() -> None:
        while os.getppid() == ppid:
            time.sleep(ORPHAN_POLL)
        time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="fastq-orphan-watchdog", daemon=True).start()


def _reset_process_state(close_fds: Iterable[int]) -> None:
    # A terminal's Ctrl-C / Ctrl-Z reach only the supervisor's process group; the
    # supervisor decides what children get (TERM for graceful, not the raw INT).
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.set_wakeup_fd(-1)
    for sig in (*SUPERVISOR_SIGNALS, signal.SIGUSR1, signal.SIGUSR2):
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        signal.signal(sig, default)
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    faulthandler.enable()  # SIGABRT from the supervisor dumps every thread's stack
    structlog.contextvars.clear_contextvars()


def child_main(
    target: Callable[[PipeControl], int],
    *,
    index: int,
    write_fd: int,
    ppid: int,
    close_fds: Iterable[int],
    orphan_grace: float,
) -> NoReturn:
    """Run ``target(control)`` in a freshly forked child and exit with its code.

    An exception before the first heartbeat exits with CHILD_BOOT_FAILED so the
    supervisor halts instead of restarting a child that can never start; an
    unreachable Redis is a plain crash (restarted with backoff) instead. A child
    whose supervisor died is killed ``orphan_grace`` seconds later at the latest.
    """
    code = 1
    control = PipeControl(write_fd, index, ppid)
    try:
        _reset_process_state(close_fds)
        _set_parent_death_signal(signal.SIGTERM)
        _start_orphan_watchdog(ppid, orphan_grace)
        setproctitle(title_for(index))
        install_fork_hook(index)
        # A supervisor that died while we forked gets no new worker.
        code = int(target(control) or 0) if os.getppid() == ppid else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BrokerConnectionError as exc:
        log.error("worker process lost Redis", index=index, error=str(exc))
        code = 1
    except BaseException:
        if control.ready:
            log.exception("worker process crashed", index=index)
            code = 1
        else:
            log.exception("worker process failed to boot", index=index)
            code = CHILD_BOOT_FAILED
    finally:
        _end_leftovers(index)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def _end_leftovers(index: int) -> None:
    """End the processes this child's handlers started and left running."""
    try:
        ended = end_my_leftovers()
    except Exception as exc:  # never let the cleanup change the exit code
        log.warning("could not end processes left by handlers", index=index, error=repr(exc))
        return
    if ended:
        log.warning("ended processes that handlers left running", index=index, count=ended)
