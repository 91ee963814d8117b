"""What the supervisor tells the outside world each pass of its loop: systemd
(READY, STATUS, WATCHDOG), Asynq's server keys in Redis (ServerInfo, stale
WorkerInfo), and which children grew past the memory limit."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

import structlog

from fastq.errors import FastqError
from fastq.supervisor.children import Child
from fastq.supervisor.options import WorkerOptions
from fastq.supervisor.sdnotify import SdNotifier
from fastq.worker.settings import WorkerSettings

log = structlog.stdlib.get_logger("fastq.supervisor.supervisor")

MEMORY_CHECK_INTERVAL = 1.0
STATUS_INTERVAL = 2.0
PRUNE_MARGIN = 30.0  # seconds past a dead child's leases during which its WorkerInfo is pruned


class ServerState(Protocol):
    """The Asynq-visible server state the supervisor keeps in Redis."""

    def beat(self, settings: WorkerSettings, *, processes: int, status: str, active: int) -> None:
        """Write ServerInfo (TTL'd) and refresh the workers key."""

    def prune(self) -> None:
        """Drop WorkerInfo entries of tasks that are no longer active (a killed child's)."""

    def forget_process(self, pid: int) -> None:
        """Drop the WorkerInfo entries written by worker process ``pid`` (reaped)."""

    def clear(self) -> None:
        """Delete this server's keys (on exit)."""


class Supervised(Protocol):
    """What housekeeping reads from the supervisor, and the one thing it asks of it."""

    @property
    def children(self) -> Mapping[int, Child]: ...

    @property
    def options(self) -> WorkerOptions: ...

    @property
    def settings(self) -> WorkerSettings: ...

    @property
    def target(self) -> int: ...

    @property
    def stopping(self) -> str | None: ...

    @property
    def quiet(self) -> bool: ...

    def want_replacement(self, child: Child, reason: str) -> None:
        """Recycle ``child`` (gracefully) for ``reason``."""


class Housekeeper:
    """The supervisor's periodic reporting, each on its own cadence.

    Args:
        notifier: systemd notifications.
        server_state: the Redis side (None: nothing is written to Redis).
    """

    def __init__(self, notifier: SdNotifier, server_state: ServerState | None) -> None:
        self.notifier = notifier
        self.server_state = server_state
        self.notified_ready = False
        self._next_beat = 0.0
        self._next_prune = 0.0
        self._prune_until = 0.0
        self._next_memory = 0.0
        self._next_status = 0.0
        self._next_watchdog = 0.0
        self._last_status = ""
        self._redis_failing = False
        self.hold_redis_writes = False  # True: nothing is written to Redis (yet)

    @property
    def redis_ok(self) -> bool:
        """False while the server-state writes fail (Redis unreachable)."""
        return not self._redis_failing

    def tick(self, sup: Supervised) -> None:
        """Do whatever is due; called once per pass of the supervisor's loop."""
        now = time.monotonic()
        workers = [c for c in sup.children.values() if not c.is_maintenance]
        up = sum(1 for c in workers if c.serving and c.ready)
        if not self.notified_ready and not sup.stopping and up >= sup.target:
            self.notified_ready = True
            log.info("all worker processes are up", processes=sup.target)
            self.notifier.ready(self.status_text(sup))
        if sup.options.max_memory_per_child and now >= self._next_memory:
            self._next_memory = now + MEMORY_CHECK_INTERVAL
            self._check_memory(sup, workers)
        if now >= self._next_status:
            self._next_status = now + STATUS_INTERVAL
            text = self.status_text(sup)
            if text != self._last_status:
                self._last_status = text
                self.notifier.status(text)
        if self.notifier.watchdog_interval and now >= self._next_watchdog:
            self._next_watchdog = now + self.notifier.watchdog_interval
            self.notifier.watchdog()
        if self.server_state is not None and not self.hold_redis_writes:
            self._beat(sup, now, workers)

    def status_text(self, sup: Supervised) -> str:
        """The ``STATUS=`` line: state, ready processes, running tasks."""
        workers = [c for c in sup.children.values() if not c.is_maintenance]
        state = "stopping" if sup.stopping else ("quiet" if sup.quiet else "running")
        busy = sum(c.busy for c in workers)
        ready = sum(1 for c in workers if c.ready and c.serving)
        return f"{state}: {ready}/{sup.target} worker processes, {busy} tasks running"

    def child_reaped(self, pid: int, recovered_within: float) -> None:
        """A worker process is gone: its tasks no longer run, so no WorkerInfo may
        show them running (Asynqmon would count them until their leases end).

        Args:
            pid: the reaped worker process.
            recovered_within: seconds until its tasks are recovered at the latest
                (lease duration + skew allowance), for the fallback pruning.
        """
        # While Redis is failing, do not stall the loop on it once per reaped child:
        # the pruning after a death catches up once it answers again.
        if self.server_state is None:
            return
        if self._redis_failing:
            self.prune_after_death(recovered_within)
            return
        state = self.server_state
        self._redis_write(lambda: state.forget_process(pid))

    def prune_after_death(self, recovered_within: float) -> None:
        """A worker died holding tasks: prune its WorkerInfo until its leases are
        recovered (``recovered_within`` seconds: lease duration + skew allowance)."""
        self._prune_until = time.monotonic() + recovered_within + PRUNE_MARGIN

    def clear(self) -> None:
        """Delete the server's keys (on exit); a Redis error is logged, not raised."""
        if self.server_state is None:
            return
        try:
            self.server_state.clear()
        except FastqError as exc:
            log.warning("could not clear the server state", error=str(exc))

    def _beat(self, sup: Supervised, now: float, workers: list[Child]) -> None:
        assert self.server_state is not None
        state = self.server_state
        settings = sup.settings
        if now >= self._next_beat:
            self._next_beat = now + settings.heartbeat_interval
            status = "stopped" if (sup.quiet or sup.stopping) else "active"
            active = sum(c.busy for c in workers)
            target = sup.target
            self._redis_write(
                lambda: state.beat(settings, processes=target, status=status, active=active)
            )
        if now >= self._next_prune and now <= self._prune_until:
            self._next_prune = now + max(5.0, settings.heartbeat_interval * 2)
            self._redis_write(state.prune)

    def _redis_write(self, write: Callable[[], None]) -> None:
        """Run one server-state write; say so once when Redis goes away and once back."""
        try:
            write()
        except FastqError as exc:
            if not self._redis_failing:
                log.warning("could not write the server heartbeat", error=str(exc))
            self._redis_failing = True
            return
        if self._redis_failing:
            log.info("server heartbeat written again")
        self._redis_failing = False

    def _check_memory(self, sup: Supervised, workers: list[Child]) -> None:
        import psutil  # only with --max-memory-per-child

        limit = sup.options.max_memory_per_child
        for child in workers:
            if not child.serving or not child.ready:
                continue
            try:
                rss = psutil.Process(child.pid).memory_info().rss
            except psutil.Error:
                continue
            if rss > limit:
                sup.want_replacement(
                    child, f"memory: rss {rss >> 20} MiB over the limit of {limit >> 20} MiB"
                )
