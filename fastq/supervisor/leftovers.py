"""Processes a handler forks: named as such, and ended when their worker process ends.

A handler may fork (``os.fork``, ``multiprocessing``, ``subprocess``). Such a
process would show the worker's title (``fastq-worker: worker 3 (busy 7/10)``) and
inherit its signal handlers, and nothing would end it: it outlived the worker and
the supervisor. Now:

- a process forked from Python in a worker process is retitled
  ``fastq-worker: worker N: forked by a handler`` and gets the default signal
  handlers back (the worker's would turn its SIGTERM into a wake-up of the
  worker's event loop through the inherited wake-up fd);
- when a worker process exits, it sends SIGTERM to what is left in its process
  group and among its descendants, and SIGKILL ``LEFTOVER_GRACE`` seconds later;
- when the supervisor reaps a worker that could not do that (SIGKILL, crash), it
  does the same for that worker's process group.

A process that left the group on purpose (``setsid``, ``start_new_session=True``,
a double fork into a new session) is not ended: it asked to live on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from typing import TYPE_CHECKING

from setproctitle import getproctitle, setproctitle

if TYPE_CHECKING:  # imported where used: most processes never need it
    import psutil

LEFTOVER_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for leftover processes

# Signals a worker process handles itself; a forked handler process gets the defaults.
_WORKER_SIGNALS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)


def handler_fork_title(index: int) -> str:
    """The title of a process that a handler of worker ``index`` forked."""
    return f"fastq-worker: worker {index}: forked by a handler"


def install_fork_hook(index: int) -> None:
    """In a worker process: retitle and reset every process forked from it later."""

    def after_fork_in_child() -> None:
        title = handler_fork_title(index)
        if getproctitle() != title:
            setproctitle(title)
        # The forking thread is the child's main thread, so both calls are allowed.
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for sig in _WORKER_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_DFL)

    os.register_at_fork(after_in_child=after_fork_in_child)


def group_members(pgid: int, *, exclude: int = 0) -> list[psutil.Process]:
    """Live processes in process group ``pgid`` (other than ``exclude``)."""
    import psutil

    found: list[psutil.Process] = []
    for proc in psutil.process_iter():
        if proc.pid in (exclude, 0):
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
    return found


def my_leftovers() -> list[psutil.Process]:
    """This process's descendants and the other members of its process group."""
    import psutil

    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process(me).children(recursive=True):
            found[proc.pid] = proc
    if os.getpgid(0) == me:  # a supervisor child leads its own group
        for proc in group_members(me, exclude=me):
            found.setdefault(proc.pid, proc)
    return list(found.values())


def terminate(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """SIGTERM each process; returns the ones that were still there."""
    import psutil

    sent = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            sent.append(proc)
    return sent


def kill_survivors(procs: Iterable[psutil.Process]) -> int:
    """SIGKILL those of ``procs`` still running (psutil checks the pid was not reused)."""
    import psutil

    killed = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()
                killed += 1
    return killed


def end_my_leftovers(grace: float = LEFTOVER_GRACE) -> int:
    """In an exiting worker process: end what its handlers left running; returns how
    many processes there were. Waits up to ``grace`` seconds before SIGKILL."""
    procs = terminate(my_leftovers())
    if procs:
        wait_then_kill(procs, grace)
    return len(procs)


def wait_then_kill(procs: list[psutil.Process], grace: float = LEFTOVER_GRACE) -> None:
    """Wait up to ``grace`` seconds for ``procs`` to exit, then SIGKILL the rest."""
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=grace)
    kill_survivors(alive)
