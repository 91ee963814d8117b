"""Run a scheduler: standalone (``fastq scheduler APP``) or inside ``fastq-worker``.

Standalone, the process runs one ``Scheduler`` in its main thread. SIGTERM and
SIGINT stop it (it removes its entries from ``asynq:schedulers``); SIGHUP re-reads
the config file. The handlers only set events. Run any number of them: each tick
is enqueued once (see docs/scheduling.md). systemd/fastq-scheduler.service is a
unit template.
"""

from __future__ import annotations

import signal
import threading
from datetime import tzinfo
from types import FrameType
from typing import Any

import structlog

from fastq.config import RedisConfig
from fastq.scheduler.hooks import Hooks
from fastq.scheduler.provider import FileEntries
from fastq.scheduler.runner import EntrySource, Scheduler, StaticEntries

log = structlog.get_logger("fastq.scheduler")


def build_scheduler(
    app: Any,
    redis: RedisConfig,
    config_path: str | None = None,
    *,
    tz: str | tzinfo | None = None,
) -> Scheduler:
    """A Scheduler for the app's entries plus those of ``config_path`` (if any).

    Args:
        app: the fastq.App (its ``entries`` and ``scheduler_hooks`` are used).
        redis: where to enqueue.
        config_path: a TOML/YAML entries file, re-read when it changes.
        tz: the scheduler's zone for entries without one (else the file's, else UTC).

    Raises ``ConfigError`` if the file cannot be read, ``InvalidOptionError`` for a
    bad entry.
    """
    code = list(getattr(app, "entries", []))
    source: EntrySource = FileEntries(config_path, code) if config_path else StaticEntries(code)
    hooks = getattr(app, "scheduler_hooks", None)
    return Scheduler(redis, source, tz=tz, hooks=hooks if isinstance(hooks, Hooks) else None)


def run(scheduler: Scheduler) -> int:
    """Run ``scheduler`` in this (main) thread until SIGTERM/SIGINT; SIGHUP reloads.

    Returns the process exit code (0 after a signal-initiated stop).
    """
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        scheduler.reload_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    log.info("scheduler starting", scheduler_id=scheduler.id, redis=scheduler.redis.redacted_url)
    scheduler.run(stop)
    log.info("scheduler stopped", scheduler_id=scheduler.id, fired=scheduler.fired)
    return 0
