"""Leaked processes: no worker a test started outlives it.

A worker left running by a failed or interrupted test keeps reconnecting to its
Redis port; a later server (this session's or the next one's) that gets the same
port then has a stranger taking its tasks (the likeliest cause of a CI run where a
fairness test saw one queue at half its share). So every process a test's body
started and left alive after its teardown is killed and reported, and whatever the
session's fixtures left is killed at its end. (fastq's own children die with their
parent: PR_SET_PDEATHSIG.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from collections.abc import Iterator

import psutil
import pytest

_me = psutil.Process()
_started: dict[str, set[int]] = {}


class LeakedProcessWarning(UserWarning):
    """A test left a process running."""


def _descendants() -> dict[int, psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return {p.pid: p for p in _me.children(recursive=True)}
    return {}


def _describe(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[:200] or p.name()
    except psutil.Error:
        return f"pid {p.pid}"


def _alive(p: psutil.Process) -> bool:
    try:
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _is_server(p: psutil.Process) -> bool:
    # Tests restart the session's Redis (an outage, then recovery): that server is
    # the fixture's, and a stray server takes nobody's tasks; the session end stops it.
    try:
        return p.name().startswith("redis-")
    except psutil.Error:
        return False


def _kill(procs: list[psutil.Process]) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=5)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    # After setup: what module and session fixtures started is theirs to stop.
    _started[item.nodeid] = set(_descendants())
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield
    before = _started.pop(item.nodeid, None)
    if before is None:
        return
    leaked = [
        p
        for pid, p in _descendants().items()
        if pid not in before and _alive(p) and not _is_server(p)
    ]
    if leaked:
        names = "; ".join(_describe(p) for p in leaked)
        _kill(leaked)
        warnings.warn(
            f"{item.nodeid} left {len(leaked)} process(es) running, killed: {names}",
            LeakedProcessWarning,
            stacklevel=1,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    # Fixtures have stopped theirs by now; anything left would outlive the session.
    left = [p for p in _descendants().values() if p.pid != os.getpid()]
    if left:
        _kill(left)
