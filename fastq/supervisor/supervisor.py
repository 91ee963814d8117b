"""The prefork supervisor of ``fastq-worker``, modeled on gunicorn's arbiter.

One loop: wait (signals wake it), read children's heartbeats, dispatch queued
signals to ``handle_<name>``, reap dead children, murder stuck ones, then manage
the set (keep N serving, replace recycled ones, keep the maintenance duties
running once: in one worker, or in a process of their own).
Nothing else happens inside signal handlers.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from setproctitle import setproctitle

from fastq.config import RedisConfig
from fastq.errors import FastqError
from fastq.supervisor.childproc import PipeControl, child_main
from fastq.supervisor.children import MAINTENANCE_INDEX, Child, describe_exit, signal_name
from fastq.supervisor.exitcodes import CHILD_BOOT_FAILED, ExitCode
from fastq.supervisor.housekeeping import Housekeeper, ServerState
from fastq.supervisor.leftovers import (
    LEFTOVER_GRACE,
    group_members,
    kill_survivors,
    terminate,
    wait_then_kill,
)
from fastq.supervisor.options import WorkerOptions
from fastq.supervisor.sdnotify import SdNotifier
from fastq.supervisor.wakeup import SignalQueue
from fastq.worker.settings import ServerIdentity, WorkerSettings

if TYPE_CHECKING:
    import psutil

log = structlog.stdlib.get_logger("fastq.supervisor.supervisor")

DUPLICATE_SIGNAL = 0.5  # a second TERM/INT this soon is the same request delivered twice
STOP_GRACE = 5.0  # seconds past shutdown_timeout before a draining child gets SIGKILL
FAST_STOP_TIMEOUT = 5.0  # seconds a SIGQUIT-ed child gets before SIGKILL
ABORT_GRACE = 2.0  # seconds between SIGABRT (stack dump) and SIGKILL for a stuck child
CRASH_WINDOW = 60.0  # seconds of crash history reported in the backoff warning
HEALTHY_UPTIME = 5.0  # a child that lived this long was not crash-looping: no backoff
BACKOFF_BASE = 0.1
BACKOFF_MAX = 30.0  # the frequency cap: while crashing, at most one restart per 30 s
LOOP_TICK = 0.5

# A child body: gets its PipeControl, returns the exit code.
ChildBody = Callable[[PipeControl], int]
# (app, settings, index) -> the body of worker ``index``
WorkerFactory = Callable[[Any, WorkerSettings, int], ChildBody]
MaintenanceFactory = Callable[[WorkerSettings], ChildBody]
Reloader = Callable[[], tuple[WorkerOptions, Any]]


def _trim_heap() -> None:
    """Give the heap's free pages back to the kernel before a fork (glibc's
    ``malloc_trim``): freed at import time, they would stay in the supervisor's
    RSS and be shared by every child. About 1.5 MB of the tree's PSS
    (docs/performance.md)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        with contextlib.suppress(OSError):
            trim(0)


class MetricsHook(Protocol):
    """The metrics port (``fastq.metrics.server.MetricsPort``), served on this loop."""

    def fds(self) -> list[int]: ...
    def serve(self, readable: list[int], sup: Supervisor) -> None: ...
    def child_exited(self, child: Child, code: int) -> None: ...
    def close(self) -> None: ...


def build_settings(options: WorkerOptions, identity: ServerIdentity) -> WorkerSettings:
    """The WorkerSettings every child of this supervisor runs with."""
    return WorkerSettings(
        redis=RedisConfig.from_url(options.redis_url),
        queues=dict(options.queues),
        strict_priority=options.strict_priority,
        concurrency=options.concurrency,
        lease_duration=options.lease_duration,
        skew_allowance=options.skew_allowance,
        shutdown_timeout=options.shutdown_timeout,
        max_tasks_per_child=options.max_tasks_per_child,
        identity=identity,
        uvloop=options.uvloop,
        keyspace_wakeups=options.keyspace_wakeups,
        queue_limits=dict(options.queue_limits),
        rate_limits=dict(options.rate_limits),
    )


