"""``fastq-worker APP``: the command that runs worker processes under a supervisor."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
import structlog
from setproctitle import setproctitle

from fastq.apploader import AppLoader
from fastq.config import RedisConfig
from fastq.errors import (
    AppImportError,
    BrokerConfigError,
    BrokerError,
    ConfigError,
    InvalidOptionError,
)
from fastq.logging import configure_logging
from fastq.redact import scrub_argv
from fastq.supervisor.exitcodes import ExitCode, exit_codes_help
from fastq.supervisor.options import PROG, WorkerOptions, as_argv, build_command, parse_args
from fastq.supervisor.sdnotify import SdNotifier
from fastq.supervisor.supervisor import build_settings
from fastq.worker.settings import ServerIdentity

if TYPE_CHECKING:
    from fastq.rdb.conn import SyncConn

log = structlog.stdlib.get_logger("fastq.supervisor.cli")

REDIS_RETRY_FIRST = 0.5  # seconds; doubles per attempt
REDIS_RETRY_MAX = 10.0

SIGNALS_HELP = """\
signals (to the supervisor's pid):
  TERM, INT   graceful stop: stop fetching, let running tasks finish for up to
              --shutdown-timeout, requeue the rest, exit 0; a second one = QUIT
  QUIT        fast stop: requeue running tasks now, exit 0
  TSTP        quiet: stop taking new tasks, keep running the current ones
  HUP         reload: re-read the config file and re-import APP, then replace
              the worker processes one by one (gracefully)
  TTIN, TTOU  one more / one fewer worker process"""


DESCRIPTION = (
    "Run fastq worker processes for APP (module:attribute of a fastq.App) under a "
    "prefork supervisor. APP may also come from FASTQ_APP or the config file's `app` key."
)
EPILOG = (
    "\b\nprecedence: command line > FASTQ_* environment variable > config file "
    "(--config / FASTQ_CONFIG) > default.\n\n"
    f"\b\n{SIGNALS_HELP}\n\n\b\nexit codes:\n{exit_codes_help()}"
)


class Parser:
    """The ``fastq-worker`` command line: parse arguments, render ``--help``."""

    def __init__(self) -> None:
        self.command = build_command(help=DESCRIPTION, epilog=EPILOG)

    def format_help(self) -> str:
        """The ``--help`` text."""
        with click.Context(self.command, info_name=PROG, **self.command.context_settings) as ctx:
            return self.command.get_help(ctx)


def build_parser() -> Parser:
    """The command line; every option also reads ``FASTQ_<NAME>`` and the config file."""
    return Parser()


def load_options(cli: Mapping[str, Any] | Sequence[str], env: Mapping[str, str]) -> WorkerOptions:
    """Resolve the options from the command line, the environment and the config file.

    Args:
        cli: the command-line arguments, or option values by name (``{"config": path}``).
        env: the environment.

    Raises:
        InvalidOptionError, ConfigError, click.ClickException: as ``parse_args``.
    """
    argv = as_argv(cli) if isinstance(cli, Mapping) else list(cli)
    options = parse_args(argv, env, command=build_parser().command)
    build_settings(options, ServerIdentity())  # the settings' own checks, before any fork
    return options


def enable_keyspace_wakeups(options: WorkerOptions, conn: SyncConn | None = None) -> None:
    """Ask Redis to publish list keyspace events; log what happened (never fatal).
    ``conn``: the connection ``wait_for_redis`` opened, reused (no second handshake)."""
    from fastq.rdb.notify import enable_keyspace_events

    config = RedisConfig.from_url(options.redis_url)
    on, what = enable_keyspace_events(config, conn.redis if conn is not None else None)
    if on:
        log.info("keyspace wake-ups on", notify_keyspace_events=what)
    else:
        log.info(
            "keyspace events unavailable: tasks pushed without a wake-up wait for the poll",
            reason=what,
        )


def wait_for_redis(options: WorkerOptions, notifier: SdNotifier) -> SyncConn | None:
    """Ping Redis until it answers; one log line per attempt. Returns the connection
    that answered (the caller closes it), None if --redis-wait ran out."""
    from fastq.rdb.conn import SyncConn

    config = RedisConfig.from_url(options.redis_url, connect_timeout=2.0, socket_timeout=2.0)
    started = time.monotonic()
    delay, attempt = REDIS_RETRY_FIRST, 0
    while True:
        attempt += 1
        conn = SyncConn(config)
        answered = False
        try:
            conn.ping()
            if attempt > 1:
                log.info("Redis is reachable", redis=config.redacted_url, attempts=attempt)
            answered = True
            return conn
        except BrokerConfigError:
            raise  # a wrong password or DB index: waiting cannot fix it
        except BrokerError as exc:  # unreachable, loading, out of clients
            waited = time.monotonic() - started
            if options.redis_wait and waited >= options.redis_wait:
                log.error(
                    "Redis unreachable; giving up",
                    redis=config.redacted_url,
                    error=str(exc),
                    waited=round(waited, 1),
                    redis_wait=options.redis_wait,
                )
                return None
            if options.redis_wait:  # the last wait ends at --redis-wait, not before it
                delay = min(delay, options.redis_wait - waited)
            log.warning(
                "Redis unreachable; retrying",
                redis=config.redacted_url,
                error=str(exc),
                attempt=attempt,
                retry_in=round(delay, 2),
            )
            notifier.status(f"waiting for Redis at {config.redacted_url} (attempt {attempt})")
        finally:
            if not answered:
                conn.close()
        time.sleep(delay)
        delay = min(delay * 2, REDIS_RETRY_MAX)


def log_task_types(spec: str, app: Any) -> None:
    """Say at start which task types APP handles, so a typo in a type name shows at once."""
    types = list(app.task_types)
    if types:
        log.info("serving task types", app=spec, task_types=", ".join(types))
    else:
        log.warning("APP registers no handlers; every task fetched will fail", app=spec)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fastq-worker``; returns an ExitCode."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        scrub_argv(sys.argv)  # seen by tracebacks and tools
        # Replaces the command line `ps` shows, which may hold a --redis-url password.
        setproctitle("fastq-worker: starting")
    try:
        options = load_options(args, dict(os.environ))
        configure_logging(options.log_format, options.log_level)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.ClickException as exc:  # unknown option, missing value
        print(f"fastq-worker: error: {exc.format_message()}", file=sys.stderr)
        print("Try 'fastq-worker --help'.", file=sys.stderr)
        return ExitCode.INVALID_OPTIONS
    except (InvalidOptionError, ConfigError, ValueError) as exc:
        print(f"fastq-worker: error: {exc}", file=sys.stderr)
        return ExitCode.INVALID_OPTIONS
    if "@" in options.redis_url and options.sources.get("redis_url") == "cli":
        log.warning(
            "a Redis password on the command line is visible to other users "
            "until startup; prefer FASTQ_REDIS_URL or an EnvironmentFile"
        )
    try:
        loader = AppLoader(options.app, ("fastq.worker.process",), options.app_dir)
        app = loader.load()
    except AppImportError as exc:
        log.critical("cannot import APP", error=str(exc), exit_code=int(ExitCode.APP_IMPORT_ERROR))
        return ExitCode.APP_IMPORT_ERROR
    log_task_types(options.app, app)
    notifier = SdNotifier()
    # As PID 1 in a container a signal without a handler is ignored: make TERM
    # end the wait for Redis like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        conn = wait_for_redis(options, notifier)
        if conn is None:
            return ExitCode.REDIS_UNREACHABLE
    except BrokerConfigError as exc:
        log.critical("Redis refused the configuration", error=str(exc), exit_code=2)
        return ExitCode.INVALID_OPTIONS
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        if options.keyspace_wakeups:
            enable_keyspace_wakeups(options, conn)
    finally:
        conn.close()  # before the fork: no child inherits it
    from fastq.supervisor.runtime import build_supervisor

    def reloader() -> tuple[WorkerOptions, Any]:
        fresh = load_options(args, dict(os.environ))
        configure_logging(fresh.log_format, fresh.log_level)
        if (fresh.app, fresh.app_dir, fresh.redis_url) != (
            loader.spec,
            options.app_dir,
            options.redis_url,
        ):
            raise ConfigError(
                "APP, --app-dir and the Redis URL cannot change on reload; restart instead"
            )
        return fresh, loader.reload()

    supervisor = build_supervisor(options, app, reloader=reloader, notifier=notifier)
    return supervisor.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
