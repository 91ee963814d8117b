"""Worker configuration shared by the engine (one process) and the supervisor."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from fastq.config import (
    DEFAULT_ARCHIVE_MAX_AGE,
    DEFAULT_ARCHIVE_MAX_SIZE,
    DEFAULT_LEASE_DURATION,
    DEFAULT_SHUTDOWN_TIMEOUT,
    RedisConfig,
)
from fastq.errors import InvalidOptionError
from fastq.flow.limits import Rate
from fastq.options import validate_queue_name

DEFAULT_QUEUES: dict[str, int] = {"default": 1}
DEFAULT_CONCURRENCY = 10  # per process
DEFAULT_FETCH_BATCH = 0  # 0: as many as free slots allow
DEFAULT_FETCH_MAX_BYTES = 16 * 1024 * 1024  # message bytes per fetch (at least one task)
DEFAULT_POLL_INTERVAL = 0.1  # seconds between polls when idle (Go producers send no wake-up)
DEFAULT_RECOVER_CAP = 3  # crash recoveries that are free before one burns a retry
DEFAULT_HEARTBEAT_INTERVAL = 2.0  # seconds
DEFAULT_SYNC_GRACE = 5.0  # seconds a def handler may overrun its deadline before recycling
DEFAULT_MAINTENANCE_INTERVAL = 0.5  # forwarder / recoverer cadence, seconds
DEFAULT_JANITOR_INTERVAL = 8.0
# Seconds past a lease's expiry before the recoverer takes the task (Asynq: 30 s):
# a recoverer whose clock runs ahead by less than this never takes a live task.
DEFAULT_SKEW_ALLOWANCE = 30.0


@dataclass(frozen=True, kw_only=True)
class ServerIdentity:
    """Who this server is in ``asynq:servers`` / ``asynq:workers`` (host:pid:server_id)."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    server_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Everything a worker process needs to run.

    Args:
        redis: how to reach Redis.
        queues: queue name -> weight (weights are reduced by their GCD).
        strict_priority: try queues in descending weight instead of weighted-random.
        concurrency: tasks one process runs at once.
        fetch_batch: most tasks one fetch moves to active (0: up to the free slots).
        fetch_max_bytes: most message bytes one fetch moves to active (at least one
            task always moves), so a batch of large payloads stays bounded.
        lease_duration: seconds a lease lasts; extended well before it ends.
        shutdown_timeout: seconds a graceful stop waits for running tasks.
        archive_max_size: archived tasks kept per queue (newest first).
        archive_max_age: seconds an archived task is kept.
        recover_cap: lease-expiry recoveries that do not burn a retry (poison-pill cap).
        poll_interval: idle poll cadence for tasks enqueued without a wake-up signal.
        sync_grace: seconds a ``def`` handler may run past its deadline before the
            process asks to be recycled.
        max_tasks_per_child: recycle the process after this many tasks (0: never).
        identity: the server identity written to the Asynq heartbeat keys.
        heartbeat_interval: seconds between Redis heartbeats (servers/workers keys).
        maintenance_interval: seconds between forwarder/recoverer passes.
        janitor_interval: seconds between janitor passes.
        skew_allowance: seconds a lease must be past its expiry before the
            recoverer takes the task: the clock skew between hosts it tolerates
            (see ``docs/reliability.md``).
        uvloop: run the worker's event loop on uvloop when it is installed
            (False: asyncio's own loop).
        keyspace_wakeups: while idle, listen to keyspace events on the pending
            lists so tasks pushed without a wake token (Go producers) start at
            once; needs ``notify-keyspace-events`` with K and l (the poll covers).
        queue_limits: queue -> most tasks of it running at once across the fleet (a
            cap stored with ``fastq queue limit`` overrides it; see
            ``docs/flow-control.md``).
        rate_limits: queue -> fleet-wide rate limit of task starts (GCRA).
    """

    redis: RedisConfig = field(default_factory=RedisConfig.from_env)
    queues: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUEUES))
    strict_priority: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    fetch_batch: int = DEFAULT_FETCH_BATCH
    fetch_max_bytes: int = DEFAULT_FETCH_MAX_BYTES
    lease_duration: float = DEFAULT_LEASE_DURATION
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    archive_max_size: int = DEFAULT_ARCHIVE_MAX_SIZE
    archive_max_age: float = DEFAULT_ARCHIVE_MAX_AGE
    recover_cap: int = DEFAULT_RECOVER_CAP
    poll_interval: float = DEFAULT_POLL_INTERVAL
    sync_grace: float = DEFAULT_SYNC_GRACE
    max_tasks_per_child: int = 0
    identity: ServerIdentity = field(default_factory=ServerIdentity)
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    maintenance_interval: float = DEFAULT_MAINTENANCE_INTERVAL
    janitor_interval: float = DEFAULT_JANITOR_INTERVAL
    skew_allowance: float = DEFAULT_SKEW_ALLOWANCE
    uvloop: bool = True
    keyspace_wakeups: bool = True
    queue_limits: dict[str, int] = field(default_factory=dict)
    rate_limits: dict[str, Rate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.queues:
            raise InvalidOptionError("queues", "at least one queue is required")
        for name, weight in self.queues.items():
            if not name:
                raise InvalidOptionError("queues", "queue names must not be empty")
            if not isinstance(weight, int) or weight < 1:
                raise InvalidOptionError("queues", f"weight of {name!r} must be an int >= 1")
        if self.concurrency < 1:
            raise InvalidOptionError("concurrency", "must be >= 1")
        if self.fetch_batch < 0:
            raise InvalidOptionError("fetch_batch", "must be >= 0")
        if self.fetch_max_bytes < 1:
            raise InvalidOptionError("fetch_max_bytes", "must be >= 1")
        # Lease scores are whole unix seconds (Asynq's layout), so a lease of d
        # seconds really lasts between d - 1 and d: below 2 s healthy workers lose it.
        if self.lease_duration < 2:
            raise InvalidOptionError("lease_duration", "must be >= 2 seconds")
        if self.shutdown_timeout < 0:
            raise InvalidOptionError("shutdown_timeout", "must be >= 0")
        if self.archive_max_size < 1 or self.archive_max_age <= 0:
            raise InvalidOptionError("archive", "max size and max age must be positive")
        if self.recover_cap < 0:
            raise InvalidOptionError("recover_cap", "must be >= 0")
        if self.skew_allowance < 0:
            raise InvalidOptionError("skew_allowance", "must be >= 0 seconds")
        if self.max_tasks_per_child < 0:
            raise InvalidOptionError("max_tasks_per_child", "must be >= 0")
        for name, cap in self.queue_limits.items():
            if not isinstance(cap, int) or cap < 1:
                raise InvalidOptionError("queue_limits", f"cap of {name!r} must be an int >= 1")


def parse_queues(spec: str) -> dict[str, int]:
    """Parse ``critical=6,high=4,default`` (a missing weight means 1).

    ``critical:6`` is read as ``critical=6``, the form ``fastq server ls`` prints; a
    name that itself ends in ``:<digits>`` needs an explicit weight (``v:2=1``).
    Names are checked as the Client checks them, and a name may appear once.
    """
    out: dict[str, int] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, weight = _split_weight(part)
        try:
            validate_queue_name(name)
        except InvalidOptionError as exc:
            raise InvalidOptionError("queues", f"queue name {exc.detail}") from None
        if name in out:
            raise InvalidOptionError("queues", f"queue {name!r} is listed twice in {spec!r}")
        try:
            w = int(weight) if weight else 1
        except ValueError:
            raise InvalidOptionError("queues", f"weight of {name!r} is not an integer") from None
        if w < 1:
            raise InvalidOptionError("queues", f"weight of {name!r} must be >= 1")
        out[name] = w
    if not out:
        raise InvalidOptionError("queues", "no queues given")
    return out


def _split_weight(part: str) -> tuple[str, str]:
    """``a=2`` and ``a:2`` -> ``("a", "2")``; ``a`` -> ``("a", "")``."""
    if "=" in part:
        name, _, weight = part.partition("=")
        return name.strip(), weight.strip()
    name, sep, weight = part.rpartition(":")
    if sep and weight.strip().isdigit():
        return name.strip(), weight.strip()
    return part, ""