class Supervisor:
    """Forks and watches the worker processes of one ``fastq-worker``.

    Args:
        options: the resolved options.
        app: the loaded fastq.App (children inherit it through fork).
        worker_factory: builds the body of a worker child (the real engine in
            ``fastq-worker``; tests of the arbiter mechanics pass a stand-in).
        maintenance_factory: builds the body of the maintenance child, used with
            ``--maintenance-in process`` (None: no maintenance in either mode; with
            ``worker``, worker bodies must take the duties on SIGUSR2).
        server_state: writes the Asynq server heartbeat (None: nothing in Redis).
        reloader: on SIGHUP, returns fresh options and app (None: reload off).
        notifier: systemd notifications.
        identity: the server identity shared by every child.
        metrics: the metrics port (None: off).
    """

    def __init__(
        self,
        options: WorkerOptions,
        app: Any,
        *,
        worker_factory: WorkerFactory,
        maintenance_factory: MaintenanceFactory | None = None,
        server_state: ServerState | None = None,
        reloader: Reloader | None = None,
        notifier: SdNotifier | None = None,
        identity: ServerIdentity | None = None,
        metrics: MetricsHook | None = None,
    ) -> None:
        self.options = options
        self.metrics = metrics
        self.app = app
        self.worker_factory = worker_factory
        self.maintenance_factory = maintenance_factory
        self.reloader = reloader
        self.notifier = notifier or SdNotifier()
        self.identity = identity or ServerIdentity()
        self.settings = build_settings(options, self.identity)
        self.target = options.processes
        self.children: dict[int, Child] = {}  # pid -> child
        self.signals = SignalQueue()
        self.generation = 0
        self.quiet = False
        self.stopping: str | None = None  # None, "graceful" or "fast"
        self.exit_code = ExitCode.OK
        self.crashes: deque[float] = deque()
        self.young_deaths = {"workers": 0, "maintenance": 0}
        self.next_spawn = 0.0
        self.maintenance_next_spawn = 0.0
        # The first maintenance host or process waits for the workers to be ready (at
        # most a LOOP_TICK): booting it beside them would slow their way to the first task.
        self.maintenance_first_spawn = 0.0
        self.housekeeper = Housekeeper(self.notifier, server_state)
        self._stop_requested = 0.0
        # Processes a dead child's handlers left in its group: SIGKILL at the deadline.
        self._leftovers: list[tuple[float, list[psutil.Process]]] = []

    # -- the loop -------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the ExitCode."""
        self.signals.install()
        self._set_title()
        log.info(
            "supervisor started",
            processes=self.target,
            concurrency=self.options.concurrency,
            queues=self.options.queues_text(),
            redis=RedisConfig.from_url(self.options.redis_url).redacted_url,
            server_id=self.identity.server_id,
        )
        # The first server-state write waits like the maintenance process: with few
        # cores it would take CPU the workers need on their way to their first fetch
        # (a worker's first beat, "ready", comes once that fetch is done).
        self.maintenance_first_spawn = time.monotonic() + LOOP_TICK
        self.housekeeper.hold_redis_writes = True
        try:
            self.manage()  # fork now: the first wait would otherwise delay it a LOOP_TICK
            while True:
                now = time.monotonic()
                fds = [c.fd for c in self.children.values() if not c.eof]
                fds += self.metrics.fds() if self.metrics else []
                readable = self.signals.wait(fds, self._timeout(now))
                self._read_children(readable)
                if self.metrics and readable:
                    self.metrics.serve(readable, self)
                while (sig := self.signals.pop()) is not None:
                    self._dispatch(sig)
                self.reap()
                self.murder()
                if self.stopping and not self.children:
                    break
                self.manage()
                self.housekeeper.tick(self)
        except Exception:
            log.exception("supervisor failed")
            self.exit_code = ExitCode.FAILURE
            self.stopping = "fast"
            self._kill_all(signal.SIGKILL)
            self._reap_blocking(2.0)
        finally:
            self._on_exit()
        return int(self.exit_code)

    def _timeout(self, now: float) -> float:
        if self.next_spawn > now:
            return min(LOOP_TICK, self.next_spawn - now)
        return LOOP_TICK

    def _dispatch(self, sig: int) -> None:
        name = signal_name(sig)
        handler = getattr(self, "handle_" + name[3:].lower(), None)
        log.info("signal received", signal=name)
        if handler is not None:
            handler()

    def _read_children(self, readable: list[int]) -> None:
        if not readable:
            return
        now = time.monotonic()
        by_fd = {c.fd: c for c in self.children.values()}
        for fd in readable:
            child = by_fd.get(fd)
            if child is None:
                continue
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                child.eof = True  # the child is exiting; stop polling it, reap() will tell
                continue
            was_ready = child.ready
            for reason in child.feed(data, now):
                # A child that asks to be replaced stops itself, its duties first:
                # the next pass hands them to another worker.
                child.hosts_maintenance = False
                self.want_replacement(child, reason)
            if child.ready and not was_ready:
                log.info(f"{child.role} process ready", index=child.index, child_pid=child.pid)
                if self.quiet and not child.is_maintenance:
                    child.signal(signal.SIGUSR1)

    # -- signal handlers (called from the loop, never from the handler) ---------

    def handle_term(self) -> None:
        """Graceful stop; a second TERM/INT makes it fast."""
        if self.stopping:
            # An init system may signal both the pid and its group at once: only a
            # second request that comes later (a second Ctrl-C) means "hurry".
            if time.monotonic() - self._stop_requested >= DUPLICATE_SIGNAL:
                self.handle_quit()
            return
        self._stop_requested = time.monotonic()
        self.stopping = "graceful"
        deadline = time.monotonic() + self.options.shutdown_timeout + STOP_GRACE
        log.info("stopping gracefully", shutdown_timeout=self.options.shutdown_timeout)
        self.notifier.stopping("draining running tasks")
        self._set_title()
        for child in list(self.children.values()):
            self._retire(child, signal.SIGTERM, deadline)

    handle_int = handle_term

    def handle_quit(self) -> None:
        """Fast stop: children requeue running tasks and exit at once."""
        first = self.stopping != "fast"
        self.stopping = "fast"
        if first:
            log.info("stopping fast")
            self.notifier.stopping("fast shutdown")
        deadline = time.monotonic() + FAST_STOP_TIMEOUT
        for child in list(self.children.values()):
            child.retiring_since = child.retiring_since or time.monotonic()
            child.kill_deadline = min(child.kill_deadline or deadline, deadline)
            child.signal(signal.SIGQUIT)

    def handle_tstp(self) -> None:
        """Quiet: stop taking new tasks everywhere, finish the running ones."""
        if self.quiet or self.stopping:
            return
        self.quiet = True
        log.info("quiet: worker processes stop fetching new tasks")
        for child in self.children.values():
            if not child.is_maintenance:
                child.signal(signal.SIGUSR1)
        self._set_title()

    def handle_ttin(self) -> None:
        self.target += 1
        log.info("one more worker process", processes=self.target)
        self._set_title()

    def handle_ttou(self) -> None:
        if self.target <= 1:
            log.info("already at one worker process")
            return
        self.target -= 1
        log.info("one fewer worker process", processes=self.target)
        self._set_title()

    def handle_hup(self) -> None:
        """Reload: re-read config and app; new children replace the old gracefully."""
        if self.stopping:
            return
        if self.reloader is None:
            log.warning("reload is not available in this mode")
            return
        self.notifier.reloading()
        try:
            options, app = self.reloader()
        except (FastqError, ValueError) as exc:
            log.error("reload failed; keeping the running configuration", error=str(exc))
            self.notifier.ready(self.housekeeper.status_text(self))
            return
        previous = self.options.processes
        self.options, self.app = options, app
        # The replaced app's modules are cycles (functions <-> module dicts) among
        # the objects frozen at the last fork: collect them, the next fork freezes
        # again. The old children, which share the pages this touches, are leaving.
        gc.unfreeze()
        gc.collect()
        self.settings = build_settings(options, self.identity)
        self._retarget(options.processes, previous)
        self.generation += 1
        self.housekeeper.notified_ready = False  # READY=1 again once the new ones are up
        log.info(
            "reloading: new worker processes will replace the old ones",
            processes=self.target,
            queues=options.queues_text(),
        )
        for child in self.children.values():
            if child.is_maintenance:
                self._retire(child, signal.SIGTERM)
            else:
                self.want_replacement(child, "reload", log_it=False)
        self._set_title()

    # -- children -------------------------------------------------------------

    def want_replacement(self, child: Child, reason: str, *, log_it: bool = True) -> None:
        if child.replace_reason is not None or child.retiring_since is not None:
            return
        child.replace_reason = reason
        if log_it:
            log.info(
                "replacing worker process", index=child.index, child_pid=child.pid, reason=reason
            )

    def _retire(self, child: Child, sig: int, deadline: float | None = None) -> None:
        if child.retiring_since is not None and sig == signal.SIGTERM:
            return
        now = time.monotonic()
        child.retiring_since = now
        child.kill_deadline = deadline or now + self.options.shutdown_timeout + STOP_GRACE
        child.signal(sig)

    def spawn(self, index: int) -> Child:
        """Fork one child into slot ``index`` (0: maintenance)."""
        if index == MAINTENANCE_INDEX:
            assert self.maintenance_factory is not None
            body = self.maintenance_factory(self.settings)
        else:
            body = self.worker_factory(self.app, self.settings, index)
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(write_fd, False)
        inherited = [read_fd, *self.signals.fds(), *(c.fd for c in self.children.values())]
        inherited += self.metrics.fds() if self.metrics else []
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        ppid = os.getpid()
        # Objects alive now move to the permanent generation: a full collection in
        # the child would otherwise write to every object's GC header and copy most
        # of the pages it shares with the supervisor (docs/performance.md).
        gc.freeze()
        _trim_heap()
        pid = os.fork()
        if pid == 0:  # the child never returns from here
            child_main(
                body,
                index=index,
                write_fd=write_fd,
                ppid=ppid,
                close_fds=inherited,
                orphan_grace=self.options.shutdown_timeout + STOP_GRACE,
            )
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        now = time.monotonic()
        child = Child(
            index=index, pid=pid, fd=read_fd, generation=self.generation, started=now, last_seen=now
        )
        self.children[pid] = child
        log.debug("forked", index=index, child_pid=pid)
        return child

    def reap(self) -> None:
        """Collect every dead child (waitpid(-1, WNOHANG) until none is left)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._on_child_exit(child, status)

    def _on_child_exit(self, child: Child, status: int) -> None:
        with contextlib.suppress(OSError):
            while data := os.read(child.fd, 65536):  # last words: a final heartbeat
                child.feed(data, time.monotonic())
        os.close(child.fd)
        self._end_leftovers(child)
        code = os.waitstatus_to_exitcode(status)
        if self.metrics:
            self.metrics.child_exited(child, code)
        recovered_within = self.settings.lease_duration + self.settings.skew_allowance
        if not child.is_maintenance:
            self.housekeeper.child_reaped(child.pid, recovered_within)
        if code != 0 and not child.is_maintenance:
            # Fallback while Redis refused the removal: prune until its leases are recovered.
            self.housekeeper.prune_after_death(recovered_within)
        we_killed = child.sent_kill or child.aborted_at is not None
        why = describe_exit(status, we_killed=we_killed)
        fields = {"role": child.role, "index": child.index, "child_pid": child.pid, "why": why}
        if code == CHILD_BOOT_FAILED and not self.stopping:
            log.critical(
                "a worker process failed to boot; stopping (see its error above)", **fields
            )
            self.exit_code = ExitCode.WORKER_BOOT_ERROR
            self.handle_quit()
            return
        asked = child.retiring_since is not None or child.replace_reason is not None
        if asked or self.stopping:
            clean = code in (0, -signal.SIGTERM, -signal.SIGQUIT)
            (log.info if clean else log.warning)("worker process stopped", **fields)
            return
        log.error("worker process died; restarting it", **fields)
        self._record_crash(child)

    def _record_crash(self, child: Child) -> None:
        """Schedule the restart: at once after a child that had been healthy, with a
        doubling delay (capped) while children keep dying young: a crash loop."""
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and self.crashes[0] < now - CRASH_WINDOW:
            self.crashes.popleft()
        kind = "maintenance" if child.is_maintenance else "workers"
        if now - child.started >= HEALTHY_UPTIME:
            self.young_deaths[kind] = 0
        else:
            self.young_deaths[kind] += 1
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** self.young_deaths[kind])
        if child.is_maintenance:
            self.maintenance_next_spawn = now + delay
        else:
            self.next_spawn = max(self.next_spawn, now + delay)
        if delay >= 1:
            log.warning(
                "worker processes keep dying at startup; backing off",
                restart_in=round(delay, 1),
                crashes_last_minute=len(self.crashes),
            )

    def _end_leftovers(self, child: Child) -> None:
        # A child that died without ending what its handlers forked (SIGKILL, crash)
        # leaves them in its process group, named after its pid.
        procs = terminate(group_members(child.pid))
        if procs:
            log.warning(
                "ending processes left by a dead worker process's handlers",
                child_pid=child.pid,
                count=len(procs),
            )
            self._leftovers.append((time.monotonic() + LEFTOVER_GRACE, procs))

    def murder(self) -> None:
        """Kill children that stopped beating or overran their stop deadline, and
        leftover processes of dead children that ignored SIGTERM."""
        now = time.monotonic()
        while self._leftovers and self._leftovers[0][0] <= now:
            kill_survivors(self._leftovers.pop(0)[1])
        timeout = self.options.child_timeout
        for child in list(self.children.values()):
            if child.sent_kill:
                continue
            if child.aborted_at is not None:
                if now - child.aborted_at >= ABORT_GRACE:
                    child.sent_kill = child.signal(signal.SIGKILL)
            elif child.kill_deadline is not None and now >= child.kill_deadline:
                log.warning(
                    "worker process did not stop in time; killing it",
                    index=child.index,
                    child_pid=child.pid,
                )
                child.sent_kill = child.signal(signal.SIGKILL)
            elif child.retiring_since is None and now - child.last_seen > timeout:
                log.error(
                    "worker process is stuck (no heartbeat); aborting it",
                    index=child.index,
                    child_pid=child.pid,
                    silent_for=round(now - child.last_seen, 1),
                )
                child.aborted_at = now
                child.signal(signal.SIGABRT)

    def manage(self) -> None:
        """Keep ``target`` workers serving, retire extras, replace recycled ones."""
        if self.stopping:
            return
        now = time.monotonic()
        workers = [c for c in self.children.values() if not c.is_maintenance]
        serving = [c for c in workers if c.serving]
        if len(serving) < self.target and not self.quiet and now >= self.next_spawn:
            used = {c.index for c in workers}
            for _ in range(self.target - len(serving)):
                index = next(i for i in range(1, len(used) + 2) if i not in used)
                used.add(index)
                self.spawn(index)
        elif len(serving) > self.target:
            extra = sorted(serving, key=lambda c: (c.ready, -c.index))[: len(serving) - self.target]
            for child in extra:
                log.info("retiring worker process", index=child.index, child_pid=child.pid)
                self._retire(child, signal.SIGTERM)
        ready = sum(1 for c in serving if c.ready)
        waiting = [c for c in workers if c.replace_reason and c.retiring_since is None]
        waiting.sort(key=lambda c: c.started)
        # One old child leaves per new child that is ready: capacity never drops.
        while waiting and ready + len(waiting) > self.target:
            self._retire(waiting.pop(0), signal.SIGTERM)
        self._manage_maintenance(now)

    def _manage_maintenance(self, now: float) -> None:
        """Keep the maintenance duties running once: in a process of their own
        (``--maintenance-in process``), or in the lowest-numbered ready worker, which a
        SIGUSR2 makes their host (``worker``). A host that dies or starts retiring
        stops them; the next pass hands them to another worker. Nothing starts, and
        the server state is not written, before the workers first report ready."""
        if now < self.maintenance_first_spawn:
            workers = [c for c in self.children.values() if not c.is_maintenance]
            if len(workers) < self.target or not all(c.ready for c in workers):
                return
            self.maintenance_first_spawn = 0.0
        self.housekeeper.hold_redis_writes = False
        if self.maintenance_factory is None or now < self.maintenance_next_spawn:
            return
        in_worker = self.options.maintenance_in == "worker"
        current = [
            c
            for c in self.children.values()
            if (c.is_maintenance or c.hosts_maintenance) and c.retiring_since is None
        ]
        if current:
            return
        if not in_worker:
            self.spawn(MAINTENANCE_INDEX)
            return
        hosts = [c for c in self.children.values() if not c.is_maintenance and c.serving]
        hosts = [c for c in hosts if c.ready and not c.eof]
        if not hosts:
            return
        host = min(hosts, key=lambda c: c.index)
        if host.signal(signal.SIGUSR2):
            host.hosts_maintenance = True
            log.info(
                "maintenance duties run in worker process", index=host.index, child_pid=host.pid
            )

    def _set_title(self) -> None:
        state = " stopping" if self.stopping else (" quiet" if self.quiet else "")
        setproctitle(
            f"fastq-worker: supervisor{state} [{self.options.queues_text()}] x{self.target}"
        )

    # -- exit -----------------------------------------------------------------

    def _kill_all(self, sig: int) -> None:
        for child in self.children.values():
            child.sent_kill = child.sent_kill or sig == signal.SIGKILL
            child.signal(sig)

    def _retarget(self, configured: int, previous: int) -> None:
        """After a reload: keep TTIN/TTOU scaling unless the configured count changed."""
        if configured != previous:
            if self.target != previous:
                log.info(
                    "reload: the configured process count replaces TTIN/TTOU scaling",
                    processes=configured,
                    scaled_to=self.target,
                )
            self.target = configured
        elif self.target != configured:
            log.info(
                "reload: keeping TTIN/TTOU scaling",
                processes=self.target,
                configured=configured,
            )

    def _reap_blocking(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)

    @property
    def child_timeout(self) -> float:
        """Seconds of heartbeat silence before a child counts as stuck."""
        return self.options.child_timeout

    @property
    def redis_ok(self) -> bool:
        """False while the server heartbeat cannot be written."""
        return self.housekeeper.redis_ok

    def _on_exit(self) -> None:
        if self.metrics:
            self.metrics.close()
        leftovers = [p for _, procs in self._leftovers for p in procs]
        if leftovers:
            wait_then_kill(leftovers)
        self.housekeeper.clear()
        self.notifier.stopping()
        self.signals.uninstall()
        log.info(
            "supervisor stopped",
            exit_code=int(self.exit_code),
            reason=self._exit_reason(),
        )

    def _exit_reason(self) -> str:
        if self.exit_code == ExitCode.OK and self.stopping == "fast":
            return "stopped on request, fast: running tasks were requeued"
        if self.exit_code == ExitCode.OK and self.stopping == "graceful":
            return "stopped on request after draining"
        return ExitCode(self.exit_code).meaning
