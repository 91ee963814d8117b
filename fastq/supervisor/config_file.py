"""The optional TOML config file of ``fastq-worker`` (``--config`` / ``FASTQ_CONFIG``).

Keys are the long option names, with ``-`` or ``_``, at the top level and/or inside a
``[worker]`` table (both are read; a key set in both places is an error)::

    app = "myproject.tasks:app"
    redis_url = "redis://redis.internal:6379/0"
    processes = 4
    concurrency = 20
    queues = { critical = 6, high = 4, default = 2, low = 1 }   # or "critical=6,…"
    shutdown_timeout = 25
    max_memory_per_child = "512MB"
    log_format = "json"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

from fastq.errors import ConfigError


def load_config_file(path: str | Path, known: set[str]) -> dict[str, Any]:
    """Read ``path`` and return ``{option name: value}`` with ``-`` turned into ``_``.

    Args:
        path: the TOML file.
        known: the option names the file may set; any other key is an error.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or sets an unknown key.
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc
    worker = data.pop("worker", {})
    if not isinstance(worker, dict):
        raise ConfigError(f"config file {str(path)!r}: [worker] must be a table")
    out: dict[str, Any] = {}
    for where, table in (("top level", data), ("[worker]", worker)):
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in known:
                choices = ", ".join(sorted(known))
                raise ConfigError(
                    f"config file {str(path)!r}: unknown key {key!r} in {where} (known: {choices})"
                )
            if name in out:
                raise ConfigError(
                    f"config file {str(path)!r}: {key!r} is set both at the top level "
                    "and in [worker]; keep one"
                )
            out[name] = value
    return out
