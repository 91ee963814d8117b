"""One worker process without a supervisor, configured from the environment.

``python3 -m fastq.worker module:app`` (handy for development and benchmarks;
``FASTQ_APP_DIR`` names the directory the module is imported from, default the
working directory, appended to ``sys.path``):
the engine plus, unless ``FASTQ_MAINTENANCE=0``, the maintenance loops in a
thread of the same process.
"""

from __future__ import annotations

import os
import sys

from fastq.apploader import AppLoader
from fastq.config import RedisConfig
from fastq.errors import BrokerConfigError, BrokerError, ConfigError
from fastq.rdb.conn import SyncConn
from fastq.worker.process import run_worker
from fastq.worker.settings import WorkerSettings, parse_queues


def settings_from_env(env: dict[str, str] | None = None) -> WorkerSettings:
    """Standalone settings from environment variables.

    Reads FASTQ_REDIS_URL, FASTQ_QUEUES ("critical=6,high=4"), FASTQ_CONCURRENCY,
    FASTQ_LEASE_DURATION, FASTQ_SHUTDOWN_TIMEOUT, FASTQ_FETCH_BATCH and
    FASTQ_FETCH_MAX_BYTES and FASTQ_SKEW_ALLOWANCE.

    Args:
        env: the variables to read; None reads ``os.environ``.
    """
    e = dict(os.environ) if env is None else env
    kw: dict[str, object] = {
        "redis": RedisConfig.from_env(e),
        "queues": parse_queues(e.get("FASTQ_QUEUES") or "default"),
    }
    for name, key, conv in (
        ("concurrency", "FASTQ_CONCURRENCY", int),
        ("fetch_batch", "FASTQ_FETCH_BATCH", int),
        ("fetch_max_bytes", "FASTQ_FETCH_MAX_BYTES", int),
        ("lease_duration", "FASTQ_LEASE_DURATION", float),
        ("shutdown_timeout", "FASTQ_SHUTDOWN_TIMEOUT", float),
        ("skew_allowance", "FASTQ_SKEW_ALLOWANCE", float),
    ):
        if e.get(key):
            kw[name] = conv(e[key])
    return WorkerSettings(**kw)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Run one standalone worker for ``module:app``; returns the exit code.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv``.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m fastq.worker module:app", file=sys.stderr)
        return 2
    try:
        app = AppLoader(args[0], app_dir=os.environ.get("FASTQ_APP_DIR") or ".").load()
    except ConfigError as exc:
        print(f"fastq.worker: {exc}", file=sys.stderr)
        return 2
    settings = settings_from_env()
    try:
        _check_redis_accepts(settings.redis)
    except BrokerConfigError as exc:  # a wrong password or DB index: no retry can help
        print(f"fastq.worker: {exc}", file=sys.stderr)
        return 2
    maintenance = os.environ.get("FASTQ_MAINTENANCE", "1") != "0"
    return run_worker(app, settings, maintenance=maintenance)


def _check_redis_accepts(config: RedisConfig) -> None:
    """Raise BrokerConfigError if Redis refuses the URL; an unreachable Redis is the
    engine's to wait for (as an outage)."""
    conn = SyncConn(config)
    try:
        conn.ping()
    except BrokerConfigError:
        raise
    except BrokerError:
        pass
    finally:
        conn.close()
