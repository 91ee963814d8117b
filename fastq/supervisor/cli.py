"""``fastq-worker APP``: the command that runs worker processes under a supervisor."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

import structlog
from setproctitle import setproctitle

from fastq.config import RedisConfig, redact_url
from fastq.errors import (
    AppImportError,
    BrokerConfigError,
    BrokerError,
    ConfigError,
    InvalidOptionError,
)
from fastq.logging import configure_logging
from fastq.supervisor.apploader import AppLoader
from fastq.supervisor.config_file import load_config_file
from fastq.supervisor.exitcodes import ExitCode, exit_codes_help
from fastq.supervisor.options import ENV_PREFIX, OPTION_NAMES, OPTIONS, WorkerOptions, resolve
from fastq.supervisor.sdnotify import SdNotifier
from fastq.supervisor.supervisor import build_settings
from fastq.worker.settings import ServerIdentity

log = structlog.stdlib.get_logger("fastq.supervisor.cli")

ENV_CONFIG = ENV_PREFIX + "CONFIG"
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option also reads ``FASTQ_<NAME>`` and the config file."""
    parser = argparse.ArgumentParser(
        prog="fastq-worker",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run fastq worker processes for APP (module:attribute of a fastq.App) "
        "under a prefork supervisor.",
        epilog=(
            "precedence: command line > FASTQ_* environment variable > config file "
            "(--config / FASTQ_CONFIG) > default.\nAPP may also come from FASTQ_APP or "
            "the config file's `app` key.\n\n"
            f"{SIGNALS_HELP}\n\nexit codes:\n{exit_codes_help()}"
        ),
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("app", nargs="?", metavar="APP", help="module:attribute of a fastq.App")
    parser.add_argument("--config", metavar="FILE", help=f"TOML config file [env {ENV_CONFIG}]")
    for opt in OPTIONS:
        default = "CPU count" if opt.name == "processes" else opt.default
        help_text = f"{opt.help} [env {opt.env}; default {default}]"
        if opt.flag:
            parser.add_argument(opt.cli, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(opt.cli, metavar=opt.metavar, help=help_text)
    return parser


def _scrub_argv(argv: list[str]) -> None:
    """Mask a password given with --redis-url in sys.argv (seen by tracebacks, tools)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--redis-url="):
            argv[i] = "--redis-url=" + redact_url(arg.split("=", 1)[1])
        elif i > 0 and argv[i - 1] == "--redis-url":
            argv[i] = redact_url(arg)


def load_options(cli: Mapping[str, Any], env: Mapping[str, str]) -> WorkerOptions:
    """Resolve the options from the CLI values, the environment and the config file."""
    config_path = cli.get("config") or env.get(ENV_CONFIG)
    known = OPTION_NAMES | {"app"}
    config = load_config_file(config_path, known) if config_path else {}
    options = resolve(cli, env, config)
    build_settings(options, ServerIdentity())  # the settings' own checks, before any fork
    return options


def wait_for_redis(options: WorkerOptions, notifier: SdNotifier) -> bool:
    """Ping Redis until it answers; one log line per attempt. False if --redis-wait ran out."""
    from fastq.rdb.conn import SyncConn

    config = RedisConfig.from_url(options.redis_url, connect_timeout=2.0, socket_timeout=2.0)
    started = time.monotonic()
    delay, attempt = REDIS_RETRY_FIRST, 0
    while True:
        attempt += 1
        conn = SyncConn(config)
        try:
            conn.ping()
            if attempt > 1:
                log.info("Redis is reachable", redis=config.redacted_url, attempts=attempt)
            return True
        except BrokerConfigError:
            raise  # a wrong password or DB index: waiting cannot fix it
        except BrokerError as exc:  # unreachable, loading, out of clients
            waited = time.monotonic() - started
            if options.redis_wait and waited + delay > options.redis_wait:
                log.error(
                    "Redis unreachable; giving up",
                    redis=config.redacted_url,
                    error=str(exc),
                    waited=round(waited, 1),
                    redis_wait=options.redis_wait,
                )
                return False
            log.warning(
                "Redis unreachable; retrying",
                redis=config.redacted_url,
                error=str(exc),
                attempt=attempt,
                retry_in=delay,
            )
            notifier.status(f"waiting for Redis at {config.redacted_url} (attempt {attempt})")
        finally:
            conn.close()
        time.sleep(delay)
        delay = min(delay * 2, REDIS_RETRY_MAX)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fastq-worker``; returns an ExitCode."""
    args = build_parser().parse_args(argv)
    cli = {k: v for k, v in vars(args).items() if v is not None}
    if argv is None:
        _scrub_argv(sys.argv)
        # Replaces the command line `ps` shows, which may hold a --redis-url password.
        setproctitle("fastq-worker: starting")
    env = dict(os.environ)
    try:
        options = load_options(cli, env)
        configure_logging(options.log_format, options.log_level)
    except (InvalidOptionError, ConfigError, ValueError) as exc:
        print(f"fastq-worker: error: {exc}", file=sys.stderr)
        return ExitCode.INVALID_OPTIONS
    if "@" in options.redis_url and options.sources.get("redis_url") == "cli":
        log.warning(
            "a Redis password on the command line is visible to other users "
            "until startup; prefer FASTQ_REDIS_URL or an EnvironmentFile"
        )
    try:
        loader = AppLoader(options.app)
        app = loader.load()
    except AppImportError as exc:
        log.critical("cannot import APP", error=str(exc), exit_code=int(ExitCode.APP_IMPORT_ERROR))
        return ExitCode.APP_IMPORT_ERROR
    notifier = SdNotifier()
    # As PID 1 in a container a signal without a handler is ignored: make TERM
    # end the wait for Redis like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if not wait_for_redis(options, notifier):
            return ExitCode.REDIS_UNREACHABLE
    except BrokerConfigError as exc:
        log.critical("Redis refused the configuration", error=str(exc), exit_code=2)
        return ExitCode.INVALID_OPTIONS
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        signal.signal(signal.SIGTERM, previous)
    from fastq.supervisor.runtime import build_supervisor

    def reloader() -> tuple[WorkerOptions, Any]:
        fresh = load_options(cli, dict(os.environ))
        configure_logging(fresh.log_format, fresh.log_level)
        if fresh.app != loader.spec or fresh.redis_url != options.redis_url:
            raise ConfigError("APP and the Redis URL cannot change on reload; restart instead")
        return fresh, loader.reload()

    supervisor = build_supervisor(options, app, reloader=reloader, notifier=notifier)
    return supervisor.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
