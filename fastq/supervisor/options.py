"""The options of ``fastq-worker``, each declared once as a field of ``WorkerOptions``.

Every field made with ``option(...)`` becomes a command-line flag, a ``FASTQ_*``
environment variable, a config-file key and a ``--help`` line (see ``fastq/optstack.py``).
Precedence, highest first: command line, ``FASTQ_*`` environment variable, config
file (``--config`` / ``FASTQ_CONFIG``), built-in default.

To add an option, add one field to ``WorkerOptions`` below, e.g.::

    metrics_port: int = option(0, _non_negative_int, "serve /metrics on PORT (0: off)",
                               metavar="PORT")

and use ``options.metrics_port``; the flag ``--metrics-port``, the variable
``FASTQ_METRICS_PORT``, the config key ``metrics_port`` and the help line follow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from fastq import __version__
from fastq.config import DEFAULT_LEASE_DURATION, DEFAULT_SHUTDOWN_TIMEOUT
from fastq.errors import InvalidOptionError
from fastq.flow.limits import Rate, parse_caps, parse_rates
from fastq.logging import DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS
from fastq.optstack import (
    ENV_PREFIX,
    RedisOptions,
    StackOption,
    click_params,
    declared,
    option,
    parse_context,
    read_values,
)
from fastq.worker.settings import DEFAULT_CONCURRENCY, DEFAULT_SKEW_ALLOWANCE, parse_queues

ENV_CONFIG = ENV_PREFIX + "CONFIG"
DEFAULT_CHILD_TIMEOUT = 30.0  # seconds without a heartbeat before a child counts as stuck
DEFAULT_REDIS_WAIT = 0.0  # 0: wait for Redis forever at startup
PROG = "fastq-worker"
MAINTENANCE_MODES = ("worker", "process")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)


def parse_size(text: Any) -> int:
    """``512MB`` -> bytes. K, M, G, T are powers of 1024 (``KB``/``KiB`` alike); 0 = off."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 512MB, 2GB)")
    power = " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * 1024**power)


def parse_duration(text: Any) -> float:
    """``30``, ``30s``, ``500ms``, ``2m``, ``1h`` -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 30, 30s, 500ms, 2m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[(m.group(2) or "s").lower()]
    return float(m.group(1)) * scale


def _at_least_one_second(text: Any) -> float:
    value = parse_duration(text)
    if value < 1:
        raise ValueError(f"must be at least 1 second, got {text!r}")
    return value


def _int(text: Any) -> int:
    if isinstance(text, bool):
        raise ValueError(f"not an integer: {text!r}")
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None


def _positive_int(text: Any) -> int:
    value = _int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: Any) -> int:
    value = _int(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def _port(text: Any) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port, 0 to 65535, got {value}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(text: Any) -> str:
        value = str(text).strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def _app(value: Any) -> str:
    return str(value)


def _directory(value: Any) -> str:
    path = os.path.abspath(os.path.expanduser(str(value)))
    if not os.path.isdir(path):
        raise ValueError(f"not a directory: {value!r}")
    return path


def _queues(value: Any) -> dict[str, int]:
    if isinstance(value, Mapping):  # a TOML table
        return parse_queues(",".join(f"{k}={v}" for k, v in value.items()))
    return parse_queues(str(value))


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class WorkerOptions(RedisOptions):
    """The resolved options of one ``fastq-worker`` run; each field's help is its declaration.

    ``redis_url`` (may hold a password; log ``redacted`` forms only) comes from
    ``RedisOptions``, shared with the ``fastq`` command. ``sources`` maps an option
    name to where its value came from (cli, env, config, default).
    """

    app: str = option("", _app, "module:attribute of a fastq.App", metavar="APP", argument=True)
    app_dir: str = option(
        ".",
        _directory,
        "directory APP is imported from, added at the end of sys.path",
        metavar="DIR",
        shown_default="the current directory",
    )
    processes: int = option(
        _cpu_count,
        _positive_int,
        "worker processes to fork",
        metavar="N",
        shown_default="CPU count",
    )
    concurrency: int = option(
        DEFAULT_CONCURRENCY, _positive_int, "tasks each worker process runs at once", metavar="N"
    )
    queues: dict[str, int] = option(
        lambda: {"default": 1},
        _queues,
        "queues and weights, e.g. critical=6,high=4,default=2,low=1 (or critical:6)",
        metavar="SPEC",
        shown_default="default=1",
    )
    strict_priority: bool = option(
        False, bool, "always drain higher-weight queues first", flag=True
    )
    queue_limits: dict[str, int] = option(
        dict,
        parse_caps,
        "fleet-wide caps on running tasks per queue, e.g. stripe=5,mail=2"
        " (a cap set with `fastq queue limit` overrides)",
        metavar="SPEC",
        shown_default="none",
    )
    rate_limits: dict[str, Rate] = option(
        dict,
        parse_rates,
        "fleet-wide rate limits on task starts per queue,"
        " e.g. 'stripe=100/s,mail=1000/min burst 50'",
        metavar="SPEC",
        shown_default="none",
    )
    shutdown_timeout: float = option(
        DEFAULT_SHUTDOWN_TIMEOUT,
        parse_duration,
        "seconds a graceful stop waits for running tasks before requeueing them",
        metavar="SECONDS",
    )
    max_tasks_per_child: int = option(
        0,
        _non_negative_int,
        "replace a worker process after this many tasks (0: never)",
        metavar="N",
    )
    max_memory_per_child: int = option(
        0,
        parse_size,
        "replace a worker process whose RSS exceeds this, e.g. 512MB (0: never)",
        metavar="SIZE",
    )
    lease_duration: float = option(
        float(DEFAULT_LEASE_DURATION),
        parse_duration,
        "seconds a task lease lasts; a dead worker's tasks come back after it",
        metavar="SECONDS",
    )
    skew_allowance: float = option(
        DEFAULT_SKEW_ALLOWANCE,
        parse_duration,
        "seconds past a lease's expiry before its task is recovered (clock skew tolerated)",
        metavar="SECONDS",
    )
    child_timeout: float = option(
        DEFAULT_CHILD_TIMEOUT,
        _at_least_one_second,
        "seconds without a heartbeat before a stuck worker process is killed",
        metavar="SECONDS",
    )
    redis_wait: float = option(
        DEFAULT_REDIS_WAIT,
        parse_duration,
        "seconds to wait for Redis at startup before giving up (0: forever)",
        metavar="SECONDS",
    )
    maintenance_in: str = option(
        "worker",
        _choice(MAINTENANCE_MODES),
        "where the maintenance loops (forwarder, recoverer, janitor, scheduler) run:"
        " worker (threads of one worker process) or process (a child of their own)",
        metavar="WHERE",
    )
    scheduler: bool = option(
        False, bool, "also run the periodic-task scheduler with the maintenance loops", flag=True
    )
    scheduler_config: str = option(
        "",
        str,
        "TOML/YAML file of periodic entries for --scheduler (re-read on change)",
        metavar="PATH",
    )
    log_format: str = option(
        DEFAULT_LOG_FORMAT, _choice(LOG_FORMATS), "console or json", metavar="FORMAT"
    )
    log_level: str = option(
        DEFAULT_LOG_LEVEL,
        _choice(LOG_LEVELS),
        "debug, info, warning, error or critical",
        metavar="LEVEL",
    )
    keyspace_wakeups: bool = option(
        True,
        bool,
        "turn on Redis keyspace events for lists (CONFIG SET) and let idle workers hear"
        " pushes that come without a wake-up (Go producers)",
        flag=True,
    )
    uvloop: bool = option(
        True, bool, "run each worker's event loop on uvloop when it is installed", flag=True
    )
    metrics_port: int = option(
        0, _port, "serve /metrics, /healthz and /readyz on this port (0: off)", metavar="PORT"
    )
    metrics_host: str = option(
        "127.0.0.1", str, "interface the metrics port binds (0.0.0.0: all)", metavar="HOST"
    )
    sources: dict[str, str] = field(default_factory=dict)

    def queues_text(self) -> str:
        """``critical=6 high=4`` as shown in the process title."""
        return " ".join(f"{q}={w}" for q, w in self.queues.items())


OPTION_NAMES = {name for name, _default, _spec in declared(WorkerOptions)}


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config`` is eager: its file becomes the default map before other options resolve."""
    if value:
        from fastq.supervisor.config_file import load_config_file  # TOML only with a file

        ctx.default_map = load_config_file(value, OPTION_NAMES)
    return value


