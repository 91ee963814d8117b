"""OpenTelemetry tracing across the queue (``pip install fastq-asynq[otel]``).

- Producer: every enqueue puts the W3C ``traceparent`` (and ``tracestate``) of the
  current span into the task's headers (``with_trace``, called by ``fastq.task``).
  Nothing is added when no span is active.
- Worker: ``app.use(trace_tasks)`` runs every handler inside a span
  ``fastq.run <type>`` that continues the producer's trace, with the task's type,
  queue, id, retry count and outcome as attributes.

Without the extra, ``opentelemetry`` is never imported: ``with_trace`` returns the
headers unchanged and ``trace_tasks`` raises a clear error when used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Generator
from typing import Any

TRACER_NAME = "fastq"
_CARRIER_KEYS = ("traceparent", "tracestate")


def _available() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.propagate") is not None
    except (ImportError, ValueError):  # not installed, or blocked in sys.modules
        return False


AVAILABLE = _available()
_otel: Any = None  # (propagate, trace, Status, StatusCode, SpanKind, context) once loaded


def _load() -> Any:
    global _otel
    if _otel is None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        _otel = (propagate, trace, Status, StatusCode, SpanKind, context)
    return _otel


def with_trace(headers: dict[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus the current span's ``traceparent`` (a new dict), or
    ``headers`` itself when OpenTelemetry is absent or no span is active.

    Called for every task enqueued: with OpenTelemetry installed and no span active it
    costs one context lookup.

    Args:
        headers: the task's headers (None: none); never modified.
    """
    if not AVAILABLE:
        return headers
    otel = _otel or _load()
    ctx = otel[5].get_current()
    if not ctx:  # an empty context holds no span: the usual case, two calls cheaper
        return headers
    propagate, trace = otel[0], otel[1]
    span = trace.get_current_span(ctx)
    if span is trace.INVALID_SPAN or not span.get_span_context().is_valid:
        return headers
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return headers
    return {**(headers or {}), **{k: v for k, v in carrier.items() if k in _CARRIER_KEYS}}


def trace_tasks(task: Any, ctx: Any) -> Generator[None, None, None]:
    """Middleware: run the handler in a span continuing the producer's trace.

    Use it with ``app.use(trace_tasks)``. Attributes: ``fastq.task.type``,
    ``fastq.task.queue``, ``fastq.task.id``, ``fastq.task.retried``,
    ``fastq.task.outcome`` (``succeeded`` or ``failed``); a failure also records the
    exception and sets the span status to error.

    Args:
        task: the ``IncomingTask`` being run (typed loosely: fastq.app imports
            fastq.task, which imports this module).
        ctx: its ``Context``.
    """
    if not AVAILABLE:
        raise RuntimeError("trace_tasks needs OpenTelemetry: pip install 'fastq-asynq[otel]'")
    propagate, trace, status_cls, status_code, span_kind, _ = _load()
    parent = propagate.extract({k: v for k, v in task.headers.items() if k in _CARRIER_KEYS})
    tracer = trace.get_tracer(TRACER_NAME)
    attrs = {
        "fastq.task.type": task.type,
        "fastq.task.queue": ctx.queue,
        "fastq.task.id": task.id,
        "fastq.task.retried": task.retry_count,
        "messaging.system": "fastq",
        "messaging.operation": "process",
    }
    with tracer.start_as_current_span(
        f"fastq.run {task.type}",
        context=parent,
        kind=span_kind.CONSUMER,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except BaseException as exc:
            span.set_attribute("fastq.task.outcome", "failed")
            span.record_exception(exc)
            span.set_status(status_cls(status_code.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        span.set_attribute("fastq.task.outcome", "succeeded")
