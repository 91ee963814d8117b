"""Periodic entries from a config file (TOML or YAML), re-read when it changes.

Like Asynq's PeriodicTaskManager with a config provider: the file lists entries;
the scheduler checks the file's stamp about once a second and on SIGHUP, and a
file that no longer parses keeps the entries that were running (and logs why).

TOML::

    time_zone = "Europe/Berlin"        # the scheduler's zone (optional)

    [[entries]]
    spec = "30 2 * * *"
    type = "report:nightly"
    payload = '{"kind": "full"}'       # a string (UTF-8) or a table (sent as JSON)
    queue = "low"
    timeout = "10m"
    missed = "last"                    # or "skip" (default)

YAML: the same keys, ``entries:`` a list of mappings.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from fastq.errors import ConfigError, InvalidOptionError
from fastq.scheduler.entry import Entry, make_entry
from fastq.scheduler.spec import parse_go_duration
from fastq.task import Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

log = structlog.get_logger("fastq.scheduler")

_DURATIONS = ("timeout", "unique", "retention", "process_in")
_OPTIONS = ("queue", "max_retry", "group", "headers", *_DURATIONS)
_KEYS = frozenset(("spec", "type", "payload", "time_zone", "missed", "id", *_OPTIONS))


def _duration(name: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_go_duration(value)
        except ValueError as exc:
            raise InvalidOptionError(name, str(exc)) from None
    raise InvalidOptionError(name, f"must be seconds or a duration such as 30s, got {value!r}")


def _payload(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_from_mapping(item: Any, source: str, tz: str | None) -> Entry:
    """One entry from a config table; ``tz`` is the file's ``time_zone``."""
    if not isinstance(item, dict):
        raise InvalidOptionError("entries", f"each entry must be a table, got {item!r}")
    unknown = set(item) - _KEYS
    if unknown:
        raise InvalidOptionError("entries", f"unknown keys {sorted(unknown)}")
    for required in ("spec", "type"):
        if not item.get(required):
            raise InvalidOptionError(required, "is required in every entry")
    options = {k: item[k] for k in _OPTIONS if k in item}
    for name in _DURATIONS:
        if name in options:
            options[name] = _duration(name, options[name])
    return make_entry(
        str(item["spec"]),
        Task(str(item["type"]), _payload(item.get("payload"))),
        tz=item.get("time_zone") or tz,
        missed=str(item.get("missed", "skip")),
        entry_id=item.get("id"),
        source=source,
        **options,
    )


def parse_config(text: str, path: str) -> tuple[list[Entry], str | None]:
    """Entries and the file's zone from TOML (``.toml``) or YAML text."""
    data: Any
    if path.endswith(".toml"):
        data = tomllib.loads(text)
    else:
        import yaml  # only a YAML config needs PyYAML

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidOptionError("entries", "the file must hold a table with an entries list")
    tz = data.get("time_zone")
    items = data.get("entries", [])
    if not isinstance(items, list):
        raise InvalidOptionError("entries", "must be a list of tables")
    return [entry_from_mapping(item, path, tz) for item in items], tz


class FileEntries:
    """Entries from ``path``, plus ``extra`` ones declared in code.

    Args:
        path: a ``.toml``, ``.yaml`` or ``.yml`` file.
        extra: entries from code (``App.entries``), always included.

    Raises ``ConfigError`` if the file cannot be read or parsed at first load.
    """

    def __init__(self, path: str | os.PathLike[str], extra: Sequence[Entry] = ()) -> None:
        self.path = Path(path)
        self.extra = list(extra)
        self.tz: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._entries = self._read()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read(self) -> list[Entry]:
        stamp = self._file_stamp()
        try:
            text = self.path.read_text(encoding="utf-8")
            entries, tz = parse_config(text, str(self.path))
        except (OSError, ValueError, InvalidOptionError) as exc:  # TOML/YAML errors too
            raise ConfigError(f"scheduler config {self.path}: {exc}") from exc
        self._stamp = stamp
        self.tz = tz
        return entries

    def changed(self) -> bool:
        """True once the file changed since the last successful read."""
        return self._file_stamp() != self._stamp

    def entries(self) -> list[Entry]:
        """Re-read the file if it changed; on a bad file keep the previous entries."""
        if self.changed():
            try:
                self._entries = self._read()
            except ConfigError as exc:
                self._stamp = self._file_stamp()  # do not retry the same bad file
                log.error("scheduler config not reloaded", error=str(exc))
        return [*self.extra, *self._entries]
