"""Wires the supervisor to the real engine: worker bodies, maintenance, server state.

The maintenance duties (forwarder, recoverer, janitor, group aggregation, the
scheduler) run once per supervisor, never in a thread of the supervisor: a
process that forks must not have other threads (a lock held by one at fork time
stays held forever in the child), and a stuck Redis call must not stall signal
handling. By default (``--maintenance-in worker``) they are threads of one worker
process, chosen by the supervisor with SIGUSR2 and handed to another when it
dies or retires: a process of their own cost about 5 MB of PSS over the tree
(docs/performance.md). ``--maintenance-in process`` keeps them in a child process
of their own, watched, restarted and killed like any worker.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any

import structlog

from fastq.supervisor.childproc import PipeControl
from fastq.supervisor.options import WorkerOptions
from fastq.supervisor.sdnotify import SdNotifier
from fastq.supervisor.supervisor import ChildBody, Reloader, Supervisor, build_settings
from fastq.worker.settings import ServerIdentity, WorkerSettings

log = structlog.stdlib.get_logger("fastq.worker.maintenance")

MAINTENANCE_BEAT = 0.5  # seconds between the maintenance process's heartbeats


def engine_worker(
    app: Any,
    settings: WorkerSettings,
    index: int,
    *,
    metrics: bool = False,
    scheduler_config: str | None = None,
) -> ChildBody:
    """The body of worker ``index``: the engine's ``run_worker`` (with metrics hooks
    when the metrics port is on). Sent SIGUSR2, it runs the maintenance duties too,
    with the scheduler when ``scheduler_config`` is not None."""

    def body(control: PipeControl) -> int:
        from fastq.worker.process import run_worker

        if not metrics:
            return run_worker(
                app, settings, control=control, scheduler_config=scheduler_config, index=index
            )
        from fastq.metrics.worker import WorkerMetrics  # after fork: files named by our pid

        hooks = WorkerMetrics()
        try:
            return run_worker(
                app,
                settings,
                control=control,
                scheduler_config=scheduler_config,
                index=index,
                hooks=hooks,
            )
        finally:
            hooks.publish()  # the last counts, before the supervisor folds our files

    return body


def engine_maintenance(
    settings: WorkerSettings, app: Any = None, scheduler_config: str | None = None
) -> ChildBody:
    """The body of the maintenance process (``--maintenance-in process``): the
    ``Duties`` threads (the loops with the app's group aggregation, the scheduler
    when ``scheduler_config`` is not None), the main thread proving liveness."""

    def body(control: PipeControl) -> int:
        from fastq.worker.maintenance import Duties

        duties = Duties(settings, app, scheduler_config)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            duties.stop()

        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            signal.signal(sig, on_signal)
        duties.start()
        while not duties.stop_event.is_set():
            if not duties.alive():
                log.error("maintenance loop ended unexpectedly")
                return 1
            control.heartbeat(busy=0, capacity=0, processed=0)
            if not control.parent_alive():
                duties.stop()
            duties.stop_event.wait(MAINTENANCE_BEAT)
        duties.join(timeout=10)
        return 0

    return body


def preload_engine(options: WorkerOptions) -> None:
    """Import what every worker imports, before the first fork: the pages stay
    shared with the children instead of being built again in each one."""
    from fastq import scripts

    scripts.all_scripts()  # the Lua texts and their SHAs, built once for every child
    if options.uvloop:
        with contextlib.suppress(ImportError):
            import uvloop  # noqa: F401


def preload_maintenance(scheduler: bool) -> None:
    """The maintenance duties' modules, imported by the supervisor (shared after
    the fork). With ``--maintenance-in process``, when that process is forked,
    after the workers: it does not delay their start. With ``worker``, before each
    worker's fork, since any worker may come to host them: imported in the host
    after its fork, they cost 0.8 MB more of the tree's PSS (the import writes to
    pages the host shares with the supervisor), for about 2 ms before the first
    fork (docs/performance.md). The scheduler's only with
    ``--scheduler``: what the supervisor imports after the workers' fork writes to
    pages it shares with them."""
    import fastq.scheduler.aggregator
    import fastq.worker.maintenance

    if scheduler:
        import fastq.scheduler.main  # noqa: F401


def build_supervisor(
    options: WorkerOptions,
    app: Any,
    *,
    reloader: Reloader | None = None,
    notifier: SdNotifier | None = None,
) -> Supervisor:
    """The supervisor ``fastq-worker`` runs: real engine, maintenance, server state."""
    from fastq.supervisor.serverstate import RedisServerState

    preload_engine(options)
    identity = ServerIdentity()
    state = RedisServerState(build_settings(options, identity))
    port = None
    if options.metrics_port:
        from fastq.metrics.multiproc import MultiprocDir
        from fastq.metrics.server import MetricsPort

        port = MetricsPort(options.metrics_host, options.metrics_port, MultiprocDir())

    def worker(app: Any, settings: WorkerSettings, index: int) -> ChildBody:
        # Read at each fork, as for the maintenance process below.
        o = sup.options
        scheduler_config = o.scheduler_config if o.scheduler else None
        if o.maintenance_in == "worker":
            preload_maintenance(o.scheduler)
        return engine_worker(
            app, settings, index, metrics=port is not None, scheduler_config=scheduler_config
        )

    sup = Supervisor(
        options,
        app,
        worker_factory=worker,
        metrics=port,
        server_state=state,
        reloader=reloader,
        notifier=notifier,
        identity=identity,
    )

    def maintenance(settings: WorkerSettings) -> ChildBody:
        # Read at each fork: a reload (SIGHUP) brings a new app and new options.
        o = sup.options
        preload_maintenance(o.scheduler)
        return engine_maintenance(settings, sup.app, o.scheduler_config if o.scheduler else None)

    sup.maintenance_factory = maintenance
    return sup
