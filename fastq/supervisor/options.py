"""The options of ``fastq-worker``: one table drives the CLI, the environment, the
config file and the docs.

Precedence, highest first: command line, ``FASTQ_*`` environment variable, config
file (``--config`` / ``FASTQ_CONFIG``), built-in default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastq.config import DEFAULT_LEASE_DURATION, DEFAULT_REDIS_URL, DEFAULT_SHUTDOWN_TIMEOUT
from fastq.errors import InvalidOptionError
from fastq.logging import DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS
from fastq.worker.settings import DEFAULT_CONCURRENCY, parse_queues

ENV_PREFIX = "FASTQ_"
DEFAULT_CHILD_TIMEOUT = 30.0  # seconds without a heartbeat before a child counts as stuck
DEFAULT_REDIS_WAIT = 0.0  # 0: wait for Redis forever at startup

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_size(text: str) -> int:
    """``512MB`` -> bytes. K, M, G, T are powers of 1024 (``KB``/``KiB`` alike); 0 = off."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 512MB, 2GB)")
    power = " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * 1024**power)


def parse_duration(text: str) -> float:
    """``30``, ``30s``, ``500ms``, ``2m``, ``1h`` -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 30, 30s, 500ms, 2m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[(m.group(2) or "s").lower()]
    return float(m.group(1)) * scale


def _at_least_one_second(text: str) -> float:
    value = parse_duration(text)
    if value < 1:
        raise ValueError("must be at least 1 second")
    return value


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true/false, 1/0, yes/no)")


def _positive_int(text: str) -> int:
    value = int(str(text))
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(str(text))
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = str(text).strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _queues(value: Any) -> dict[str, int]:
    if isinstance(value, Mapping):  # a TOML table
        return parse_queues(",".join(f"{k}={v}" for k, v in value.items()))
    return parse_queues(str(value))


@dataclass(frozen=True)
class Option:
    """One option: its flag, environment variable, parser, default and help line."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    metavar: str = ""
    flag: bool = False  # a boolean switch (--x / --no-x)

    @property
    def cli(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _cpu_count() -> int:
    return os.cpu_count() or 1


OPTIONS: tuple[Option, ...] = (
    Option(
        "redis_url",
        str,
        DEFAULT_REDIS_URL,
        "Redis URL: redis://[user:password@]host:port/db, rediss:// or unix://; "
        "prefer the environment variable when it holds a password",
        "URL",
    ),
    Option("processes", _positive_int, None, "worker processes to fork", "N"),
    Option(
        "concurrency",
        _positive_int,
        DEFAULT_CONCURRENCY,
        "tasks each worker process runs at once",
        "N",
    ),
    Option(
        "queues",
        _queues,
        "default=1",
        "queues and weights, e.g. critical=6,high=4,default=2,low=1",
        "SPEC",
    ),
    Option(
        "strict_priority", parse_bool, False, "always drain higher-weight queues first", flag=True
    ),
    Option(
        "shutdown_timeout",
        parse_duration,
        DEFAULT_SHUTDOWN_TIMEOUT,
        "seconds a graceful stop waits for running tasks before requeueing them",
        "SECONDS",
    ),
    Option(
        "max_tasks_per_child",
        _non_negative_int,
        0,
        "replace a worker process after this many tasks (0: never)",
        "N",
    ),
    Option(
        "max_memory_per_child",
        parse_size,
        0,
        "replace a worker process whose RSS exceeds this, e.g. 512MB (0: never)",
        "SIZE",
    ),
    Option(
        "lease_duration",
        parse_duration,
        float(DEFAULT_LEASE_DURATION),
        "seconds a task lease lasts; a dead worker's tasks come back after it",
        "SECONDS",
    ),
    Option(
        "child_timeout",
        _at_least_one_second,
        DEFAULT_CHILD_TIMEOUT,
        "seconds without a heartbeat before a stuck worker process is killed",
        "SECONDS",
    ),
    Option(
        "redis_wait",
        parse_duration,
        DEFAULT_REDIS_WAIT,
        "seconds to wait for Redis at startup before giving up (0: forever)",
        "SECONDS",
    ),
    Option(
        "scheduler",
        parse_bool,
        False,
        "also run the periodic-task scheduler in the maintenance process",
        flag=True,
    ),
    Option(
        "scheduler_config",
        str,
        "",
        "TOML/YAML file of periodic entries for --scheduler (re-read on change)",
        "PATH",
    ),
    Option("log_format", _choice(LOG_FORMATS), DEFAULT_LOG_FORMAT, "console or json", "FORMAT"),
    Option(
        "log_level",
        _choice(LOG_LEVELS),
        DEFAULT_LOG_LEVEL,
        "debug, info, warning, error or critical",
        "LEVEL",
    ),
)
OPTION_NAMES = {o.name for o in OPTIONS}


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """The resolved options of one ``fastq-worker`` run.

    Args:
        app: ``module:attribute`` of the fastq.App.
        redis_url: the Redis URL (may hold a password; log ``redacted`` forms only).
        processes: worker processes to keep running.
        concurrency: tasks per worker process.
        queues: queue name -> weight.
        strict_priority: strict instead of weighted queue order.
        shutdown_timeout: seconds a graceful stop waits for running tasks.
        max_tasks_per_child: recycle a child after this many tasks (0: never).
        max_memory_per_child: recycle a child above this RSS in bytes (0: never).
        lease_duration: task lease seconds.
        child_timeout: seconds of heartbeat silence before a child is killed.
        redis_wait: seconds to wait for Redis at startup (0: forever).
        log_format: console or json.
        log_level: lowest level logged.
        scheduler: run the periodic-task scheduler in the maintenance process.
        scheduler_config: periodic entries file ("" for the app's entries only).
        sources: option name -> where its value came from (cli, env, config, default).
    """

    app: str
    redis_url: str
    processes: int
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    shutdown_timeout: float
    max_tasks_per_child: int
    max_memory_per_child: int
    lease_duration: float
    child_timeout: float
    redis_wait: float
    log_format: str
    log_level: str
    scheduler: bool = False
    scheduler_config: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def queues_text(self) -> str:
        """``critical=6 high=4`` as shown in the process title."""
        return " ".join(f"{q}={w}" for q, w in self.queues.items())


def resolve(
    cli: Mapping[str, Any],
    env: Mapping[str, str],
    config: Mapping[str, Any],
) -> WorkerOptions:
    """Merge the sources, highest first: CLI, environment, config file, default.

    Args:
        cli: values given on the command line (absent options are not in it).
        env: the environment (``FASTQ_*`` variables are read).
        config: values from the config file, by option name.

    Raises:
        InvalidOptionError: a value does not parse or APP is missing.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        source: str = "default"
        raw: Any = None
        for where, given in (
            ("cli", cli.get(opt.name)),
            ("env", env.get(opt.env) or None),
            ("config", config.get(opt.name)),
        ):
            if given is not None:
                source, raw = where, given
                break
        if raw is None:
            value = _cpu_count() if opt.name == "processes" else opt.default
            value = _queues(value) if opt.name == "queues" else value
        else:
            try:
                value = opt.parse(raw)
            except (ValueError, TypeError) as exc:
                named = {"cli": opt.cli, "env": opt.env, "config": f"config key {opt.name}"}
                raise InvalidOptionError(opt.name, f"{named[source]}: {exc}") from None
        values[opt.name] = value
        sources[opt.name] = source
    app = cli.get("app") or env.get(ENV_PREFIX + "APP") or config.get("app")
    if not app:
        raise InvalidOptionError("app", "APP is required (module:attribute of a fastq.App)")
    env_app = env.get(ENV_PREFIX + "APP")
    sources["app"] = "cli" if cli.get("app") else ("env" if env_app else "config")
    return WorkerOptions(app=str(app), sources=sources, **values)
