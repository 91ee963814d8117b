"""Enqueue options: validation, normalization, merging, and Asynq's defaults.

Every check runs before anything touches Redis and raises ``InvalidOptionError``
naming the option. Durations are seconds (int or float) or ``datetime.timedelta``;
instants (``deadline``, ``process_at``) are unix seconds or ``datetime``, and a
naive datetime is read as UTC (never as local time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from fastq.config import (
    DEFAULT_MAX_RETRY,
    DEFAULT_QUEUE,
    DEFAULT_TIMEOUT,
    MAX_QUEUE_NAME_LENGTH,
)
from fastq.errors import InvalidOptionError

_INT32_MAX = 2**31 - 1  # TaskMessage.retry is an int32

OPTION_NAMES = (
    "queue",
    "max_retry",
    "timeout",
    "deadline",
    "process_in",
    "process_at",
    "unique",
    "task_id",
    "retention",
    "group",
    "headers",
)
OPTION_SET = frozenset(OPTION_NAMES)


def _is_number(value: object) -> bool:
    # bool is an int subclass; True as a timeout is a bug, not one second.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(name: str, value: object) -> float:
    if isinstance(value, timedelta):
        secs = value.total_seconds()
    elif _is_number(value):
        secs = float(value)  # type: ignore[arg-type]
    else:
        raise InvalidOptionError(
            name, f"must be seconds (int or float) or a timedelta, got {type(value).__name__}"
        )
    if not math.isfinite(secs) or secs < 0:
        raise InvalidOptionError(name, f"must be a finite duration >= 0, got {value!r}")
    return secs


def _instant(name: str, value: object) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # naive means UTC, documented
        ts = value.timestamp()
    elif _is_number(value):
        ts = float(value)  # type: ignore[arg-type]
    else:
        raise InvalidOptionError(
            name, f"must be a datetime or unix seconds, got {type(value).__name__}"
        )
    if not math.isfinite(ts) or ts <= 0:
        raise InvalidOptionError(name, f"must be a time after 1970-01-01, got {value!r}")
    return ts


def _utf8(name: str, value: str) -> str:
    # Every string ends up UTF-8 in Redis: a lone surrogate cannot get there.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidOptionError(
            name, f"must be valid Unicode text (lone surrogate at index {exc.start}): {value!r}"
        ) from None
    return value


def non_blank(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidOptionError(name, f"must be a str, got {type(value).__name__}")
    if not value.strip():
        raise InvalidOptionError(name, "must contain a non-space character")
    if type(value) is not str:  # a str subclass: the plain text (the codec takes exact str)
        value = str.__str__(value)
    return _utf8(name, value)


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it can be a queue name, else raise ``InvalidOptionError``.

    Braces are refused because the name sits inside the Redis Cluster hash tag
    ``{<queue>}`` of every per-queue key; a brace would move the tag.
    """
    queue = non_blank("queue", name)
    if "{" in queue or "}" in queue:
        raise InvalidOptionError("queue", f"must not contain '{{' or '}}': {queue!r}")
    if not queue.isprintable():
        raise InvalidOptionError("queue", f"must not contain control characters: {queue!r}")
    if len(queue) > MAX_QUEUE_NAME_LENGTH:
        raise InvalidOptionError(
            "queue", f"is {len(queue)} characters long, over the limit of {MAX_QUEUE_NAME_LENGTH}"
        )
    return queue


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidOptionError("headers", f"must be a mapping, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidOptionError("headers", f"keys and values must be str, got {k!r}: {v!r}")
        _utf8("headers", k)
        _utf8("headers", v)
    return dict(value)


def check_option(name: str, value: Any) -> Any:
    """Validate one option and return its normalized value."""
    if name == "queue":
        return validate_queue_name(value)
    if name == "max_retry":
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidOptionError(name, f"must be an int, got {type(value).__name__}")
        if not 0 <= value <= _INT32_MAX:
            raise InvalidOptionError(name, f"must be between 0 and {_INT32_MAX}, got {value}")
        return value
    if name == "timeout":
        secs = _seconds(name, value)
        # The message holds whole seconds; 0 < t < 1 would silently mean "no timeout".
        if 0 < secs < 1:
            raise InvalidOptionError(name, f"must be 0 (unset) or at least 1 second, got {value!r}")
        return int(secs)
    if name == "deadline":
        return int(_instant(name, value))
    if name == "process_at":
        return _instant(name, value)
    if name == "process_in":
        return _seconds(name, value)
    if name == "unique":
        secs = _seconds(name, value)
        if secs < 1:
            raise InvalidOptionError(name, f"the lock TTL must be at least 1 second, got {value!r}")
        return secs
    if name == "task_id":
        return non_blank(name, value)
    if name == "retention":
        return int(_seconds(name, value))
    if name == "group":
        return non_blank(name, value)
    if name == "headers":
        return _headers(value)
    raise InvalidOptionError(name, f"unknown option; valid options are: {', '.join(OPTION_NAMES)}")


def normalize_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate options and return them normalized; ``None`` values count as not given.

    Durations become seconds (``timeout`` and ``retention`` whole seconds, as the
    message stores them), ``deadline`` whole unix seconds, ``process_at`` unix
    seconds. Raises ``InvalidOptionError`` naming the first bad option.
    """
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in OPTION_SET:
            check_option(name, value)  # raises, listing the valid names
        if value is not None:
            out[name] = check_option(name, value)
    if "process_at" in out and "process_in" in out:
        raise InvalidOptionError("process_at", "give process_at or process_in, not both")
    return out


def merge_options(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Options given at enqueue time win over the task's; both must be normalized.

    process_at and process_in are one setting (when to run): either one given at
    enqueue time replaces either one set on the task.
    """
    merged = dict(defaults)
    if "process_at" in overrides or "process_in" in overrides:
        merged.pop("process_at", None)
        merged.pop("process_in", None)
    merged.update(overrides)
    return merged


def check_payload(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):  # a bytes subclass: its bytes
        return bytes(value)
    hint = "; use Task.json(...) for JSON" if isinstance(value, (str, dict, list)) else ""
    raise InvalidOptionError("payload", f"must be bytes, got {type(value).__name__}{hint}")


class Resolved(NamedTuple):
    """Options with Asynq's defaults applied, in the order ``prepare`` unpacks them."""

    queue: str
    max_retry: int
    timeout: int
    deadline: int
    retention: int
    group: str
    headers: dict[str, str] | None
    unique: float  # 0: not unique
    task_id: str | None
    process_at: float | None
    process_in: float


def resolve(opts: Mapping[str, Any]) -> Resolved:
    timeout = opts.get("timeout", 0)
    deadline = opts.get("deadline", 0)
    if not timeout and not deadline:
        timeout = DEFAULT_TIMEOUT  # Asynq: neither given means the default timeout
    return Resolved(
        opts.get("queue", DEFAULT_QUEUE),
        opts.get("max_retry", DEFAULT_MAX_RETRY),
        timeout,
        deadline,
        opts.get("retention", 0),
        opts.get("group", ""),
        opts.get("headers"),
        opts.get("unique", 0.0),
        opts.get("task_id"),
        opts.get("process_at"),
        opts.get("process_in", 0.0),
    )


DEFAULTS = resolve({})  # what a task with no options resolves to


RETENTION_ENV = "FASTQ_RETENTION_MINUTES"
RETENTION_ENV_ALIAS = "ASYNQ_RETENTION_MINUTES"  # the Asynq guide's name, honoured as an alias


def retention_from_env(environ: Mapping[str, str]) -> int | None:
    """The clients' default retention in seconds, from the environment; None: no default.

    Args:
        environ: the environment to read (``os.environ``). ``FASTQ_RETENTION_MINUTES``
            wins; ``ASYNQ_RETENTION_MINUTES`` is read only when it is unset or empty.
            The value is minutes (``30``, ``0.5``); ``0`` disables the default.

    Raises ``InvalidOptionError`` naming the variable when the value is not a
    finite number of minutes >= 0.
    """
    name = RETENTION_ENV if environ.get(RETENTION_ENV, "").strip() else RETENTION_ENV_ALIAS
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        minutes = float(raw)
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes < 0:
        raise InvalidOptionError(name, f"must be a number of minutes >= 0, got {raw!r}")
    return int(minutes * 60) or None