def build_command(*, help: str | None = None, epilog: str | None = None) -> click.Command:
    """The ``fastq-worker`` click command: ``--config``, ``--version`` and every declared option.

    Args:
        help: the text above the options in ``--help``.
        epilog: the text below them (signals, precedence, exit codes).
    """
    params: list[click.Parameter] = [
        StackOption(
            ["--config"],
            metavar="FILE",
            envvar=ENV_CONFIG,
            is_eager=True,
            expose_value=True,
            callback=_load_config,
            help=f"TOML config file [env {ENV_CONFIG}]",
        ),
        *click_params(WorkerOptions),
    ]
    command = click.Command(
        PROG,
        params=params,
        help=help,
        epilog=epilog,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    click.version_option(__version__, prog_name=PROG, message="%(prog)s %(version)s")(command)
    return command


def parse_args(
    argv: Sequence[str],
    env: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    command: click.Command | None = None,
) -> WorkerOptions:
    """Resolve the options from ``argv``, ``env`` and the config file (CLI > env > file > default).

    Args:
        argv: the command-line arguments, without the program name.
        env: the environment (``FASTQ_*`` variables are read).
        config: the config file's values by option name; None: read the file named by
            ``--config`` / ``FASTQ_CONFIG``, if any.
        command: the click command (default: ``build_command()``).

    Raises:
        InvalidOptionError: a value does not parse (the message names its source) or
            APP is missing.
        ConfigError: the config file cannot be read or has an unknown key.
        click.ClickException: a usage error; click.exceptions.Exit: --help/--version.
    """
    ctx = parse_context(command or build_command(), argv, env, config, PROG)
    values, sources = read_values(WorkerOptions, ctx)
    if not values["app"]:
        raise InvalidOptionError("app", "APP is required (module:attribute of a fastq.App)")
    return WorkerOptions(sources=sources, **values)


def as_argv(cli: Mapping[str, Any]) -> list[str]:
    """Command-line arguments for option values given by name (``{"processes": "2"}``)."""
    argv: list[str] = []
    flags = {name for name, _d, spec in declared(WorkerOptions) if spec.flag}
    for name, value in cli.items():
        if value is None:
            continue
        dashed = "--" + name.replace("_", "-")
        if name == "app":
            argv.append(str(value))
        elif name in flags:
            argv.append(dashed if value else "--no-" + dashed[2:])
        else:
            argv += [dashed, str(value)]
    return argv


def resolve(
    cli: Mapping[str, Any],
    env: Mapping[str, str],
    config: Mapping[str, Any],
) -> WorkerOptions:
    """Merge the sources, highest first: CLI, environment, config file, default.

    Args:
        cli: values given on the command line by option name (absent options are not in it).
        env: the environment (``FASTQ_*`` variables are read).
        config: values from the config file, by option name.

    Raises:
        InvalidOptionError: a value does not parse or APP is missing.
    """
    return parse_args(as_argv(cli), env, config)
