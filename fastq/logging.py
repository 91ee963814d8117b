"""Logging setup for fastq processes: structlog, console or JSON, to stderr.

Every line carries the pid (taken when the line is written, so it is right after a
fork) and whatever is bound in ``structlog.contextvars`` (the engine binds
``task_id`` while a handler runs). Both structlog loggers and stdlib ``logging``
loggers (``logging.getLogger("fastq...")``, third-party libraries) render the same
way. Secrets never reach the output: Redis URLs are redacted and values of keys
that look secret are masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from fastq.redact import redact_text

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_LOG_FORMAT = "console"
DEFAULT_LOG_LEVEL = "info"

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|credential|auth", re.IGNORECASE)


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if _SECRET_KEYS.search(key) and value:
            return "***"
        return redact_text(value)
    return value


def redact_secrets(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every string field (and the event)."""
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(key, value)
    return event_dict


def redact_rendered(logger: Any, method: str, line: Any) -> Any:
    """structlog processor after the renderer: mask URLs in the finished line, which
    also holds the formatted traceback and exception text the fields did not."""
    return redact_text(line) if isinstance(line, str) else line


def add_pid(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the pid at the time of the call (right after fork)."""
    event_dict.setdefault("pid", os.getpid())
    return event_dict


class _RedactingFilter(logging.Filter):
    """Masks URLs in stdlib records' formatted messages (e.g. redis-py's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
                record.args = None
            except (TypeError, ValueError):
                return True
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


def _not_a_maint_probe(record: logging.LogRecord) -> bool:
    """Drop redis-py's per-connection note that this server lacks CLIENT MAINT_NOTIFICATIONS.

    redis-py (7+) tries to enable maintenance notifications on every new connection
    and logs each refusal at debug level; fastq does not use them, and on Redis < 8
    the note drowns the debug log.
    """
    return not (
        record.name.startswith("redis.")
        and "maintenance notifications" in str(record.msg)
        and record.levelno <= logging.DEBUG
    )


def configure_logging(
    fmt: str = DEFAULT_LOG_FORMAT, level: str = DEFAULT_LOG_LEVEL, *, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to one handler on ``stream``.

    Args:
        fmt: ``console`` (human, colors when ``stream`` is a terminal) or ``json``
            (one object a line, for log shippers).
        level: the lowest level written: debug, info, warning, error or critical.
        stream: where lines go (default: ``sys.stderr``).
    """
    fmt, level = fmt.lower(), level.lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    stream = sys.stderr if stream is None else stream
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks: rich's show local variables, which may hold secrets.
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    handler = logging.StreamHandler(stream)
    handler.addFilter(_not_a_maint_probe)
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                redact_rendered,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def task_context(task_id: str, **fields: Any) -> contextlib.AbstractContextManager[None]:
    """Bind ``task_id`` (and ``fields``) to every log line written inside the block.

    The engine wraps each handler run in it, in the handler's own context (its
    asyncio task, or ``contextvars.copy_context().run`` for a thread), so lines
    from concurrent tasks never mix their ids.
    """
    return structlog.contextvars.bound_contextvars(task_id=task_id, **fields)


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (configured by ``configure_logging``)."""
    return structlog.stdlib.get_logger(name)
